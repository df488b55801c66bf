"""TabularMixture: latent class / latent profile models over tables of mixed column kinds.

The model and its M-step are described in ``fastem.families.tabular``; how a
table becomes the kernel's matrix in ``fastem._tables``; the input (schema,
encoding, Parquet and Dask DataFrames) in ``fastem._tabular_input``; the
k-means start in ``fastem._tabular_init``.
"""

import copy
import json
from numbers import Real

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._compat import Interval, StrOptions
from ._init import initial_stats
from ._mixture import Mixture
from ._params import check_weights, fill_shared_doc, fitted_array
from ._table_columns import _pandas
from ._tables import KINDS
from ._tabular_init import embedding_initial_stats
from ._tabular_input import TabularInputMixin, _is_dask_dataframe
from .families.tabular import TabularFamily, TabularParams


@fill_shared_doc
class TabularMixture(TabularInputMixin, Mixture):
    """Mixture over tables of mixed column kinds (latent class / latent profile analysis).

    Within a component (a latent class) the columns are independent, each
    with the distribution of its kind:

    - ``"gaussian"``: continuous, normal with a mean and variance per class
      (``covariance_type="diag"``), or all gaussian columns together one
      multivariate normal with a full covariance per class
      (``covariance_type="full"``);
    - ``"bernoulli"``: two values (bool, 0/1 or any two labels; the second
      label, in sorted order, is the "success" whose probability is fitted);
    - ``"categorical"``: ``L`` levels, a probability per level and class; held
      as integer codes and scored by a lookup, never one-hot;
    - ``"poisson"``: non-negative integer counts, a rate per class.

    Missing cells (NaN, None, ``pd.NA``, a missing category) are marginalised
    exactly: a row's likelihood is the product over its observed cells (full
    information maximum likelihood, missing at random), and each column's
    parameters are estimated from the rows observing it.

    Parameters
    ----------
    n_components : int, default=1
        Number of classes.
    column_types : "auto", dict or list, default="auto"
        The kind of every column. ``"auto"`` infers it from the dtypes: float
        columns are gaussian; bool columns bernoulli; category, object and
        string columns categorical (levels in the order of a pandas
        category, otherwise sorted); integer columns holding only 0 and 1, or
        exactly two distinct values, bernoulli; other non-negative integer
        columns poisson (counts); integer columns with a negative value
        gaussian. A dict ``{column: kind}`` overrides the inference for the
        columns it names; a list gives every column's kind in order (NumPy
        input: columns are named 0, 1, ...). A float NumPy array under
        ``"auto"`` is all gaussian. Also accepted as the JSON text of such a
        dict or list (how saved models keep it).
    covariance_type : {"diag", "full"}, default="diag"
        "diag": gaussian columns are independent within a class. "full": they
        are one block with a full covariance per class (latent profile
        models with correlated indicators); a row's missing gaussian cells
        are marginalised exactly (the marginal density of its observed cells;
        conditional expectations in the M-step). The block's densities and
        statistics take an (n, K) array per chunk (bounded by ``chunk_size``)
        and a NumPy loop over the missingness patterns of its columns.
    handle_unknown : {"error", "missing"}, default="error"
        A bernoulli or categorical value not seen in ``fit``, at prediction:
        a ``ValueError`` naming the column, or a missing cell.
    reg_covar : float, default=1e-6
        Added to every gaussian variance.
    alpha : float, default=1e-10
        Smoothing of the bernoulli and categorical probabilities (a pseudo-count
        per level and class); the default only keeps them inside (0, 1).
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        First responsibilities. 'kmeans': k-means (scikit-learn's, on at most
        ``settings.seeding_sample_rows`` sampled rows) on an embedding of the
        rows where every kind counts alike: gaussian columns and ``log(1 + x)``
        of counts standardised, bernoulli 0/1, categorical one-hot scaled by
        ``1/sqrt(2)`` (two different levels are at distance 1), missing cells
        at the centre; then every row goes to its nearest centre.
        'k-means++': the k-means++ seeds on that embedding alone. 'random':
        uniform random responsibilities (StepMix's and poLCA's default kind
        of start). 'random_from_data': random rows as seeds (scikit-learn's
        draw; gaussian variances start at ``reg_covar``).
    weights_init : array-like of shape (n_components,), default=None
        Initial weights.
    means_init : array-like of shape (n_components, n_gaussian), default=None
        Initial means of the gaussian columns.
    %(shared_parameters)s

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    column_types_ : dict
        The kind of every column, as fitted.
    means_, variances_ : ndarray of shape (n_components, n_gaussian)
        Gaussian columns, in input order (``variances_`` the diagonals of
        ``covariances_`` for "full").
    covariances_ : ndarray
        (n_components, n_gaussian, n_gaussian) for "full"; for "diag" the
        same as ``variances_`` (scikit-learn's convention).
    probs_ : ndarray of shape (n_components, n_bernoulli)
        Probability of the second label of every bernoulli column.
    level_probs_ : ndarray of shape (n_components, total levels)
        Categorical columns one after another (see :meth:`describe`).
    rates_ : ndarray of shape (n_components, n_poisson)
    profiles_ : pandas.DataFrame
        :meth:`describe`.
    converged_ : bool
        Whether the best initialisation converged.
    n_iter_ : int
        EM iterations of the best initialisation.
    lower_bound_ : float
        Mean log-likelihood per sample of the best initialisation.
    lower_bounds_ : list of float
        Mean log-likelihood at each iteration of the best initialisation.
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the columns, when ``X`` had string column names.

    Notes
    -----
    Input: pandas DataFrames, polars and pyarrow tables, NumPy arrays, a
    Parquet file or directory path (read by batches with pyarrow: exact EM over
    the batches in bounded memory; one more pass first collects the levels)
    and Dask DataFrames (the kernel runs on the partitions; ``predict``,
    ``predict_proba`` and ``score_samples`` give lazy Dask arrays with one
    block per partition, of unknown length). ``sample`` returns
    a DataFrame with the fitted columns' names, dtypes and categories (a float
    array for models fitted on NumPy arrays).
    """

    _parameter_constraints: dict = {
        **Mixture._parameter_constraints,
        "column_types": [str, dict, list, tuple],
        "covariance_type": [StrOptions({"diag", "full"})],
        "handle_unknown": [StrOptions({"error", "missing"})],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "alpha": [Interval(Real, 0.0, None, closed="left")],
    }
    _family_class = TabularFamily
    # Restarts start from k-means on the table's embedding (_initial_stats below).
    _shared_initialisation = False
    _attributes_for_fitted = ("weights_", "column_schema_")
    _allow_nan = True

    def __init__(
        self,
        n_components=1,
        *,
        column_types="auto",
        covariance_type="diag",
        handle_unknown="error",
        tol=1e-3,
        reg_covar=1e-6,
        alpha=1e-10,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_jobs=None,
        chunk_size=None,
        decay=0.7,
        progress=False,
        callback=None,
    ):
        super().__init__(
            n_components,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            weights_init=weights_init,
            means_init=means_init,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
            n_jobs=n_jobs,
            chunk_size=chunk_size,
            decay=decay,
            progress=progress,
            callback=callback,
        )
        self.column_types = column_types
        self.covariance_type = covariance_type
        self.handle_unknown = handle_unknown
        self.reg_covar = reg_covar
        self.alpha = alpha

    @property
    def column_types_(self):
        """The kind of every column, ``{name: kind}`` in input order."""
        schema = self._schema
        return dict(zip(schema.names, schema.kinds, strict=True))

    # -- hooks of Mixture -----------------------------------------------------------------
    def _reg(self):
        return (float(self.reg_covar), float(self.alpha))

    def _make_family(self, n_features, dtype=np.float64, shift=None, missing=None):
        schema = self._schema
        n_kind = [schema.n_kind[k] for k in KINDS]
        return TabularFamily(
            self.n_components,
            n_features,
            dtype,
            shift,
            n_kind,
            schema.n_levels,
            self.covariance_type,
        )

    def _check_init_parameters(self, n_features, dtype):
        K = self.n_components
        self._weights_init = (
            None if self.weights_init is None else check_weights(self.weights_init, K)
        )
        self._means_init = None
        if self.means_init is not None:
            nG = self._schema.n_kind["gaussian"]
            means = np.asarray(self.means_init, dtype=np.float64)
            if means.shape != (K, nG):
                raise ValueError(
                    f"The parameter 'means' should have the shape of {(K, nG)} (one mean per "
                    f"component and gaussian column), but got {means.shape}"
                )
            self._means_init = means

    def _initial_stats(self, family, source, random_state):
        if self.init_params in ("random", "random_from_data"):
            return initial_stats(family, source, self.init_params, random_state)
        return embedding_initial_stats(
            family, source, self.init_params, self.n_components, random_state
        )

    def _initial_params(self, family, source, random_state):
        params = family.m_step(self._initial_stats(family, source, random_state), self._reg())
        if self._weights_init is not None:
            params.weights = self._weights_init.copy()
        if self._means_init is not None:
            params.means = self._means_init.T.copy()
        return params

    def _params_to_attributes(self, params, dtype):
        self.weights_ = np.asarray(params.weights, dtype=np.float64)
        self.means_ = np.ascontiguousarray(params.means.T)
        self.variances_ = np.ascontiguousarray(params.variances.T)
        self.probs_ = np.ascontiguousarray(params.probs.T)
        self.level_probs_ = np.ascontiguousarray(params.level_probs.T)
        self.rates_ = np.ascontiguousarray(params.rates.T)
        if params.covariances is None:
            self.covariances_ = self.variances_.copy()
        else:
            self.covariances_ = np.array(params.covariances, dtype=np.float64)

    def _params_from_attributes(self):
        def t(name):
            return fitted_array(np.asarray(getattr(self, name), dtype=np.float64).T)

        covariances, variances = None, t("variances_")
        full = np.ndim(getattr(self, "covariances_", None)) == 3
        if full:
            covariances = np.array(self.covariances_, dtype=np.float64)
            variances = np.ascontiguousarray(np.diagonal(covariances, axis1=1, axis2=2).T)
        return TabularParams(
            fitted_array(self.weights_),
            t("means_"),
            variances,
            t("probs_"),
            t("level_probs_"),
            t("rates_"),
            covariances,
        )

    @staticmethod
    def _output_dtype(X):
        return np.float64

    def _rowwise(self, X, method, n_columns, dtype):
        check_is_fitted(self, self._attributes_for_fitted)
        if _is_dask_dataframe(X):
            from .dask import dask_frame_map, dask_frame_meta

            # The meta holds the columns and dtypes: a table that changed since fit
            # fails here, with the pandas message, not later on a worker.
            self._validate_X(dask_frame_meta(X), reset=False)
            single = copy.copy(self)
            single.n_jobs = 1
            return dask_frame_map(X, getattr(single, method), n_columns, dtype)
        return super()._rowwise(X, method, n_columns, dtype)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted mean with ``sample_weight``).

        Without weights this is exactly ``score_samples(X).mean()``, as in
        scikit-learn. On a Dask DataFrame the mean is reduced where the
        partitions live; with weights the per-row log-likelihoods are gathered
        to the client (one float per row, like the weights).

        Parameters
        ----------
        X : table, array-like or any input accepted by :meth:`predict`
            Data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the mean (may be a Dask array or Series).

        Returns
        -------
        log_likelihood : float
            Mean log-likelihood of ``X`` under the model.
        """
        if sample_weight is None or not _is_dask_dataframe(X):
            return super().score(X, y, sample_weight)
        import dask

        if hasattr(sample_weight, "to_dask_array"):  # a Dask Series: compute with the array
            sample_weight = sample_weight.to_dask_array()
        log_prob, weights = dask.compute(self.score_samples(X), sample_weight)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != log_prob.shape:
            raise ValueError(
                f"sample_weight must be 1-D with one weight per row: expected "
                f"{log_prob.shape[0]}, got shape {weights.shape}."
            )
        return float(np.average(log_prob, weights=weights))

    def _score_and_rows(self, X):
        if not _is_dask_dataframe(X):
            return super()._score_and_rows(X)
        from .dask import mean_and_rows

        # The partitions' lengths are unknown until computed: both in one pass.
        return mean_and_rows(self.score_samples(X))

    def _n_parameters(self):
        check_is_fitted(self, self._attributes_for_fitted)
        return self._make_family(len(self._schema.columns)).n_parameters()

    # -- results ----------------------------------------------------------------------------
    def describe(self):
        """The class profiles: a DataFrame with one row per column statistic, one column per class.

        Rows are indexed by ``(column, statistic)``: ``mean`` and ``std`` of a
        gaussian column, ``P(level)`` for every level of a categorical or
        bernoulli column, ``rate`` of a poisson column; the first row,
        ``("weight", "")``, holds the class weights.

        Returns
        -------
        profiles : pandas.DataFrame
            Indexed by ``(column, statistic)``, one column per class.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        pd = _pandas()
        schema = self._schema
        params = self._params_from_attributes()
        position = {int(j): p for p, j in enumerate(schema.order)}
        nG, nB, nC = (schema.n_kind[k] for k in ("gaussian", "bernoulli", "categorical"))
        offsets = np.concatenate([[0], np.cumsum(schema.n_levels)])
        index, rows = [("weight", "")], [params.weights]
        for j, column in enumerate(schema.columns):
            p = position[j]
            if column.kind == "gaussian":
                index += [(column.name, "mean"), (column.name, "std")]
                rows += [params.means[p], np.sqrt(params.variances[p])]
            elif column.kind == "bernoulli":
                mu = params.probs[p - nG]
                index += [
                    (column.name, f"P({column.levels[0]})"),
                    (column.name, f"P({column.levels[1]})"),
                ]
                rows += [1.0 - mu, mu]
            elif column.kind == "categorical":
                c = p - nG - nB
                for level, r in zip(column.levels, range(offsets[c], offsets[c + 1]), strict=True):
                    index.append((column.name, f"P({level})"))
                    rows.append(params.level_probs[r])
            else:
                index.append((column.name, "rate"))
                rows.append(params.rates[p - nG - nB - nC])
        return pd.DataFrame(
            np.vstack(rows),
            index=pd.MultiIndex.from_tuples(index, names=["column", "statistic"]),
            columns=[f"class {k}" for k in range(self.n_components)],
        )

    @property
    def profiles_(self):
        """:meth:`describe` (the class profiles as a DataFrame)."""
        return self.describe()

    def sample(self, n_samples=1):
        """Draw random rows from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : pandas.DataFrame or ndarray of shape (n_samples, n_features)
            A DataFrame with the fitted columns' names, dtypes and categories
            (a float64 array with level values for a model fitted on NumPy
            input), grouped by component.
        y : ndarray of shape (n_samples,)
            The component each row was drawn from.
        """
        rows, labels = self._draw(n_samples)
        return self._schema.decode(rows), labels

    def _sampling_family(self, params):
        return self._make_family(len(self._schema.columns))

    def save(self, path):
        """Save the mixture to a portable ``.npz`` file; read it back with :func:`fastem.load`.

        A dict or list ``column_types`` is stored as its JSON text.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, written exactly as named.
        """
        types = self.column_types
        if not isinstance(types, str):
            self.column_types = json.dumps(types if isinstance(types, dict) else list(types))
        try:
            super().save(path)
        finally:
            self.column_types = types


__all__ = ["TabularMixture"]
