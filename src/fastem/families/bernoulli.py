"""Bernoulli mixtures: multivariate binary data, dense or CSR, on the fused kernels.

A component k has a probability vector ``mu_k`` in [0, 1]^D and
``p(x | k) = prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d)``.  The sufficient statistics
are ``N_k = sum_n w_n r_nk`` and ``S_kd = sum_n w_n r_nk x_nd``; the M-step is the
posterior mode under a symmetric Beta(alpha + 1, alpha + 1) prior on every
``mu_kd``::

    mu_kd = (S_kd + alpha) / (N_k + 2 alpha)
    1 - mu_kd = (N_k - S_kd + alpha) / (N_k + 2 alpha)      (taken from the sums,
                                                             not as 1 - mu_kd)
    weight_k = N_k / sum_j N_j

With ``alpha > 0`` every probability lies strictly inside (0, 1). ``alpha = 0``
is the plain maximum-likelihood M-step ``mu_kd = S_kd / N_k``: a feature that
is never (always) on within a component gets ``mu_kd = 0`` (``1``) exactly, and a
row with that feature on (off) is impossible under the component. An empty
component (``N_k = 0``) gets weight 0 and ``mu_k = 0.5``, the limit of any
``alpha > 0``, so an M-step never returns a non-finite model.

Impossible events and the kernels
---------------------------------
The kernels score a row as ``x @ log_odds + log_complement``; ``log 0 = -inf``
there would give ``0 * inf = NaN``. So the logarithms handed to the kernels are
clamped at :data:`LOG_FLOOR` ``= log(tiny) ~ -708.4``: the E-step treats an
impossible feature as having probability ``tiny ~ 2.2e-308``, which makes such
a row's responsibility underflow to 0 against any component under which it is
possible (the kernels' exponential flushes to 0 below -708) while the round-off
it adds to possible rows (``x_d log_odds_d`` cancelling ``log(1 - mu_d)``) is of
order ``708 eps ~ 1.6e-13`` per clamped feature. Prediction is exact:
:meth:`BernoulliFamily.log_prob` counts, by one more product with 0/1 weights
(``(n, K)``, no ``n x D`` temporary), the features of every row that are
impossible under every component and returns ``-inf`` where there is one.
"""

from dataclasses import dataclass

import numba
import numpy as np

from .._settings import settings
from .._stats import ColumnMoments, SufficientStats
from ..kernels import bernoulli as bk
from ._common import matmul_path
from .binary import BinaryCSR

#: Floor of ``log mu`` and ``log(1 - mu)`` in the parameters handed to the kernels:
#: ``log`` of the smallest normal float64 (see the module docstring).
LOG_FLOOR = float(np.log(np.finfo(np.float64).tiny))


def _impossible_counter(means):
    """``(W, c)`` with ``x @ W + c`` = features of ``x`` impossible under each component.

    A feature is impossible where ``mu_kd = 0`` and ``x_d = 1`` or ``mu_kd = 1`` and
    ``x_d = 0``: ``x @ [mu = 0] + (1 - x) @ [mu = 1]``. Integer-valued, so exact in
    float64 in any summation order. None when no probability is exactly 0 or 1.
    """
    zeros = means == 0.0
    ones = means == 1.0
    if not (zeros.any() or ones.any()):
        return None
    W = np.ascontiguousarray((zeros.astype(np.float64) - ones).T)
    return W, ones.sum(axis=1).astype(np.float64)


@dataclass
class BernoulliParams:
    """Parameters of a Bernoulli mixture in float64, with the kernels' view of them.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
        The probabilities ``mu``, in [0, 1].
    log_odds : ndarray of shape (n_features, n_components)
        ``log mu - log(1 - mu)``, laid out as the kernels multiply it; both
        logarithms clamped at :data:`LOG_FLOOR`, so always finite.
    log_complement : ndarray of shape (n_components,)
        ``sum_d log(1 - mu_kd)`` (clamped likewise): the log-density of the
        all-zero row.
    impossible : tuple of (ndarray of shape (n_features, n_components), ndarray) or None
        Where probabilities are exactly 0 or 1 (maximum likelihood,
        ``alpha = 0``): weights and constants whose product with a row counts
        its impossible features per component (see :func:`_impossible_counter`).
        None when every probability is inside (0, 1).
    """

    weights: np.ndarray
    means: np.ndarray
    log_odds: np.ndarray
    log_complement: np.ndarray
    impossible: tuple | None = None

    @classmethod
    def from_means(cls, weights, means, exact=False):
        """Parameters from weights and probabilities (user-given or fitted attributes).

        With ``exact=False`` (a model with ``alpha > 0``, whose probabilities
        lie inside (0, 1)) they are clipped to ``[tiny, 1 - eps/2]``, so that a
        value rounded to 0 or 1 keeps a finite log-density. With ``exact=True``
        (``alpha = 0``) probabilities of exactly 0 and 1 are events that cannot
        occur: their logarithms are clamped at :data:`LOG_FLOOR` for the kernels
        and :meth:`BernoulliFamily.log_prob` gives ``-inf`` to the rows they rule out.
        """
        weights = np.asarray(weights, dtype=np.float64)
        means = np.asarray(means, dtype=np.float64)
        if not exact:
            means = np.clip(means, np.finfo(np.float64).tiny, np.nextafter(1.0, 0.0))
            log_mu = np.log(means)
            log_1m = np.log1p(-means)
            impossible = None
        else:
            means = np.clip(means, 0.0, 1.0)
            with np.errstate(divide="ignore"):
                log_mu = np.maximum(np.log(means), LOG_FLOOR)
                log_1m = np.maximum(np.log1p(-means), LOG_FLOOR)
            impossible = _impossible_counter(means)
        return cls(
            weights,
            means,
            np.ascontiguousarray((log_mu - log_1m).T),
            log_1m.sum(axis=1),
            impossible,
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
        Kept as the attribute ``shift`` (always None), which the estimator
        carries between :meth:`~fastem.BernoulliMixture.partial_fit` calls.
    """

    uses_shift = False

    def __init__(self, n_components, n_features, dtype=np.float64, shift=None):
        self.n_components = n_components
        self.n_features = n_features
        self.dtype = np.dtype(dtype)
        self.shift = None
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
        ``mu`` is within rounding of 1); ``weights = N / sum N``. ``alpha = 0``
        is maximum likelihood: ``means`` may hold exact 0 and 1 (the kernels'
        logarithms are clamped at :data:`LOG_FLOOR`), and an empty component
        (``N_k = 0``) gets ``mu_k = 0.5`` instead of ``0 / 0``.
        """
        counts = stats.arrays["counts"]
        sums = stats.arrays["sums"]
        total = float(counts.sum())
        if not (total > 0.0 and np.isfinite(total)):
            raise ValueError(
                f"The M-step needs a positive, finite total weight, got {total!r}; "
                "check sample_weight."
            )
        exact = alpha == 0
        # Per-component pseudo-count: alpha, or 1 for an empty component when
        # alpha = 0 (any positive value gives its limit 0.5 there).
        pseudo = np.where(exact & (counts <= 0.0), 1.0, float(alpha))
        denominator = counts + 2.0 * pseudo
        log_denominator = np.log(denominator)
        # (D, K) temporaries are worked in place: with D in the 1e5 range they
        # are the largest arrays of a sparse fit.
        log_mu = sums + pseudo
        means = np.ascontiguousarray((log_mu / denominator).T)
        np.clip(means, 0.0, 1.0, out=means)
        with np.errstate(divide="ignore"):
            np.log(log_mu, out=log_mu)
            log_mu -= log_denominator
            # N - S >= 0 exactly; the two sums are rounded separately.
            log_1m = np.subtract(counts, sums)
            np.maximum(log_1m, 0.0, out=log_1m)
            if exact:
                # Exact 1 wherever the rounded sums leave no zero (N - S <= 0).
                means.T[(log_1m == 0.0) & (counts > 0.0)] = 1.0
            log_1m += pseudo
            np.log(log_1m, out=log_1m)
        log_1m -= log_denominator
        np.maximum(log_mu, LOG_FLOOR, out=log_mu)
        np.maximum(log_1m, LOG_FLOOR, out=log_1m)
        log_complement = log_1m.sum(axis=0)
        log_odds = np.subtract(log_mu, log_1m, out=log_mu)
        impossible = _impossible_counter(means) if exact else None
        return BernoulliParams(counts / total, means, log_odds, log_complement, impossible)

    # -- prediction ------------------------------------------------------------------------
    def log_prob_parts(self, X, params):
        """The kernels' log-densities (n_samples, K) and where rows are impossible.

        Returns ``(scores, impossible)``: ``scores`` from the clamped logarithms
        (finite), ``impossible`` a boolean (n_samples, K) array, True where a
        row has a feature of probability exactly 0 under the component, or
        None when no probability is exactly 0 or 1.
        """
        scores = self.scores(X, params.log_odds, params.log_complement)
        if params.impossible is None:
            return scores, None
        W, c = params.impossible
        return scores, self.scores(X, W, c) > 0.5

    def log_prob(self, X, params):
        """Component log-densities ``log p_k(x)``, shape (n_samples, n_components).

        ``-inf`` exactly where a row is impossible under a component (a feature
        with probability 0 of its value); otherwise finite.
        """
        scores, impossible = self.log_prob_parts(X, params)
        if impossible is not None:
            scores[impossible] = -np.inf
        return scores

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
