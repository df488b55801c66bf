"""Gaussian mixtures: parameters <-> sufficient statistics for the four covariance types."""

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._settings import settings
from .._stats import ColumnMoments, SufficientStats
from .._threads import row_groups
from ..kernels import _gaussian_features as gf
from ..kernels import gaussian as gk
from ..kernels import gaussian_missing as gm
from ..kernels import gaussian_missing_init as gmi
from ..kernels import missing_rows as mr
from . import _float32_blocks as f32
from . import _gaussian_many as _many
from ._common import matmul_path, rows_as_kernel_views
from .kmeans import lloyd_offsets, nearest, sq_distances

COVARIANCE_KINDS = {"full": gf.FULL, "tied": gf.TIED, "diag": gf.DIAG, "spherical": gf.SPHERICAL}
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


@rows_as_kernel_views
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
    missing : bool or None, default=None
        Whether the rows may hold NaN (missing values, marginalised as missing
        at random): False takes the complete-data kernels without looking,
        True the kernels for missing values (which read complete blocks as
        the complete-data kernels do), None looks at every chunk.
    """

    uses_shift = True

    def __init__(
        self,
        covariance_type,
        n_components,
        n_features,
        dtype=np.float64,
        shift=None,
        missing=None,
    ):
        self.covariance_type = covariance_type
        self.missing = missing
        self.kind = COVARIANCE_KINDS[covariance_type]
        self.n_components = n_components
        self.n_features = n_features
        self.dtype = np.dtype(dtype)
        # The kernels read the shift eight lanes at a time: contiguous float64.
        self.shift = np.ascontiguousarray(
            np.zeros(n_features) if shift is None else shift, dtype=np.float64
        )
        self.block_size = settings.gaussian_block_rows
        self.n_stat_features = gf.n_stat_features(self.kind, n_features)
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
            W[1 : 1 + D] = np.einsum("kde,ke->dk", P, mu)
            scale = np.where(self._vech_i == self._vech_j, -0.5, -1.0)
            W[1 + D :] = scale[:, None] * P[:, self._vech_i, self._vech_j].T
        elif self.covariance_type == "tied":
            P = precisions_from_cholesky(U, "tied")
            W[1 : 1 + D] = (mu @ P).T
        elif self.covariance_type == "diag":
            prec = U**2
            W[1 : 1 + D] = (mu * prec).T
            W[1 + D :] = -0.5 * prec.T
        else:
            prec = U**2
            W[1 : 1 + D] = (mu * prec[:, None]).T
            W[1 + D] = -0.5 * prec
        W[0] = -0.5 * D * _LOG_2PI + log_det - 0.5 * self._mean_offsets(params) + log_weights
        return W

    def _mean_offsets(self, params):
        """Each mean's squared distance from the shift in its metric (:mod:`._float32_blocks`)."""
        return f32.mean_offsets(
            self.covariance_type, params.means, self.shift, params.precisions_cholesky
        )

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

    def _has_missing(self, X):
        """Whether the chunk ``X`` must go through the kernels for missing values."""
        if self.missing is not None:
            return self.missing
        return has_nan(X)

    def _missing_args(self, params):
        """Per-component arrays of the kernels for missing values (means around the shift)."""
        K, D = self.n_components, self.n_features
        U = params.precisions_cholesky
        # Always a writable copy: a read-only view (what broadcast_to gives for a (K,)
        # array) is another argument type, which compiles the kernels once more.
        log_det = np.array(
            np.broadcast_to(log_det_cholesky(U, self.covariance_type, D), (K,)), dtype=np.float64
        )
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(params.weights, dtype=np.float64))
        none3, none2 = np.zeros((0, 0, 0)), np.zeros((0, 0))
        # The kernels read the factors transposed (lower), one contiguous row at a time.
        if self.covariance_type == "full":
            U = np.asarray(U, dtype=np.float64)
            chol = np.ascontiguousarray(np.swapaxes(U, 1, 2))
            prec = np.ascontiguousarray(precisions_from_cholesky(U, "full"))
            return chol, prec, none2, none2, log_det, log_weights
        if self.covariance_type == "tied":
            U = np.asarray(U, dtype=np.float64)
            chol = np.ascontiguousarray(np.repeat(U.T[None], K, axis=0))
            prec = np.ascontiguousarray(np.repeat((U @ U.T)[None], K, axis=0))
            return chol, prec, none2, none2, log_det, log_weights
        root = U if self.covariance_type == "diag" else np.repeat(U[:, None], D, axis=1)
        root = np.ascontiguousarray(root, dtype=np.float64)
        return none3, none3, root**2, np.log(root), log_det, log_weights

    def _kernel_args(self, X, sample_weight, params, W):
        return (
            X,
            sample_weight,
            self.shift,
            W,
            self._tied_factor(params),
            self.kind,
            self.block_size,
            row_groups(X.shape[0]),
            self.matmul_path,
        )

    def estep_stats(self, X, sample_weight, params):
        """Fused E-step over ``X``: statistics and summed log-likelihood.

        Rows holding NaN contribute their marginal likelihood and expected
        statistics (see :mod:`fastem.kernels.gaussian_missing`).
        """
        W = self.natural_weights(params)
        if self._has_missing(X):
            means = np.ascontiguousarray(params.means - self.shift, dtype=np.float64)
            moments, second, ll = gm.estep_stats(
                *self._kernel_args(X, sample_weight, params, W),
                means,
                *self._missing_args(params),
                settings.missing_pattern_rows,
            )
            return self._wrap(X, sample_weight, moments, second, ll)
        dtype = f32.block_dtype(self, X, params, W)
        args = self._kernel_args(X, sample_weight, params, W)
        moments, second, ll = gk.estep_stats(*args, np.empty(0, dtype))
        if dtype == np.float32 and not self._float32_resolved(params, moments, second, ll):
            # float32 overflowed (rows far out, parameters near float32's range)
            # or left a covariance unresolved: the chunk again in float64 blocks.
            moments, second, ll = gk.estep_stats(*args, np.empty(0, np.float64))
        return self._wrap(X, sample_weight, moments, second, ll)

    def _float32_resolved(self, params, moments, second, ll):
        """Whether statistics from float32 blocks are finite and resolve every covariance."""
        return bool(
            np.isfinite(ll)
            and f32.statistics_resolved(
                self.covariance_type,
                self.n_features,
                moments,
                second,
                params.weights,
                (self._vech_i, self._vech_j),
            )
        )

    estep_stats_many = staticmethod(_many.estep_stats_many)
    evaluate_many = staticmethod(_many.evaluate_many)

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
        if self._has_missing(X):
            return self._available_stats(X, sample_weight, resp, labels)
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

    def _available_stats(self, X, sample_weight, resp, labels):
        """Pairwise available-case statistics of given responsibilities (rows with NaN)."""
        nk, count, first, second = gmi.given_stats(
            X,
            sample_weight,
            self.shift,
            np.ascontiguousarray(resp, dtype=np.float64),
            np.ascontiguousarray(labels, dtype=np.int64),
            self.n_components,
            self.block_size,
            row_groups(X.shape[0]),
        )
        moments = np.zeros((self.n_components, self.n_stat_features))
        moments[:, 0] = nk
        weight_sum = float(sample_weight.sum()) if sample_weight.size else float(X.shape[0])
        arrays = {
            "moments": moments,
            "pair_count": count,
            "pair_first": first,
            "pair_second": second,
        }
        return SufficientStats(arrays, 0.0, weight_sum, self.shift)

    def _m_step_available(self, stats, reg_covar):
        """Initial parameters from pairwise available-case statistics (data with NaN).

        Per component: each mean from the observed values of its column, each
        covariance entry from the rows where both columns are observed. A
        pairwise estimate need not be positive semi-definite, so the full and
        tied matrices have their eigenvalues floored; a column that a component
        never observes takes the data centre and the column's pooled variance.
        """
        D = self.n_features
        a = stats.arrays
        nk = a["moments"][:, 0] + 10 * np.finfo(np.float64).eps
        count, first, second = a["pair_count"], a["pair_first"], a["pair_second"]
        diag = np.arange(D)
        cnt = count[:, diag, diag]
        seen = cnt > 0
        safe = np.where(seen, cnt, 1.0)
        offset = np.where(seen, first[:, diag, diag] / safe, 0.0)
        var = np.maximum(second[:, diag, diag] / safe - offset**2, 0.0)
        pooled_cnt = cnt.sum(axis=0)
        pooled = (var * cnt).sum(axis=0) / np.where(pooled_cnt > 0, pooled_cnt, 1.0)
        var = np.where(seen, var, pooled[None, :])
        means = stats.shift + offset
        if self.covariance_type in ("full", "tied"):
            pair = count > 0
            n_pair = np.where(pair, count, 1.0)
            cross = second - first * np.swapaxes(first, 1, 2) / n_pair
            if self.covariance_type == "full":
                cov = np.where(pair, cross / n_pair, 0.0)
                cov[:, diag, diag] = var
            else:
                total = count.sum(axis=0)
                cov = np.where(total > 0, cross.sum(axis=0) / np.where(total > 0, total, 1.0), 0.0)
                cov[diag, diag] = (var * cnt).sum(axis=0) / np.where(
                    pooled_cnt > 0, pooled_cnt, 1.0
                )
                cov = cov[None]
            cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
            values, vectors = np.linalg.eigh(cov)
            floor = 1e-6 * np.maximum(np.trace(cov, axis1=1, axis2=2) / D, np.finfo(float).tiny)
            values = np.maximum(values, floor[:, None])
            cov = np.einsum("kij,kj,klj->kil", vectors, values, vectors)
            cov[:, diag, diag] += reg_covar
            covariances = cov if self.covariance_type == "full" else cov[0]
        elif self.covariance_type == "diag":
            covariances = var + reg_covar
        else:
            covariances = var.mean(axis=1) + reg_covar
        weights = nk / nk.sum()
        prec_chol = precision_cholesky(covariances, self.covariance_type, reg_covar, self.dtype)
        return GaussianParams(weights, means, covariances, prec_chol)

    # -- M-step ---------------------------------------------------------------------------
    def m_step(self, stats, reg_covar):
        """Maximum-likelihood parameters from sufficient statistics.

        Mirrors scikit-learn's M-step (including its ``10 * eps`` added to
        every N_k), with the second moments corrected for the shift exactly.
        Statistics of given responsibilities on rows with NaN (the
        initialisation's) take the available-case estimates instead.
        """
        if "pair_count" in stats.arrays:
            return self._m_step_available(stats, reg_covar)
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
        log_det = np.array(log_det, dtype=np.float64)  # writable, see _missing_args
        # Fresh writable copies: one kernel type whatever the parameters' flags.
        means = np.array(params.means, dtype=np.float64, order="C")
        if self.covariance_type in ("full", "tied"):
            factors = U if self.covariance_type == "full" else np.repeat(U[None], K, axis=0)
            out = gk.log_prob_cholesky(
                X,
                means,
                np.array(factors, dtype=np.float64, order="C"),
                log_det,
                self.block_size,
                row_groups(X.shape[0]),
                self.matmul_path,
            )
        else:
            factors = U if self.covariance_type == "diag" else np.repeat(U[:, None], D, axis=1)
            out = gk.log_prob_diagonal(
                X,
                means,
                np.array(factors, dtype=np.float64, order="C"),
                log_det,
                self.block_size,
                row_groups(X.shape[0]),
            )
        if self.missing is False:
            return out
        # Rows with NaN: their marginal densities replace what the complete-row kernel
        # made of them; the complete rows keep exactly the complete-data values. The
        # parallel check first: listing the rows is a serial pass.
        if has_nan(X):
            rows = mr.nan_rows(X)
            chol, prec, dprec, dlog, _, _ = self._missing_args(params)
            out[rows] = gm.log_prob_rows(
                X, rows, self.kind, means, chol, prec, dprec, dlog, log_det
            )
        return out

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
        """Weighted column moments of a chunk, summed around its first row.

        With NaN in the chunk, each column's moments are those of its observed
        values (its weight is then per column) and ``n_missing`` counts the NaN.
        """
        if has_nan(X):
            head = np.asarray(X[:256], dtype=np.float64)
            seen = ~np.isnan(head)
            first = np.argmax(seen, axis=0)
            origin = np.where(seen.any(axis=0), head[first, np.arange(X.shape[1])], 0.0)
            weight, s1, s2, n_missing = gmi.column_moments(
                X, sample_weight, origin, settings.kmeans_block_rows, row_groups(X.shape[0])
            )
            return ColumnMoments.from_sums(origin, weight, s1, s2, n_missing=int(n_missing))
        origin = np.array(X[0], dtype=np.float64)  # writable: one kernel type
        weight, s1, s2 = gk.column_moments(
            X, sample_weight, origin, settings.kmeans_block_rows, row_groups(X.shape[0])
        )
        return ColumnMoments.from_sums(origin, weight, s1, s2)

    def lloyd_stats(self, X, sample_weight, centers, inertia=True):
        """Counts and sums of ``x - c_k`` (K, D) of the rows nearest to each centre; -inertia.

        ``inertia=False`` skips the distances (the log-likelihood is then NaN).
        Rows with NaN are placed on their observed coordinates, a missing value
        counting as sitting on the centre (k-POD).
        """
        if self._has_missing(X):
            counts, sums, inertia = self._missing_lloyd(X, sample_weight, centers)[:3]
            return SufficientStats({"counts": counts, "sums": sums}, log_likelihood=-inertia)
        counts, sums, inertia, _ = lloyd_offsets(
            X, sample_weight, centers, self.shift, inertia=inertia
        )
        return SufficientStats({"counts": counts, "sums": sums}, log_likelihood=-inertia)

    def _missing_lloyd(self, X, sample_weight, centers):
        n = X.shape[0]
        labels = np.empty(n, dtype=np.int32)
        sq_dist = np.empty(n)
        counts, sums, inertia = gmi.lloyd(
            X,
            sample_weight,
            np.ascontiguousarray(centers, dtype=np.float64),
            settings.kmeans_block_rows,
            row_groups(n),
            labels,
            sq_dist,
        )
        return counts, sums, inertia, labels, sq_dist

    def nearest(self, X, centers):
        """Each row's nearest centre (int32) and its squared distance.

        Rows with NaN are measured on their observed coordinates.
        """
        if self._has_missing(X):
            return self._missing_lloyd(X, np.empty(0), centers)[3:]
        return nearest(X, centers, self.shift)

    def sq_distances(self, X, centers):
        """Squared distances of every row to every centre, shape (n, len(centers)).

        Rows with NaN are measured on their observed coordinates.
        """
        if self._has_missing(X):
            return gmi.sq_distances(X, np.ascontiguousarray(centers, dtype=np.float64))
        return sq_distances(X, centers)

    def dense_rows(self, X, indices):
        """Rows ``indices`` as float64 points (a missing value taken at the data centre)."""
        rows = np.asarray(X[np.asarray(indices, dtype=np.int64)], dtype=np.float64)
        if self.missing is not False:
            missing = np.isnan(rows)
            if missing.any():
                rows = np.where(missing, self.shift[None, :], rows)
        return rows

    def observed_rows(self, X):
        """Boolean (n,): True for the rows with at least one observed value."""
        return mr.observed_rows(X)


def has_nan(X):
    """Whether the float rows ``X`` hold a NaN (one pass, no temporary)."""
    if X.shape[0] == 0:
        return False
    return bool(mr.nan_summary(X, settings.kmeans_block_rows, row_groups(X.shape[0]))[1])
