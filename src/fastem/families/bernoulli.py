"""Bernoulli mixtures: multivariate binary data, dense or CSR, on the fused kernels.

A component k has a probability vector ``mu_k`` in (0, 1)^D and
``p(x | k) = prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d)``.  The sufficient statistics
are ``N_k = sum_n w_n r_nk`` and ``S_kd = sum_n w_n r_nk x_nd``; the M-step is the
posterior mode under a symmetric Beta(alpha + 1, alpha + 1) prior on every
``mu_kd``::

    mu_kd = (S_kd + alpha) / (N_k + 2 alpha)
    1 - mu_kd = (N_k - S_kd + alpha) / (N_k + 2 alpha)      (taken from the sums,
                                                             not as 1 - mu_kd)
    weight_k = N_k / sum_j N_j

so ``log mu`` and ``log(1 - mu)`` stay finite even for a feature that is always
(or never) on within a component, and an empty component falls back to 0.5.
"""

from dataclasses import dataclass

import numba
import numpy as np

from .._settings import settings
from .._stats import ColumnMoments, SufficientStats
from ..kernels import bernoulli as bk
from ._common import matmul_path
from .binary import BinaryCSR


@dataclass
class BernoulliParams:
    """Parameters of a Bernoulli mixture in float64, with the kernels' view of them.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
        The probabilities ``mu``.
    log_odds : ndarray of shape (n_features, n_components)
        ``log mu - log(1 - mu)``, laid out as the kernels multiply it.
    log_complement : ndarray of shape (n_components,)
        ``sum_d log(1 - mu_kd)``: the log-density of the all-zero row.
    """

    weights: np.ndarray
    means: np.ndarray
    log_odds: np.ndarray
    log_complement: np.ndarray

    @classmethod
    def from_means(cls, weights, means):
        """Parameters from weights and probabilities (user-given or fitted attributes).

        Probabilities are clipped to ``[tiny, 1 - eps/2]`` so that their logs
        are finite even when a value has been rounded to 0 or 1.
        """
        weights = np.asarray(weights, dtype=np.float64)
        means = np.clip(
            np.asarray(means, dtype=np.float64), np.finfo(np.float64).tiny, np.nextafter(1.0, 0.0)
        )
        log_mu = np.log(means)
        log_1m = np.log1p(-means)
        return cls(
            weights,
            means,
            np.ascontiguousarray((log_mu - log_1m).T),
            log_1m.sum(axis=1),
        )


class BernoulliFamily:
    """The family contract (:class:`fastem.families.Family`) for Bernoulli mixtures.

    Works on dense C-contiguous rows holding 0/1 (the estimator passes uint8;
    the kernels also take float32 and float64) and on :class:`BinaryCSR` rows.

    Parameters
    ----------
    n_components : int
        ``K``.
    n_features : int
        ``D``.
    dtype : numpy.dtype, default=float64
        dtype of the user's data (binary values are exact in any dtype).
    shift : None
        Unused: sums of 0/1 rows do not cancel, so no data centre is needed.
    """

    uses_shift = False

    def __init__(self, n_components, n_features, dtype=np.float64, shift=None):
        self.n_components = n_components
        self.n_features = n_features
        self.dtype = np.dtype(dtype)
        self.block_size = min(
            1024, max(64, settings.bernoulli_block_elements // max(1, n_features))
        )
        self.matmul_path = matmul_path(n_features, n_components, has_loops=False)

    def _n_groups(self, X):
        # One group per kernel thread, fewer when a group would get less than
        # ~1 Mflop of work: waking a thread costs tens of microseconds.
        work = X.nnz if isinstance(X, BinaryCSR) else X.shape[0] * self.n_features
        work *= self.n_components
        return max(1, min(numba.get_num_threads(), work // settings.bernoulli_min_group_work))

    # -- one pass of the kernels --------------------------------------------------------
    def stats(self, X, sample_weight, W, c, mode, resp=None):
        """Counts (K,), sums (D, K) and total of one kernel pass (see ``kernels.bernoulli``)."""
        c = np.ascontiguousarray(c, dtype=np.float64)
        K = c.shape[0]
        if resp is None:
            resp = np.zeros((0, K))
        if isinstance(X, BinaryCSR):
            return bk.csr_stats(
                X.indptr, X.indices, sample_weight, W, c, resp, mode, self._n_groups(X)
            )
        return bk.dense_stats(
            X,
            sample_weight,
            W,
            c,
            resp,
            mode,
            self.block_size,
            self._n_groups(X),
            self.matmul_path,
        )

    def scores(self, X, W, c):
        """``X @ W + c`` for every row, shape (n_samples, K), float64."""
        c = np.ascontiguousarray(c, dtype=np.float64)
        W = np.ascontiguousarray(W, dtype=np.float64)
        if isinstance(X, BinaryCSR):
            return bk.csr_scores(X.indptr, X.indices, W, c, self._n_groups(X))
        return bk.dense_scores(X, W, c, self.block_size, self._n_groups(X), self.matmul_path)

    def _wrap(self, X, sample_weight, counts, sums, total):
        weight_sum = float(sample_weight.sum()) if sample_weight.size else float(X.shape[0])
        return SufficientStats({"counts": counts, "sums": sums}, float(total), weight_sum, None)

    def estep_stats(self, X, sample_weight, params):
        """Fused E-step over ``X``: statistics and summed log-likelihood."""
        with np.errstate(divide="ignore"):
            c = params.log_complement + np.log(params.weights)
        counts, sums, total = self.stats(X, sample_weight, params.log_odds, c, bk.SOFT)
        return self._wrap(X, sample_weight, counts, sums, total)

    def resp_stats(self, X, sample_weight, resp):
        """Statistics for given responsibilities ``resp`` (n_samples, K)."""
        K = self.n_components
        counts, sums, _ = self.stats(
            X,
            sample_weight,
            np.zeros((self.n_features, K)),
            np.zeros(K),
            bk.GIVEN,
            np.ascontiguousarray(resp, dtype=np.float64),
        )
        return self._wrap(X, sample_weight, counts, sums, 0.0)

    def hard_stats(self, X, sample_weight, centers):
        """Statistics of the hard assignment of every row to its nearest centre (k-means)."""
        centers = np.asarray(centers, dtype=np.float64)
        W = np.ascontiguousarray(2.0 * centers.T)
        c = -np.einsum("kd,kd->k", centers, centers)
        counts, sums, total = self.stats(X, sample_weight, W, c, bk.HARD)
        return self._wrap(X, sample_weight, counts, sums, total)

    # -- initialisation ---------------------------------------------------------------
    def column_moments(self, X, sample_weight):
        """Weighted column moments of a chunk: mean ``p``, spread ``W p (1 - p)`` (x^2 = x)."""
        stats = self.hard_stats(X, sample_weight, np.zeros((1, self.n_features)))
        weight = float(stats.arrays["counts"][0])
        mean = stats.arrays["sums"][:, 0] / weight if weight > 0 else np.zeros(self.n_features)
        return ColumnMoments(weight, mean, weight * mean * (1.0 - mean))

    def lloyd_stats(self, X, sample_weight, centers):
        """Counts and sums of ``x - c_k`` (K, D) of the rows nearest to each centre; -inertia."""
        stats = self.hard_stats(X, sample_weight, centers)
        sums = stats.arrays["sums"]
        # Each row goes to one centre and x^2 = x: sum w |x|^2 is the sum of all sums.
        inertia = max(float(sums.sum()) - stats.log_likelihood, 0.0)
        counts = stats.arrays["counts"]
        offsets = sums.T - counts[:, None] * np.asarray(centers, dtype=np.float64)
        return SufficientStats({"counts": counts, "sums": offsets}, log_likelihood=-inertia)

    def nearest(self, X, centers):
        """Each row's nearest centre and its squared distance."""
        distances = self.sq_distances(X, centers)
        labels = distances.argmin(axis=1)
        return labels, distances[np.arange(labels.size), labels]

    @staticmethod
    def dense_rows(X, indices):
        """Rows at ``indices`` as a float64 (len(indices), D) array."""
        indices = np.asarray(indices, dtype=np.int64)
        if isinstance(X, BinaryCSR):
            out = np.zeros((indices.size, X.shape[1]))
            for r, i in enumerate(indices):
                out[r, X.indices[X.indptr[i] : X.indptr[i + 1]]] = 1.0
            return out
        return X[indices].astype(np.float64)

    @staticmethod
    def row_sq_norms(X):
        """``|x|^2`` of every row: its number of ones."""
        if isinstance(X, BinaryCSR):
            return np.diff(X.indptr).astype(np.float64)
        return X.sum(axis=1, dtype=np.float64)

    def sq_distances(self, X, centers):
        """Squared distances (n_samples, m) from every row to ``m`` centres, by one product."""
        sq_norms = self.row_sq_norms(X)
        centers = np.asarray(centers, dtype=np.float64)
        scores = self.scores(X, 2.0 * centers.T, -np.einsum("kd,kd->k", centers, centers))
        np.subtract(sq_norms[:, None], scores, out=scores)
        return np.maximum(scores, 0.0, out=scores)

    # -- M-step ---------------------------------------------------------------------------
    def m_step(self, stats, alpha):
        """Posterior-mode parameters under a Beta(alpha + 1, alpha + 1) prior.

        ``mu = (S + alpha) / (N + 2 alpha)`` and ``1 - mu = (N - S + alpha) / (N + 2 alpha)``
        (the latter from the sums, so it keeps its relative accuracy when
        ``mu`` is within rounding of 1); ``weights = N / sum N``.
        """
        counts = stats.arrays["counts"]
        sums = stats.arrays["sums"]
        log_denominator = np.log(counts + 2.0 * alpha)
        # (D, K) temporaries are worked in place: with D in the 1e5 range they
        # are the largest arrays of a sparse fit.
        log_mu = sums + alpha
        np.log(log_mu, out=log_mu)
        log_mu -= log_denominator
        # N - S >= 0 exactly; the two sums are rounded separately.
        log_1m = np.subtract(counts, sums)
        np.maximum(log_1m, 0.0, out=log_1m)
        log_1m += alpha
        np.log(log_1m, out=log_1m)
        log_1m -= log_denominator
        means = np.ascontiguousarray(log_mu.T)
        np.exp(means, out=means)
        log_complement = log_1m.sum(axis=0)
        log_odds = np.subtract(log_mu, log_1m, out=log_mu)
        return BernoulliParams(counts / counts.sum(), means, log_odds, log_complement)

    # -- prediction ------------------------------------------------------------------------
    def log_prob(self, X, params):
        """Component log-densities ``log p_k(x)``, shape (n_samples, n_components)."""
        return self.scores(X, params.log_odds, params.log_complement)

    def n_parameters(self):
        """Free parameters: K * D probabilities and K - 1 weights."""
        return int(self.n_components * self.n_features + self.n_components - 1)

    def sample(self, params, n_samples, rng):
        """Binary rows (uint8) drawn component by component, and their components."""
        counts = rng.multinomial(n_samples, params.weights)
        parts = [
            (rng.uniform(size=(int(c), self.n_features)) < mean).astype(np.uint8)
            for mean, c in zip(params.means, counts, strict=True)
        ]
        labels = np.concatenate([np.full(int(c), k, dtype=np.int64) for k, c in enumerate(counts)])
        return np.vstack(parts), labels
