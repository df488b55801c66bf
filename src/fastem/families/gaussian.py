"""Gaussian mixtures: parameters <-> sufficient statistics for the four covariance types."""

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._settings import settings
from .._stats import ColumnMoments, SufficientStats
from .._threads import row_groups
from ..kernels import gaussian as gk
from ._common import matmul_path
from .kmeans import lloyd_offsets, nearest, sq_distances

COVARIANCE_KINDS = {"full": gk.FULL, "tied": gk.TIED, "diag": gk.DIAG, "spherical": gk.SPHERICAL}
_LOG_2PI = np.log(2.0 * np.pi)


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


#: scikit-learn's error for a singular covariance, verbatim, so that code matching it works.
SINGULAR_MESSAGE = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data."
)


def _singular_error(component, reg_covar, dtype):
    where = (
        "The covariance shared by the components"
        if component is None
        else (f"Component {component}")
    )
    message = (
        f"{SINGULAR_MESSAGE} {where} is not positive definite (reg_covar is now {reg_covar:g})."
    )
    if dtype == np.float32:
        message += (
            " The numerical accuracy can also be improved by passing float64 data instead of"
            " float32."
        )
    return ValueError(message)


def precision_cholesky(covariances, covariance_type, reg_covar=0.0, dtype=np.float64):
    """Upper-triangular Cholesky factors of the precisions from covariances.

    Raises a ``ValueError`` naming the first component whose covariance is not
    finite and positive definite (as scikit-learn: a failed Cholesky
    factorisation, a variance that is not positive).
    """
    if covariance_type in ("full", "tied"):
        stack = covariances if covariance_type == "full" else covariances[None]
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
        except np.linalg.LinAlgError:
            chol = None
        for k in range(stack.shape[0]):
            if chol is None:
                try:
                    cov_chol = linalg.cholesky(stack[k], lower=True, check_finite=True)
                    ok = np.all(np.diag(cov_chol) > 0)
                except (linalg.LinAlgError, ValueError):
                    ok = False
            else:
                cov_chol, ok = chol[k], True
            if not ok:
                raise _singular_error(k if covariance_type == "full" else None, reg_covar, dtype)
            out[k] = linalg.solve_triangular(cov_chol, eye, lower=True, check_finite=False).T
        return out if covariance_type == "full" else out[0]
    valid = np.isfinite(covariances) & (covariances > 0)
    bad = np.flatnonzero(~(valid if covariance_type == "spherical" else valid.all(axis=1)))
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
    """The family contract (:class:`fastem.families.Family`) for Gaussian mixtures.

    Parameters
    ----------
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        Structure of the covariances.
    n_components : int
        ``K``.
    n_features : int
        ``D``.
    dtype : numpy.dtype, default=float64
        dtype of the data; only changes the advice in a singular-covariance error.
    shift : ndarray of shape (n_features,), default=None
        Centre the statistics are summed around (the data mean, so that data
        far from the origin keeps accurate variances); None is the origin.
    """

    uses_shift = True

    def __init__(self, covariance_type, n_components, n_features, dtype=np.float64, shift=None):
        self.covariance_type = covariance_type
        self.kind = COVARIANCE_KINDS[covariance_type]
        self.n_components = n_components
        self.n_features = n_features
        self.dtype = np.dtype(dtype)
        # The kernels read the shift eight lanes at a time: contiguous float64.
        self.shift = np.ascontiguousarray(
            np.zeros(n_features) if shift is None else shift, dtype=np.float64
        )
        self.block_size = settings.gaussian_block_rows
        self.n_stat_features = gk.n_stat_features(self.kind, n_features)
        self.matmul_path = matmul_path(self.n_stat_features, n_components)
        self._vech_i, self._vech_j = np.triu_indices(n_features)

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

    def resp_stats(self, X, sample_weight, resp):
        """Statistics for given responsibilities ``resp`` of shape (n, K)."""
        return self._given_stats(X, sample_weight, resp=resp)

    def hard_stats(self, X, sample_weight, centers):
        """Statistics with every row given to its nearest of ``centers``."""
        return self._given_stats(X, sample_weight, labels=self.nearest(X, centers)[0])

    def _given_stats(self, X, sample_weight, resp=None, labels=None):
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
        if self.covariance_type == "full":
            second = np.empty((self.n_components, D, D))
            second[:, self._vech_i, self._vech_j] = moments[:, 1 + D :]
            second[:, self._vech_j, self._vech_i] = moments[:, 1 + D :]
            covariances = second / nk[:, None, None] - offset[:, :, None] * offset[:, None, :]
            covariances[:, np.arange(D), np.arange(D)] += reg_covar
        elif self.covariance_type == "tied":
            covariances = stats.arrays["second_moment"] - (nk[:, None] * offset).T @ offset
            covariances /= nk.sum()
            covariances = 0.5 * (covariances + covariances.T)
            covariances.flat[:: D + 1] += reg_covar
        elif self.covariance_type == "diag":
            covariances = moments[:, 1 + D :] / nk[:, None] - offset**2 + reg_covar
        else:
            covariances = (moments[:, 1 + D] / nk - np.sum(offset**2, axis=1)) / D + reg_covar
        weights = nk / nk.sum()
        prec_chol = precision_cholesky(covariances, self.covariance_type, reg_covar, self.dtype)
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
                X,
                means,
                np.ascontiguousarray(factors),
                log_det,
                self.block_size,
                row_groups(X.shape[0]),
            )
        factors = U if self.covariance_type == "diag" else np.repeat(U[:, None], D, axis=1)
        return gk.log_prob_diagonal(
            X,
            means,
            np.ascontiguousarray(factors),
            log_det,
            self.block_size,
            row_groups(X.shape[0]),
        )

    def n_parameters(self):
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

    # -- initialisation ---------------------------------------------------------------
    @staticmethod
    def column_moments(X, sample_weight):
        """Weighted column moments of a chunk, summed around its first row."""
        origin = np.asarray(X[0], dtype=np.float64)
        weight, s1, s2 = gk.column_moments(
            X, sample_weight, origin, settings.kmeans_block_rows, row_groups(X.shape[0])
        )
        return ColumnMoments.from_sums(origin, weight, s1, s2)

    def lloyd_stats(self, X, sample_weight, centers, inertia=True):
        """Counts and sums of ``x - c_k`` (K, D) of the rows nearest to each centre; -inertia.

        ``inertia=False`` skips the distances (the log-likelihood is then NaN).
        """
        counts, sums, inertia, _ = lloyd_offsets(
            X, sample_weight, centers, self.shift, inertia=inertia
        )
        return SufficientStats({"counts": counts, "sums": sums}, log_likelihood=-inertia)

    def nearest(self, X, centers):
        """Each row's nearest centre (int32) and its squared distance."""
        return nearest(X, centers, self.shift)

    def sq_distances(self, X, centers):
        """Squared distances of every row to every centre, shape (n, len(centers))."""
        return sq_distances(X, centers)

    @staticmethod
    def dense_rows(X, indices):
        """Rows ``indices`` as float64 points."""
        return np.asarray(X[np.asarray(indices, dtype=np.int64)], dtype=np.float64)
