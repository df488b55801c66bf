"""Gaussian mixtures: parameters <-> sufficient statistics for the four covariance types."""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.utils._param_validation import Interval, StrOptions

from ._init import (
    chunk_labels,
    data_moments,
    kmeans,
    kmeans_plusplus,
    seed_indices,
    seeding_sample,
)
from ._mixture import Mixture
from ._stats import SufficientStats
from ._threads import row_groups
from .kernels import gaussian as gk
from .kernels._gemm import matmul_path

COVARIANCE_KINDS = {"full": gk.FULL, "tied": gk.TIED, "diag": gk.DIAG, "spherical": gk.SPHERICAL}
_LOG_2PI = np.log(2.0 * np.pi)
# Rounding errors allowed for a variance computed as E[x'^2] - E[x']^2 from float64 sums.
_CANCELLATION_ULPS = 32
_RANDOM_INIT_CHUNK = 65536


@dataclass
class GaussianParams:
    """Parameters of a Gaussian mixture, float64, in scikit-learn's shapes.

    ``precisions_cholesky`` holds upper-triangular ``U`` with precision ``U U^T``
    ('full': (K, D, D), 'tied': (D, D), 'diag': (K, D), 'spherical': (K,)).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def _singular_error(component, reg_covar, dtype):
    where = "a component" if component is None else f"component {component}"
    message = (
        f"Fitting the mixture model failed because {where} has an ill-defined "
        "empirical covariance (for instance caused by singleton or collapsed samples). "
        f"Try to decrease the number of components, increase reg_covar (now {reg_covar:g}), "
        "or scale the input data."
    )
    if dtype == np.float32:
        message += " The numerical accuracy can also be improved by passing float64 data."
    return ValueError(message)


def precision_cholesky(covariances, covariance_type, reg_covar=0.0, dtype=np.float64, floor=0.0):
    """Upper-triangular Cholesky factors of the precisions from covariances.

    Raises a ``ValueError`` naming the first component whose covariance is not
    positive definite, or has a variance (a Cholesky pivot for 'full' and
    'tied': the variance one feature keeps given the previous ones) not above
    ``floor``: a scalar, or an array shaped like the variances ((K, D) for
    'full' and 'diag', (D,) for 'tied', (K,) for 'spherical').
    """
    if covariance_type in ("full", "tied"):
        stack = covariances if covariance_type == "full" else covariances[None]
        floors = np.broadcast_to(floor, stack.shape[:-1])
        n_features = stack.shape[-1]
        out = np.empty_like(stack)
        eye = np.eye(n_features)
        # One batched factorisation (the per-matrix SciPy calls with their input
        # checks cost more than the arithmetic for small D); the loop below only
        # names the component when it fails.
        try:
            if not np.all(np.isfinite(stack)):
                raise np.linalg.LinAlgError
            chol = np.linalg.cholesky(stack)
            pivots_ok = np.all(np.diagonal(chol, axis1=1, axis2=2) ** 2 > floors, axis=1)
        except np.linalg.LinAlgError:
            chol, pivots_ok = None, None
        for k in range(stack.shape[0]):
            if chol is None:
                try:
                    cov_chol = linalg.cholesky(stack[k], lower=True, check_finite=True)
                    ok = np.all(np.diag(cov_chol) ** 2 > floors[k])
                except (linalg.LinAlgError, ValueError):
                    ok = False
            else:
                cov_chol, ok = chol[k], pivots_ok[k]
            if not ok:
                raise _singular_error(k if covariance_type == "full" else None, reg_covar, dtype)
            out[k] = linalg.solve_triangular(cov_chol, eye, lower=True, check_finite=False).T
        return out if covariance_type == "full" else out[0]
    above = covariances > floor
    bad = np.flatnonzero(~(above if covariance_type == "spherical" else above.all(axis=1)))
    if bad.size:
        raise _singular_error(int(bad[0]), reg_covar, dtype)
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions, covariance_type):
    """``U`` with ``precisions = U U^T`` (scikit-learn's flipped Cholesky)."""
    if covariance_type == "full":
        return np.stack(
            [np.flipud(np.fliplr(linalg.cholesky(p[::-1, ::-1], lower=True))) for p in precisions]
        )
    if covariance_type == "tied":
        return np.flipud(np.fliplr(linalg.cholesky(precisions[::-1, ::-1], lower=True)))
    return np.sqrt(precisions)


def precisions_from_cholesky(prec_chol, covariance_type):
    """``U U^T`` for every component."""
    if covariance_type == "full":
        return np.matmul(prec_chol, np.swapaxes(prec_chol, 1, 2))
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol**2


def covariances_from_cholesky(prec_chol, covariance_type):
    """Covariances ``(U U^T)^-1`` from precision Cholesky factors."""
    if covariance_type in ("full", "tied"):
        stack = prec_chol if covariance_type == "full" else prec_chol[None]
        eye = np.eye(stack.shape[-1])
        inv = np.stack([linalg.solve_triangular(u, eye, lower=False) for u in stack])
        cov = np.matmul(np.swapaxes(inv, 1, 2), inv)
        return cov if covariance_type == "full" else cov[0]
    return 1.0 / prec_chol**2


def log_det_cholesky(prec_chol, covariance_type, n_features):
    """Log-determinant of each precision Cholesky factor, shape (K,) or scalar for tied."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(prec_chol)).sum()
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


class GaussianFamily:
    """The family contract for Gaussian mixtures of one covariance type.

    Parameters
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_components, n_features : int
    block_size : int
        Rows per cache-resident block in the kernels.
    """

    def __init__(self, covariance_type, n_components, n_features, block_size=256):
        self.covariance_type = covariance_type
        self.kind = COVARIANCE_KINDS[covariance_type]
        self.n_components = n_components
        self.n_features = n_features
        self.block_size = block_size
        self.n_stat_features = gk.n_stat_features(self.kind, n_features)
        # How the kernels multiply their blocks; tests pin each path in turn.
        self.matmul_path = matmul_path(self.n_stat_features, n_components)
        self.shift = np.zeros(n_features)
        # dtype of the data: only changes the advice in a singular-covariance error.
        self.dtype = np.float64
        self._vech_i, self._vech_j = np.triu_indices(n_features)

    # -- data centre -------------------------------------------------------------------
    def set_shift(self, source):
        """Centre the statistics on the weighted data mean (one pass over the source)."""
        # The kernels read the shift eight lanes at a time: contiguous float64.
        self.shift = np.ascontiguousarray(data_moments(source)[0], dtype=np.float64)

    # -- E-step ---------------------------------------------------------------------------
    def natural_weights(self, params):
        """(F, K) matrix whose product with ``T(x - shift)`` gives ``log w_k p_k(x)``."""
        D = self.n_features
        mu = params.means - self.shift
        U = params.precisions_cholesky
        W = np.zeros((self.n_stat_features, self.n_components))
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        log_det = log_det_cholesky(U, self.covariance_type, D)
        if self.covariance_type == "full":
            P = precisions_from_cholesky(U, "full")
            y = np.einsum("kd,kde->ke", mu, U)
            W[1 : 1 + D] = np.einsum("kde,ke->dk", P, mu)
            scale = np.where(self._vech_i == self._vech_j, -0.5, -1.0)
            W[1 + D :] = scale[:, None] * P[:, self._vech_i, self._vech_j].T
        elif self.covariance_type == "tied":
            P = precisions_from_cholesky(U, "tied")
            y = mu @ U
            W[1 : 1 + D] = (mu @ P).T
        elif self.covariance_type == "diag":
            prec = U**2
            y = mu * U
            W[1 : 1 + D] = (mu * prec).T
            W[1 + D :] = -0.5 * prec.T
        else:
            prec = U**2
            y = mu * U[:, None]
            W[1 : 1 + D] = (mu * prec[:, None]).T
            W[1 + D] = -0.5 * prec
        W[0] = -0.5 * D * _LOG_2PI + log_det - 0.5 * np.sum(y * y, axis=1) + log_weights
        return W

    def _tied_factor(self, params):
        if self.covariance_type == "tied":
            return np.ascontiguousarray(params.precisions_cholesky)
        return np.zeros((0, 0))

    def _wrap(self, X, sample_weight, moments, second_moment, log_likelihood):
        weight_sum = float(sample_weight.sum()) if sample_weight.size else float(X.shape[0])
        return SufficientStats(
            {"moments": moments, "second_moment": second_moment},
            float(log_likelihood),
            weight_sum,
            self.shift,
        )

    def estep_stats(self, X, sample_weight, params):
        """Fused E-step over ``X``: statistics and summed log-likelihood."""
        moments, second, ll = gk.estep_stats(
            X,
            sample_weight,
            self.shift,
            self.natural_weights(params),
            self._tied_factor(params),
            self.kind,
            self.block_size,
            row_groups(X.shape[0]),
            self.matmul_path,
        )
        return self._wrap(X, sample_weight, moments, second, ll)

    def resp_stats(self, X, sample_weight, resp=None, labels=None):
        """Statistics for given soft ``resp`` (n, K) or hard ``labels`` (n,)."""
        if resp is None:
            resp = np.zeros((0, self.n_components))
        if labels is None:
            labels = np.zeros(0, dtype=np.int64)
        moments, second = gk.resp_stats(
            X,
            sample_weight,
            self.shift,
            np.ascontiguousarray(resp, dtype=np.float64),
            np.ascontiguousarray(labels, dtype=np.int64),
            self.kind,
            self.n_stat_features,
            self.block_size,
            row_groups(X.shape[0]),
            self.matmul_path,
        )
        return self._wrap(X, sample_weight, moments, second, 0.0)

    # -- M-step ---------------------------------------------------------------------------
    def m_step(self, stats, reg_covar):
        """Maximum-likelihood parameters from sufficient statistics.

        Mirrors scikit-learn's M-step (including its ``10 * eps`` added to
        every N_k), with the second moments corrected for the shift exactly.
        """
        D = self.n_features
        moments = stats.arrays["moments"]
        nk = moments[:, 0] + 10 * np.finfo(np.float64).eps
        offset = moments[:, 1 : 1 + D] / nk[:, None]
        means = stats.shift + offset
        # ``square``: the mean square about the shift each variance is cancelled from.
        if self.covariance_type == "full":
            second = np.empty((self.n_components, D, D))
            second[:, self._vech_i, self._vech_j] = moments[:, 1 + D :]
            second[:, self._vech_j, self._vech_i] = moments[:, 1 + D :]
            covariances = second / nk[:, None, None] - offset[:, :, None] * offset[:, None, :]
            covariances[:, np.arange(D), np.arange(D)] += reg_covar
            square = np.diagonal(second, axis1=1, axis2=2) / nk[:, None]
        elif self.covariance_type == "tied":
            covariances = stats.arrays["second_moment"] - (nk[:, None] * offset).T @ offset
            covariances /= nk.sum()
            covariances = 0.5 * (covariances + covariances.T)
            covariances.flat[:: D + 1] += reg_covar
            square = np.diag(stats.arrays["second_moment"]) / nk.sum()
        elif self.covariance_type == "diag":
            square = moments[:, 1 + D :] / nk[:, None]
            covariances = square - offset**2 + reg_covar
        else:
            square = moments[:, 1 + D] / nk / D
            covariances = square - np.sum(offset**2, axis=1) / D + reg_covar
        weights = nk / nk.sum()
        # A variance within a few dozen ulps of the square it was cancelled from is
        # round-off, not data (a component collapsed onto one point, or onto a line
        # for 'full'): such a model would be silently meaningless, so it is singular.
        floor = _CANCELLATION_ULPS * np.finfo(np.float64).eps * square
        prec_chol = precision_cholesky(
            covariances, self.covariance_type, reg_covar, self.dtype, floor=floor
        )
        return GaussianParams(weights, means, covariances, prec_chol)

    # -- prediction ------------------------------------------------------------------------
    def log_prob(self, X, params):
        """Component log-densities ``log p_k(x)``, shape (n_samples, n_components)."""
        K, D = self.n_components, self.n_features
        U = params.precisions_cholesky
        log_det = np.broadcast_to(log_det_cholesky(U, self.covariance_type, D), (K,))
        log_det = np.ascontiguousarray(log_det, dtype=np.float64)
        means = np.ascontiguousarray(params.means, dtype=np.float64)
        if self.covariance_type in ("full", "tied"):
            factors = U if self.covariance_type == "full" else np.repeat(U[None], K, axis=0)
            return gk.log_prob_cholesky(
                X, means, np.ascontiguousarray(factors), log_det, 256, row_groups(X.shape[0])
            )
        factors = U if self.covariance_type == "diag" else np.repeat(U[:, None], D, axis=1)
        return gk.log_prob_diagonal(
            X, means, np.ascontiguousarray(factors), log_det, 256, row_groups(X.shape[0])
        )

    def n_parameters(self, params):
        """Number of free parameters (scikit-learn's count) for BIC/AIC."""
        K, D = self.n_components, self.n_features
        cov_params = {
            "full": K * D * (D + 1) / 2.0,
            "diag": K * D,
            "tied": D * (D + 1) / 2.0,
            "spherical": K,
        }[self.covariance_type]
        return int(cov_params + D * K + K - 1)

    def sample(self, params, n_samples, rng):
        """Rows drawn exactly as scikit-learn draws them from the same ``rng``."""
        counts = rng.multinomial(n_samples, params.weights)
        D = self.n_features
        if self.covariance_type == "full":
            parts = [
                rng.multivariate_normal(mean, cov, int(c))
                for mean, cov, c in zip(params.means, params.covariances, counts, strict=True)
            ]
        elif self.covariance_type == "tied":
            parts = [
                rng.multivariate_normal(mean, params.covariances, int(c))
                for mean, c in zip(params.means, counts, strict=True)
            ]
        else:
            parts = [
                mean + rng.standard_normal(size=(c, D)) * np.sqrt(cov)
                for mean, cov, c in zip(params.means, params.covariances, counts, strict=True)
            ]
        labels = np.concatenate([np.full(int(c), k, dtype=np.int64) for k, c in enumerate(counts)])
        return np.vstack(parts), labels


def _random_resp(rng, n_rows, n_components):
    resp = rng.uniform(size=(n_rows, n_components))
    resp /= resp.sum(axis=1)[:, None]
    return resp


def _check_weights(weights, n_components):
    given = np.asarray(weights)
    atol = 1e-6 if given.dtype == np.float32 else 1e-8
    weights = given.astype(np.float64)
    if weights.shape != (n_components,):
        raise ValueError(
            f"The parameter 'weights' should have the shape of {(n_components,)}, "
            f"but got {weights.shape}"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(weights > 1):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.max(weights):.5f}, min value {np.min(weights):.5f}"
        )
    if not np.allclose(abs(1.0 - weights.sum()), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got "
            f"sum(weights) = {weights.sum():.5f}"
        )
    return weights


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
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood per sample.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of covariances.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept.
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
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of :meth:`sample`.
    warm_start : bool, default=False
        Continue from the fitted parameters on the next :meth:`fit`.
    verbose : int, default=0
        Print progress (1: iterations, 2: with timings and changes).
    verbose_interval : int, default=10
        Iterations between two progress lines.
    n_jobs : int, default=None
        Kernel threads; None or -1 uses every core.
    chunk_size : int, default=None
        Rows read at once from out-of-core sources (memory maps, ``.npy``
        paths, HDF5/zarr datasets, iterables); None picks about 64 MiB of
        rows. In-memory arrays are one chunk unless this is set.
    decay : float, default=0.7
        Exponent of the step size ``(t + 2) ** -decay`` of online EM
        (:meth:`partial_fit`, ``fit(mode="online")``); in (0.5, 1].
    progress : bool, default=False
        Show a progress bar (tqdm, on standard error) with rows/s and the
        current mean log-likelihood during :meth:`fit`.
    callback : callable, default=None
        ``callback(iteration, lower_bound)`` after every EM iteration (online:
        every mini-batch); return True to stop early.

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
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "progress": ["boolean"],
        "callback": [callable, None],
        "covariance_type": [StrOptions(set(COVARIANCE_KINDS))],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
    }
    _attributes_for_fitted = ("weights_", "means_", "precisions_cholesky_")

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
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.decay = decay
        self.progress = progress
        self.callback = callback

    def _make_family(self, n_features):
        return GaussianFamily(self.covariance_type, self.n_components, n_features)

    def _check_init_parameters(self, n_features, dtype):
        if self.reg_covar < 0:
            raise ValueError(f"reg_covar must be non-negative, got {self.reg_covar}.")
        K = self.n_components
        self._weights_init = (
            None if self.weights_init is None else _check_weights(self.weights_init, K)
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

    def _initial_stats(self, family, source, random_state):
        """Statistics of the initial responsibilities, in passes over the source."""
        K = self.n_components
        if self.init_params == "kmeans":
            centers = kmeans(source, K, random_state)
            return source.map_reduce(
                lambda X, w: family.resp_stats(X, w, labels=chunk_labels(X, centers))
            )
        if self.init_params == "random" and not source.sequential:
            # Blocks processed where they live: one seed per block instead of
            # scikit-learn's single stream.
            return source.map_reduce_seeded(
                lambda X, w, rng: family.resp_stats(X, w, resp=_random_resp(rng, len(X), K)),
                random_state,
            )
        if self.init_params == "random":
            # Chunk by chunk, the uniform draws are the same stream as scikit-learn's
            # single (n_samples, n_components) draw.
            total = None
            for X, w in source.chunks():
                for start in range(0, X.shape[0], _RANDOM_INIT_CHUNK):
                    stop = min(X.shape[0], start + _RANDOM_INIT_CHUNK)
                    resp = random_state.uniform(size=(stop - start, K))
                    resp /= resp.sum(axis=1)[:, None]
                    stats = family.resp_stats(
                        X[start:stop], w[start:stop] if w.size else w, resp=resp
                    )
                    total = stats if total is None else total + stats
            return total
        if self.init_params == "k-means++":
            sample, sample_weight = seeding_sample(source, random_state)
            _, indices = kmeans_plusplus(sample, sample_weight, K, random_state)
            rows = np.ascontiguousarray(sample[indices])
            row_weights = sample_weight[indices] if sample_weight.size else np.ones(K)
        else:
            indices = seed_indices(source.n_samples, K, source.all_weights(), random_state)
            rows, row_weights = source.take(indices)
        return family.resp_stats(rows, row_weights, resp=np.eye(K))

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
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            None if covariances is None else np.asarray(covariances, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
        )
