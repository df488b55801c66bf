"""GaussianMixture: scikit-learn's Gaussian mixture on fastem's fused kernels."""

from numbers import Real

import numpy as np

from ._compat import Interval, StrOptions
from ._mixture import Mixture
from ._params import check_weights, fill_shared_doc, fitted_array
from .families.gaussian import (
    COVARIANCE_KINDS,
    GaussianFamily,
    GaussianParams,
    covariances_from_cholesky,
    precision_cholesky_from_precisions,
    precisions_from_cholesky,
)


def _check_means(means, n_components, n_features):
    means = np.asarray(means, dtype=np.float64)
    if means.shape != (n_components, n_features):
        raise ValueError(
            f"The parameter 'means' should have the shape of {(n_components, n_features)}, "
            f"but got {means.shape}"
        )
    if not np.all(np.isfinite(means)):
        raise ValueError("The parameter 'means' contains NaN or infinity.")
    return means


def _check_precisions(precisions, covariance_type, n_components, n_features):
    precisions = np.asarray(precisions, dtype=np.float64)
    shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]
    if precisions.shape != shape:
        raise ValueError(
            f"The parameter '{covariance_type} precision' should have the shape of {shape}, "
            f"but got {precisions.shape}"
        )
    if not np.all(np.isfinite(precisions)):
        raise ValueError(f"'{covariance_type} precision' contains NaN or infinity.")
    if covariance_type in ("full", "tied"):
        stack = precisions if covariance_type == "full" else precisions[None]
        for k, p in enumerate(stack):
            if not (np.allclose(p, p.T) and np.all(np.linalg.eigvalsh(p) > 0.0)):
                which = f" (component {k})" if covariance_type == "full" else ""
                raise ValueError(
                    f"'{covariance_type} precision' should be symmetric, positive-definite{which}"
                )
    elif np.any(precisions <= 0.0):
        raise ValueError(f"'{covariance_type} precision' should be positive")
    return precisions


@fill_shared_doc
class GaussianMixture(Mixture):
    """Gaussian mixture fitted by EM on fused, parallel Numba kernels.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: same
    parameters, defaults, fitted attributes and results, computed without
    N x K or N x D temporaries. Beyond it: ``sample_weight`` in ``fit``,
    float32 kept end to end (with float64 sufficient statistics), and
    ``n_jobs`` threads.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all share
        one; 'diag': each has a diagonal covariance; 'spherical': each has a
        single variance.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of covariances.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the responsibilities are initialised. 'kmeans' runs fastem's own
        weighted k-means (k-means++ seeding, then Lloyd iterations); 'random'
        and 'random_from_data' draw exactly as scikit-learn does.
    weights_init : array-like of shape (n_components,), default=None
        Initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means.
    precisions_init : array-like, default=None
        Initial precisions, shaped as ``precisions_``.
    %(shared_parameters)s

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shape by ``covariance_type`` as in scikit-learn.
    precisions_ : ndarray
        Inverses of the covariances.
    precisions_cholesky_ : ndarray
        Upper-triangular ``U`` with ``precisions_ = U U^T``.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood per sample of the best initialisation.
    lower_bounds_ : list of float
        Mean log-likelihood at each iteration of the best initialisation.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=float)
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round(6).tolist()
    [1.0, 10.0]
    """

    _parameter_constraints: dict = {
        **Mixture._parameter_constraints,
        "covariance_type": [StrOptions(set(COVARIANCE_KINDS))],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "precisions_init": ["array-like", None],
    }
    _family_class = GaussianFamily
    _attributes_for_fitted = ("weights_", "means_", "precisions_cholesky_")
    _allow_nan = True

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
        weights_init=None,
        means_init=None,
        precisions_init=None,
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
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.precisions_init = precisions_init

    def _make_family(self, n_features, dtype=np.float64, shift=None, missing=None):
        return GaussianFamily(
            self.covariance_type, self.n_components, n_features, dtype, shift, missing=missing
        )

    def _reg(self):
        return self.reg_covar

    def _check_init_parameters(self, n_features, dtype):
        K = self.n_components
        self._weights_init = (
            None if self.weights_init is None else check_weights(self.weights_init, K)
        )
        self._means_init = (
            None if self.means_init is None else _check_means(self.means_init, K, n_features)
        )
        self._precisions_init = (
            None
            if self.precisions_init is None
            else _check_precisions(self.precisions_init, self.covariance_type, K, n_features)
        )

    def _initial_params(self, family, source, random_state):
        given = (self._weights_init, self._means_init, self._precisions_init)
        if any(p is None for p in given):
            stats = self._initial_stats(family, source, random_state)
            params = family.m_step(stats, self.reg_covar)
            # scikit-learn divides N_k by the number of samples here, not by sum N_k.
            params.weights = (
                stats.arrays["moments"][:, 0] + 10 * np.finfo(float).eps
            ) / source.weight_sum
        else:
            params = GaussianParams(None, None, None, None)
        if self._weights_init is not None:
            params.weights = self._weights_init.copy()
        if self._means_init is not None:
            params.means = self._means_init.copy()
        if self._precisions_init is not None:
            params.precisions_cholesky = precision_cholesky_from_precisions(
                self._precisions_init, self.covariance_type
            )
            params.covariances = covariances_from_cholesky(
                params.precisions_cholesky, self.covariance_type
            )
        return params

    def _params_to_attributes(self, params, dtype):
        self.weights_ = params.weights.astype(dtype)
        self.means_ = params.means.astype(dtype)
        self.covariances_ = params.covariances.astype(dtype)
        self.precisions_cholesky_ = params.precisions_cholesky.astype(dtype)
        self.precisions_ = precisions_from_cholesky(
            params.precisions_cholesky, self.covariance_type
        ).astype(dtype)

    def _params_from_attributes(self):
        covariances = getattr(self, "covariances_", None)
        return GaussianParams(
            fitted_array(self.weights_),
            fitted_array(self.means_),
            None if covariances is None else fitted_array(covariances),
            fitted_array(self.precisions_cholesky_),
        )
