"""BernoulliMixture: mixtures of multivariate Bernoulli distributions for binary data.

The model and its M-step are described in ``fastem.families.bernoulli``.
"""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from ._compat import Interval
from ._mixture import Mixture
from ._params import check_weights, fill_shared_doc
from ._threads import kernel_threads
from .families.bernoulli import BernoulliFamily, BernoulliParams
from .families.binary import binary_csr, dense_binary_rows, missing_columns


def _check_observed(rows):
    """Refuse training rows with a column (or every value) missing throughout."""
    empty = missing_columns(rows)
    if empty.size == rows.shape[1]:
        raise ValueError("Input X has no observed value: every entry is NaN.")
    if empty.size:
        shown = ", ".join(str(j) for j in empty[:10]) + (" ..." if empty.size > 10 else "")
        raise ValueError(
            f"Input X has {empty.size} column{'s' if empty.size > 1 else ''} with no observed "
            f"value (every entry NaN): column{'s' if empty.size > 1 else ''} {shown}. Drop "
            "them: a feature never observed has no probability to estimate."
        )


def _check_means(means, n_components, n_features):
    means = np.asarray(means, dtype=np.float64)
    if means.shape != (n_components, n_features):
        raise ValueError(
            f"The parameter 'means' should have the shape of {(n_components, n_features)}, "
            f"but got {means.shape}"
        )
    if not np.all((means > 0.0) & (means < 1.0)):
        raise ValueError(
            "The parameter 'means' holds Bernoulli probabilities and must lie strictly "
            f"between 0 and 1, but got min {np.min(means)!r}, max {np.max(means)!r}."
        )
    return means


@fill_shared_doc
class BernoulliMixture(Mixture):
    """Mixture of multivariate Bernoulli distributions for binary data, fitted by EM.

    Component k gives a binary row ``x`` the probability
    ``prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d)``. Rows may be dense arrays (bool,
    integer or float) or scipy sparse matrices (CSR and CSC; other formats are
    converted to CSR), whose fit costs time proportional to the number of ones
    and never densifies the data. Like :class:`sklearn.naive_bayes.BernoulliNB`,
    the estimator binarises its input with the threshold ``binarize`` (values
    above 0 are ones by default); ``binarize=None`` takes the data as already
    binary and refuses any value other than 0 and 1.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    alpha : float, default=1e-10
        Non-negative smoothing of the probabilities toward 0.5: the M-step is
        the mode of the posterior under a Beta(alpha + 1, alpha + 1) prior,
        ``mu_kd = (S_kd + alpha) / (N_k + 2 alpha)`` with ``N_k`` the
        component's (weighted) size and ``S_kd`` its number of ones in feature
        d. It acts like ``alpha`` extra ones and ``alpha`` extra zeros per
        component and feature; the default is a negligible mass that only keeps
        every probability inside (0, 1). Larger values (0.5 to 1) are
        Laplace-style smoothing for small or sparse data. ``alpha=0`` is the
        plain maximum-likelihood M-step ``mu_kd = S_kd / N_k``: ``means_`` may
        then hold exact 0 and 1, and a row with a feature of probability 0 is
        impossible under that component (see Notes). A component that becomes
        empty (``N_k = 0``) gets weight 0 and probabilities 0.5 (the limit of
        any ``alpha > 0``), whatever ``alpha``.
    binarize : float or None, default=0.0
        Threshold for binarising the input (NaN stays a missing value) of every method (``fit``,
        ``partial_fit``, ``predict``, ``predict_proba``, ``score_samples``,
        ``score``, ``bic``, ``aic``, and every chunk of an out-of-core source):
        values strictly above it become 1, all others 0, as in
        :class:`sklearn.naive_bayes.BernoulliNB`. Dense rows are thresholded
        straight into the one-byte rows the kernels read (no float copy);
        sparse matrices have their stored values thresholded, so a negative
        threshold, which would turn every implicit zero into a one, raises a
        ``ValueError`` for sparse input. If None, the input must already be
        binary (only 0 and 1, or bool) and any other value raises a
        ``ValueError``.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the first responsibilities are chosen. 'kmeans': weighted k-means
        (k-means++ seeds, then Lloyd iterations, run on the EM kernels, so also
        on sparse rows without densifying); 'k-means++': the seeds alone;
        'random': uniform random responsibilities; 'random_from_data': random
        rows as seeds. Seeds give components concentrated on their rows
        (probabilities within ``alpha`` of 0 and 1).
    weights_init : array-like of shape (n_components,), default=None
        Initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial probabilities, strictly between 0 and 1 (also with ``alpha=0``,
        as scikit-learn requires proper initial parameters; EM may then reach 0
        and 1).
    %(shared_parameters)s

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture weights, float64.
    means_ : ndarray of shape (n_components, n_features)
        Probability of a 1 in every feature for every component, float64
        whatever the input dtype (binary input is exact in any dtype and the
        statistics are float64, so float32 and float64 input give the same fit).
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per sample of the best initialisation.
    lower_bounds_ : list of float
        Mean log-likelihood at each iteration of the best initialisation.
    n_features_in_ : int

    See Also
    --------
    fastem.GaussianMixture : The same estimator for continuous data.

    Notes
    -----
    Missing values: NaN entries of dense input (in every method, and in the
    chunks of out-of-core and Dask sources) are missing values, marginalised
    under the assumption that they are missing at random: a row's likelihood
    is the product over its observed features, and ``mu_kd`` is estimated
    from the rows where feature d is observed,
    ``mu_kd = (S_kd + alpha) / (O_kd + 2 alpha)`` with ``O_kd`` the weighted
    responsibility of component k over those rows. A row with every value
    missing gets the weights as its responsibilities. A column (or data) with
    no observed value is a ``ValueError``, as is NaN in a sparse matrix, whose
    implicit entries are zeros, not unknowns. Data without NaN is fitted
    exactly as before (the same kernels on the same rows). Missing entries are
    held in the same uint8 rows as the code 2.

    Dense rows are held as uint8 (a view of a bool array, otherwise one copy
    of one byte per entry) and processed in blocks, widened to float64, by two
    matrix products (scores ``X_b @ log_odds``, statistics ``X_b^T @ R_b``),
    so an iteration runs at matrix-multiply speed; CSR rows add the log-odds
    of their nonzero columns.
    CSR row offsets are widened to int64 (no overflow beyond 2^31 ones); column
    indices are read in their own dtype, so a CSR matrix is not copied.

    With ``alpha=0`` probabilities of exactly 0 and 1 describe events that
    cannot occur. The kernels need finite parameters (a row is scored as
    ``x @ log_odds + log_complement``, and ``0 * inf`` is NaN), so the
    logarithms they get are clamped at ``log(tiny) ~ -708.4``: during EM an
    impossible feature counts as a probability of ``2.2e-308``, which gives
    such a row a responsibility of (essentially) 0 for the component and
    changes the log-likelihood of possible rows by round-off only (about
    ``1e-13`` per clamped feature). ``score_samples``, ``score``, ``bic`` and
    ``aic`` are exact: a row impossible under a component has log-density
    ``-inf`` for it, and ``score_samples`` is ``-inf`` for a row impossible
    under every component. ``predict_proba`` gives probability 0 to the
    components under which a row is impossible; for a row impossible under
    every component (whose posterior is 0/0) it and ``predict`` fall back to
    the clamped log-densities, i.e. favour the components that rule the row
    out by the fewest features. Training rows are never impossible under every
    component (EM keeps each row possible where it has responsibility), so
    the lower bounds of a fit stay finite. With ``alpha > 0`` no probability
    is 0 or 1 and values in ``means_`` that round to 0 or 1 are read as the
    nearest float64 inside (0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BernoulliMixture
    >>> X = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0],
    ...               [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=bool)
    >>> bm = BernoulliMixture(n_components=2, random_state=0).fit(X)
    >>> bm.predict(X).tolist() in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])
    True
    """

    _parameter_constraints: dict = {
        **Mixture._parameter_constraints,
        "alpha": [Interval(Real, 0.0, None, closed="left")],
        "binarize": [Interval(Real, None, None, closed="neither"), None],
    }
    _family_class = BernoulliFamily
    _attributes_for_fitted = ("weights_", "means_")
    #: NaN in dense input is a missing value, marginalised (see Notes).
    _allow_nan = True

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-3,
        alpha=1e-10,
        binarize=0.0,
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
        self.alpha = alpha
        self.binarize = binarize

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # Without a threshold the data must be binary, hence non-negative
        # (scikit-learn has no "binary only" tag).
        tags.input_tags.positive_only = self.binarize is None
        tags.input_tags.allow_nan = True
        return tags

    # -- hooks of Mixture ------------------------------------------------------------------
    def _reg(self):
        return self.alpha

    def _make_family(self, n_features, dtype=np.float64, shift=None, missing=None):
        return BernoulliFamily(self.n_components, n_features, dtype, shift)

    def _validate_X(self, X, reset):
        X = validate_data(
            self,
            X,
            accept_sparse=True,
            dtype="numeric",
            ensure_min_samples=2 if reset else 1,
            reset=reset,
            ensure_all_finite="allow-nan",
        )
        if reset:
            # sample() returns rows in the user's dtype, not the kernels' (uint8 for bool).
            self._sample_dtype = X.dtype
        if sp.issparse(X):
            return binary_csr(X, self.binarize)
        rows = dense_binary_rows(X, self.binarize, allow_nan=True)
        if reset:
            _check_observed(rows)
        return rows

    def _check_chunk(self, rows):
        """Validate one chunk of an out-of-core source into uint8 0/1 rows (``binarize``)."""
        if sp.issparse(rows):
            raise ValueError(
                "Chunks of an out-of-core source must be dense arrays; pass a sparse "
                "matrix to fit() directly (it is never densified)."
            )
        rows = np.asarray(rows)
        if rows.ndim != 2:
            raise ValueError(f"Every chunk must be a 2-D array of rows, got shape {rows.shape}.")
        if rows.dtype != np.bool_ and not np.issubdtype(rows.dtype, np.number):
            raise ValueError(f"Rows must be numeric or boolean, got dtype {rows.dtype}.")
        if rows.dtype.kind == "f" and np.any(np.isinf(rows)):
            raise ValueError("Input X contains infinity.")
        self._sample_dtype = rows.dtype
        return dense_binary_rows(rows, self.binarize, allow_nan=True)

    def _check_init_parameters(self, n_features, dtype):
        if not np.isfinite(self.alpha):
            raise ValueError(f"alpha must be a finite non-negative number, got {self.alpha}.")
        K = self.n_components
        self._weights_init = (
            None if self.weights_init is None else check_weights(self.weights_init, K)
        )
        self._means_init = (
            None if self.means_init is None else _check_means(self.means_init, K, n_features)
        )

    def _initial_params(self, family, source, random_state):
        if self._weights_init is None or self._means_init is None:
            params = family.m_step(self._initial_stats(family, source, random_state), self.alpha)
            if self._weights_init is None and self._means_init is None:
                return params
            weights, means = params.weights, params.means
        if self._weights_init is not None:
            weights = self._weights_init
        if self._means_init is not None:
            means = self._means_init
        return BernoulliParams.from_means(weights.copy(), means.copy(), exact=self.alpha == 0)

    def _params_to_attributes(self, params, dtype):
        self.weights_ = np.asarray(params.weights, dtype=np.float64)
        self.means_ = np.asarray(params.means, dtype=np.float64)

    def _params_from_attributes(self):
        # alpha = 0 (maximum likelihood) reads exact 0 and 1 as impossible events.
        return BernoulliParams.from_means(self.weights_, self.means_, exact=self.alpha == 0)

    @staticmethod
    def _output_dtype(X):
        # Validated rows are uint8 or CSR: probabilities and log-likelihoods are float64.
        return np.float64

    # -- prediction with impossible events (alpha = 0) ---------------------------------
    def _log_prob_parts(self, X):
        """Clamped ``log w_k + log p_k(x)`` and where rows are impossible (or None)."""
        params = self._params_from_attributes()
        family = self._make_family(X.shape[1], X.dtype)
        with kernel_threads(self.n_jobs, X.shape[0]):
            scores, impossible = family.log_prob_parts(X, params)
        with np.errstate(divide="ignore"):
            scores += np.log(params.weights)
        return scores, impossible

    def _weighted_log_prob(self, X):
        """Exact ``log w_k + log p_k(x)``: ``-inf`` where a row is impossible."""
        scores, impossible = self._log_prob_parts(X)
        if impossible is not None:
            scores[impossible] = -np.inf
        return scores

    def _posterior_log_prob(self, X):
        """As :meth:`_weighted_log_prob`, but rows impossible under every component of
        positive weight keep their clamped scores (their posterior is otherwise 0/0)."""
        scores, impossible = self._log_prob_parts(X)
        if impossible is not None:
            ruled_out = impossible | (self.weights_ == 0)
            impossible[ruled_out.all(axis=1)] = False
            scores[impossible] = -np.inf
        return scores

    def sample(self, n_samples=1):
        """Draw random binary rows from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Dense 0/1 rows, grouped by component, in the dtype of the data
            the model was fitted on (the data dtype of a sparse matrix).
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        X, labels = super().sample(n_samples)
        dtype = getattr(self, "_sample_dtype", None)
        return X.astype(np.float64 if dtype is None else dtype, copy=False), labels


__all__ = ["BernoulliMixture"]
