"""MixtureImputer: missing values replaced from a Gaussian mixture fitted to the data with them.

The mixture is fitted by exact EM on every row, NaN included (missing at
random, see :class:`fastem.GaussianMixture`); a missing value is then its
conditional expectation given the row's observed values, or a draw from the
conditional distribution (``sample_posterior=True``). The numerics, per
missingness pattern and component, are in ``fastem.kernels.conditional``.
"""

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from . import _checkpoint
from ._params import fitted_array
from ._threads import kernel_threads
from .gaussian import GaussianMixture
from .kernels.conditional import conditional_fill

#: The GaussianMixture parameters that MixtureImputer passes on.
_MIXTURE_PARAMETERS = (
    "n_components",
    "covariance_type",
    "tol",
    "reg_covar",
    "max_iter",
    "n_init",
    "init_params",
    "random_state",
    "n_jobs",
)


def full_covariances(mixture):
    """The covariances of a fitted :class:`~fastem.GaussianMixture`, ``(K, D, D)``, float64.

    Parameters
    ----------
    mixture : GaussianMixture
        A fitted mixture of any ``covariance_type``.

    Returns
    -------
    ndarray of shape (n_components, n_features, n_features)
        Component ``k``'s covariance matrix at index ``k``, whatever the covariance type.
    """
    K, D = np.shape(mixture.means_)
    covariances = np.asarray(mixture.covariances_, dtype=np.float64)
    kind = mixture.covariance_type
    if kind == "full":
        return fitted_array(covariances)
    if kind == "tied":
        return np.ascontiguousarray(np.broadcast_to(covariances, (K, D, D)))
    if kind == "diag":
        return np.ascontiguousarray(covariances[:, :, None] * np.eye(D))
    return np.ascontiguousarray(covariances[:, None, None] * np.eye(D))


def missingness_patterns(mask):
    """The rows with a missing value, grouped by missingness pattern.

    Parameters
    ----------
    mask : ndarray of shape (n_samples, n_features), bool
        True where a value is missing.

    Returns
    -------
    order : ndarray of shape (n_incomplete,), int64
        The rows with a missing value, pattern by pattern (rows in their
        original order within a pattern).
    starts : ndarray of shape (n_patterns + 1,), int64
        Pattern ``p`` is ``order[starts[p]:starts[p + 1]]``.
    """
    incomplete = np.flatnonzero(mask.any(axis=1))
    if incomplete.size == 0:
        return incomplete.astype(np.int64), np.zeros(1, dtype=np.int64)
    # Eight columns a byte: patterns compare as short byte strings.
    packed = np.packbits(mask[incomplete], axis=1)
    _, inverse = np.unique(packed, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    by_pattern = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return incomplete[by_pattern].astype(np.int64), starts


def impute(mixture, X, *, sample_posterior=False, random_state=None):
    """Replace the NaN entries of ``X`` from a fitted Gaussian mixture.

    Parameters
    ----------
    mixture : GaussianMixture
        A fitted mixture (any ``covariance_type``) with ``n_features`` features.
    X : ndarray of shape (n_samples, n_features)
        Float rows; NaN marks a missing value (validated by the caller).
    sample_posterior : bool, default=False
        False: every missing value becomes its conditional expectation
        ``sum_k p(k | x_o) E[x_m | x_o, k]``. True: the missing values of a
        row are drawn from their conditional distribution (a component from
        ``p(k | x_o)``, then a Gaussian draw from it).
    random_state : int, RandomState instance or None, default=None
        Source of the draws of ``sample_posterior=True``.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        A copy of ``X`` in its dtype with every NaN replaced.
    """
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(
            f"Imputation needs a fitted GaussianMixture, got {type(mixture).__name__}."
        )
    check_is_fitted(mixture, ("weights_", "means_", "covariances_"))
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    out = np.array(X, dtype=np.float64, order="C")
    mask = np.isnan(out)
    if not mask.any():
        return out.astype(dtype, copy=False)
    order, starts = missingness_patterns(mask)
    if sample_posterior:
        rng = check_random_state(random_state)
        u = rng.uniform(size=out.shape[0])
        eps = rng.standard_normal(size=out.shape)
    else:
        u, eps = np.empty(0), np.empty((0, 0))
    weights = np.asarray(mixture.weights_, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    with kernel_threads(mixture.n_jobs, len(order)):
        conditional_fill(
            out,
            order,
            starts,
            log_weights,
            fitted_array(mixture.means_),
            full_covariances(mixture),
            bool(sample_posterior),
            u,
            eps,
        )
    return out.astype(dtype, copy=False)


class MixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values from a Gaussian mixture fitted to the incomplete data.

    :meth:`fit` fits a :class:`fastem.GaussianMixture` to every row, by exact
    EM on the observed values (NaN entries are marginalised, under the
    assumption that values are missing at random). :meth:`transform` then
    replaces every NaN by its conditional expectation given the observed
    values of its row, ``sum_k p(k | x_o) E[x_m | x_o, k]``, which for a
    multivariate normal component is
    ``mu_m + S_mo S_oo^-1 (x_o - mu_o)``. With ``sample_posterior=True``
    the missing values of a row are instead drawn from their conditional
    distribution (multiple imputation, as
    ``IterativeImputer(sample_posterior=True)``).

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components; 1 is a single multivariate normal.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Covariance type of the mixture. Only 'full' and 'tied' model
        correlations between features; with 'diag' and 'spherical' the
        observed values inform a missing one through the component posterior only.
    tol : float, default=1e-3
        Convergence threshold of EM on the mean log-likelihood per sample.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of covariances.
    max_iter : int, default=100
        EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations of the mixture; the best is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        Initialisation of the mixture.
    sample_posterior : bool, default=False
        Draw each row's missing values from their conditional distribution
        (a component by its posterior probability, then a Gaussian draw with
        the conditional mean and covariance) instead of taking their
        conditional expectation.
    random_state : int, RandomState instance or None, default=None
        Seed of the mixture's initialisation and of the draws of
        ``sample_posterior=True``. Successive :meth:`transform` calls draw
        further from the generator made at :meth:`fit`.
    n_jobs : int, default=None
        Kernel threads; None or -1 uses every core.

    Attributes
    ----------
    mixture_ : GaussianMixture
        The mixture fitted to the training rows.
    n_iter_ : int
        EM iterations of the mixture's best initialisation.
    random_state_ : numpy.random.RandomState
        Generator of the draws of ``sample_posterior=True``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during :meth:`fit`, when they are all strings.

    See Also
    --------
    fastem.GaussianMixture : The mixture, which accepts NaN as missing values.
    sklearn.impute.IterativeImputer : Imputation by chained regressions.
    sklearn.impute.SimpleImputer : Imputation by column statistics.

    Notes
    -----
    The conditional distributions are computed per missingness pattern: for
    each pattern and component one Cholesky factorisation of the observed
    block ``S_oo`` serves every row of the pattern. A row with every value
    missing gets the mixture's mean ``sum_k w_k mu_k``. The imputed values are
    only as good as the missing-at-random assumption: values missing because
    of their own magnitude (censoring) bias every estimate.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import MixtureImputer
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=200)
    >>> X = np.column_stack([x, 2 * x + 0.01 * rng.normal(size=200)])
    >>> X[0, 1] = np.nan
    >>> imputed = MixtureImputer(random_state=0).fit_transform(X)
    >>> bool(abs(imputed[0, 1] - 2 * X[0, 0]) < 0.05)
    True
    """

    _parameter_constraints: dict = {
        **{name: GaussianMixture._parameter_constraints[name] for name in _MIXTURE_PARAMETERS},
        "sample_posterior": ["boolean"],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        sample_posterior=False,
        random_state=None,
        n_jobs=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.sample_posterior = sample_posterior
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate(self, X, reset):
        return validate_data(
            self, X, dtype=FLOAT_DTYPES, ensure_all_finite="allow-nan", reset=reset
        )

    def fit(
        self,
        X,
        y=None,
        *,
        checkpoint=None,
        checkpoint_every=0.0,
        resume=True,
        keep_checkpoint=False,
    ):
        """Fit the Gaussian mixture to ``X``, missing values included.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data; NaN marks a missing value.
        y : Ignored
            Not used, present for API consistency by convention.
        checkpoint : str or os.PathLike, default=None
            File for the state of the mixture's fit, as in
            :meth:`fastem.GaussianMixture.fit`: the same call after a crash
            continues from it.
        checkpoint_every : float, default=0.0
            Least seconds between two checkpoint writes.
        resume : bool, default=True
            Continue from ``checkpoint`` if the file exists.
        keep_checkpoint : bool, default=False
            Keep the checkpoint when the fit completes.

        Returns
        -------
        self : MixtureImputer
            The fitted imputer.

        Notes
        -----
        A fit that raises leaves the imputer as it was before the call.
        """
        self._validate_params()
        with _checkpoint.transaction(self):
            X = self._validate(X, reset=True)
            params = {name: getattr(self, name) for name in _MIXTURE_PARAMETERS}
            self.mixture_ = GaussianMixture(**params).fit(
                X,
                checkpoint=checkpoint,
                checkpoint_every=checkpoint_every,
                resume=resume,
                keep_checkpoint=keep_checkpoint,
            )
            self.n_iter_ = self.mixture_.n_iter_
            self.random_state_ = check_random_state(self.random_state)
        return self

    def transform(self, X):
        """Replace every missing value of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data; NaN marks a missing value.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            ``X`` with every NaN replaced by its conditional expectation (or a
            conditional draw with ``sample_posterior=True``); float32 input
            stays float32, other input is float64.
        """
        check_is_fitted(self, "mixture_")
        X = self._validate(X, reset=False)
        return impute(
            self.mixture_,
            X,
            sample_posterior=self.sample_posterior,
            random_state=self.random_state_,
        )


__all__ = ["MixtureImputer", "full_covariances", "impute", "missingness_patterns"]
