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

Missing entries
---------------
Dense rows may hold missing entries, stored as the code :data:`MISSING` ``= 2``
in the same uint8 rows (one byte per entry, so sources slice, gather and
memory-map them as any other rows, and ``X.max() < 2`` tells in one fast pass
that a chunk has none). Under missing at random a row's likelihood is the
product over its observed features only, and the M-step's per-feature
statistics count only the rows where the feature is observed::

    O_kd = N_k - M_kd,   M_kd = sum_n w_n r_nk [x_nd missing]
    mu_kd = (S_kd + alpha) / (O_kd + 2 alpha)

with ``S_kd`` summed over observed entries (a missing entry adds 0). Chunks
without a missing entry take the complete-data kernels exactly as before.
In a chunk with missing entries the complete rows still do; the rows with a
missing entry go through the same kernels as ``[x, m]`` (2 D columns: the
observed values with 0 at missing entries, then the missing indicators) with
weights ``[log_odds; -log(1 - mu)]``, which removes every missing feature's
term ``log(1 - mu_kd)`` from ``log_complement``, and whose statistics of ``m``
are ``M``. The score stays linear in the row, so no per-pattern work is needed.
A row with every entry missing gets the mixture weights as its
responsibilities. In the k-means geometry of the initialisation, distances
are taken over the observed features of a row, and a missing entry of a row
used as a centre (:meth:`BernoulliFamily.dense_rows`) is 0.5, equidistant from
0 and 1, which also gives the feature probability 0.5 in the component it seeds.
"""

from dataclasses import dataclass

import numba
import numpy as np

from .._settings import settings
from .._stats import ColumnMoments, SufficientStats
from ..kernels import bernoulli as bk
from ..kernels import bernoulli_csr as bk_csr
from ..kernels import bernoulli_missing as bk_missing
from ._common import kernel_view, matmul_path, rows_as_kernel_views
from .binary import BinaryCSR

#: Floor of ``log mu`` and ``log(1 - mu)`` in the parameters handed to the kernels:
#: ``log`` of the smallest normal float64 (see the module docstring).
LOG_FLOOR = float(np.log(np.finfo(np.float64).tiny))

#: Code of a missing entry in the uint8 rows (see the module docstring).
MISSING = bk_missing.MISSING

#: The ``missing`` statistics of a chunk without missing entries: zero, and
#: broadcast against the (D, K) statistics of chunks with some, so that sums
#: over chunks need no (D, K) array of zeros per chunk.
NO_MISSING = np.zeros((1, 1))


def missing_split(X):
    """Where the rows of a chunk miss entries; None when none does.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or BinaryCSR
        Validated rows.

    Returns
    -------
    None or tuple of (ndarray, ndarray, ndarray)
        ``(complete, incomplete, augmented)``: the indices of the rows without
        and with a :data:`MISSING` entry and the latter as ``[x, m]`` rows
        (see :func:`fastem.kernels.bernoulli_missing.augmented_rows`). None for CSR
        rows, other dtypes than uint8 and uint8 rows without a missing entry.
    """
    if isinstance(X, BinaryCSR) or X.dtype != np.uint8 or X.size == 0:
        return None
    if X.max() < MISSING:
        return None
    flags = bk_missing.incomplete_rows(X)
    incomplete = np.flatnonzero(flags)
    return np.flatnonzero(~flags), incomplete, bk_missing.augmented_rows(X, incomplete)


def _missing_weights(W_missing, W):
    """The weights of the missing indicators: given, computed by a callable, or zeros."""
    if W_missing is None:
        return np.zeros_like(W)
    return W_missing() if callable(W_missing) else W_missing


def _take(values, rows):
    """``values[rows]``, or ``values`` itself where it is empty (no weights, no resp)."""
    return values[rows] if values.shape[0] else values


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
    log_complements : ndarray of shape (n_features, n_components) or None
        ``log(1 - mu)`` per feature (clamped likewise), whose sum over the
        features is ``log_complement``: the weights of the missing indicators
        are its negative (rows with missing entries). Kept by an M-step on
        statistics with missing entries, whose ``log(1 - mu)`` come from the
        sums (accurate where ``mu`` rounds to 1); None otherwise (a (D, K)
        array as large as ``log_odds``, needless for complete data), and then
        recomputed from ``means`` when needed, as :meth:`from_means` does.
    """

    weights: np.ndarray
    means: np.ndarray
    log_odds: np.ndarray
    log_complement: np.ndarray
    impossible: tuple | None = None
    log_complements: np.ndarray | None = None

    def missing_weights(self):
        """``-log(1 - mu)``, shape (n_features, n_components): the missing indicators' weights."""
        log_1m = self.log_complements
        if log_1m is None:
            # The logarithms of from_means, which stores ``means`` clipped.
            with np.errstate(divide="ignore"):
                log_1m = np.maximum(np.log1p(-self.means.T), LOG_FLOOR)
        return np.ascontiguousarray(-log_1m)

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


@rows_as_kernel_views
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
        self.block_size = self._block_size(n_features)
        self.matmul_path = matmul_path(n_features, n_components, has_loops=False)
        self._augmented_layout = None

    @staticmethod
    def _block_size(width):
        return min(1024, max(64, settings.bernoulli_block_elements // max(1, width)))

    def _layout(self, augmented):
        """``(block_size, matmul_path)`` of the kernels for rows of D or of 2 D columns."""
        if not augmented:
            return self.block_size, self.matmul_path
        if self._augmented_layout is None:
            width = 2 * self.n_features
            self._augmented_layout = (
                self._block_size(width),
                matmul_path(width, self.n_components, has_loops=False),
            )
        return self._augmented_layout

    def _n_groups(self, X):
        # One group per kernel thread, fewer when a group would get less than
        # ~1 Mflop of work: waking a thread costs tens of microseconds.
        work = X.nnz if isinstance(X, BinaryCSR) else X.shape[0] * X.shape[1]
        work *= self.n_components
        return max(1, min(numba.get_num_threads(), work // settings.bernoulli_min_group_work))

    # -- one pass of the kernels --------------------------------------------------------
    def _kernel_stats(self, X, sample_weight, W, c, mode, resp, augmented=False):
        # Rows taken or augmented here are fresh writable arrays: read-only views
        # (and a fresh copy of W) give each kernel one argument type per dtype.
        sample_weight = kernel_view(sample_weight)
        W = np.array(W, dtype=np.float64, order="C")
        if isinstance(X, BinaryCSR):
            return bk_csr.csr_stats(
                X.indptr, X.indices, sample_weight, W, c, resp, mode, self._n_groups(X)
            )
        block_size, path = self._layout(augmented)
        return bk.dense_stats(
            kernel_view(X), sample_weight, W, c, resp, mode, block_size, self._n_groups(X), path
        )

    def stats(self, X, sample_weight, W, c, mode, resp=None, W_missing=None):
        """One kernel pass (see ``kernels.bernoulli``), marginalising missing entries.

        Parameters
        ----------
        X : ndarray or BinaryCSR
            Validated rows.
        sample_weight : ndarray of shape (n_samples,) or (0,)
        W : ndarray of shape (n_features, n_components)
            Weights of the observed values.
        c : ndarray of shape (n_components,)
            Constants of the scores.
        mode : int
            ``SOFT``, ``HARD`` or ``GIVEN`` of the kernels.
        resp : ndarray of shape (n_samples, n_components), optional
            Responsibilities (``GIVEN``).
        W_missing : ndarray of shape (n_features, n_components) or callable, optional
            Weights of the missing indicators, or a function returning them
            (called only for a chunk with missing entries); zeros when not given.

        Returns
        -------
        counts : ndarray of shape (n_components,)
        sums : ndarray of shape (n_features, n_components)
            Sums over the observed entries (a missing entry adds 0).
        total : float
        missing : ndarray of shape (n_features, n_components) or None
            ``sum_n w_n r_nk [x_nd missing]``; None when no entry is missing.
        """
        c = np.ascontiguousarray(c, dtype=np.float64)
        K = c.shape[0]
        given = resp is not None
        if not given:
            resp = np.zeros((0, K))
        split = missing_split(X)
        if split is None:
            return (*self._kernel_stats(X, sample_weight, W, c, mode, resp), None)
        complete, incomplete, augmented = split
        D = self.n_features
        counts, sums, total = np.zeros(K), np.zeros((D, K)), 0.0
        if complete.size:
            counts, sums, total = self._kernel_stats(
                X[complete],
                _take(sample_weight, complete),
                W,
                c,
                mode,
                _take(resp, complete) if given else resp,
            )
        W_missing = _missing_weights(W_missing, W)
        counts_a, sums_a, total_a = self._kernel_stats(
            augmented,
            _take(sample_weight, incomplete),
            np.ascontiguousarray(np.vstack([W, W_missing]), dtype=np.float64),
            c,
            mode,
            _take(resp, incomplete) if given else resp,
            augmented=True,
        )
        return counts + counts_a, sums + sums_a[:D], total + total_a, sums_a[D:]

    def scores(self, X, W, c, W_missing=None):
        """``X @ W + c`` for every row, shape (n_samples, K), float64.

        Rows with missing entries add ``m @ W_missing`` (``m`` their missing
        indicators; ``W_missing`` zeros when not given) and take no value of
        ``W`` at their missing entries.
        """
        c = np.array(c, dtype=np.float64, order="C")
        W = np.array(W, dtype=np.float64, order="C")  # writable: one kernel type
        if isinstance(X, BinaryCSR):
            return bk_csr.csr_scores(X.indptr, X.indices, W, c, self._n_groups(X))
        split = missing_split(X)
        if split is None:
            return bk.dense_scores(X, W, c, self.block_size, self._n_groups(X), self.matmul_path)
        complete, incomplete, augmented = split
        augmented = kernel_view(augmented)
        out = np.empty((X.shape[0], c.shape[0]))
        if complete.size:
            Xc = kernel_view(X[complete])
            out[complete] = bk.dense_scores(
                Xc, W, c, self.block_size, self._n_groups(Xc), self.matmul_path
            )
        W_missing = _missing_weights(W_missing, W)
        block_size, path = self._layout(True)
        out[incomplete] = bk.dense_scores(
            augmented,
            np.ascontiguousarray(np.vstack([W, W_missing]), dtype=np.float64),
            c,
            block_size,
            self._n_groups(augmented),
            path,
        )
        return out

    def _wrap(self, X, sample_weight, counts, sums, total, missing):
        weight_sum = float(sample_weight.sum()) if sample_weight.size else float(X.shape[0])
        arrays = {"counts": counts, "sums": sums}
        arrays["missing"] = NO_MISSING if missing is None else missing
        return SufficientStats(arrays, float(total), weight_sum, None)

    def estep_stats(self, X, sample_weight, params):
        """Fused E-step over ``X``: statistics and summed log-likelihood.

        Missing entries are marginalised: a row's log-likelihood is over its
        observed features (see the module docstring).
        """
        with np.errstate(divide="ignore"):
            c = params.log_complement + np.log(params.weights)
        out = self.stats(
            X, sample_weight, params.log_odds, c, bk.SOFT, W_missing=params.missing_weights
        )
        return self._wrap(X, sample_weight, *out)

    def resp_stats(self, X, sample_weight, resp):
        """Statistics for given responsibilities ``resp`` (n_samples, K)."""
        K = self.n_components
        counts, sums, _, missing = self.stats(
            X,
            sample_weight,
            np.zeros((self.n_features, K)),
            np.zeros(K),
            bk.GIVEN,
            np.ascontiguousarray(resp, dtype=np.float64),
        )
        return self._wrap(X, sample_weight, counts, sums, 0.0, missing)

    def hard_stats(self, X, sample_weight, centers):
        """Statistics of the hard assignment of every row to its nearest centre (k-means).

        Nearest over a row's observed features: the score ``2 x.c - |c|^2``
        gets ``+ c_d^2`` back for every missing feature ``d``.
        """
        centers = np.asarray(centers, dtype=np.float64)
        W = np.ascontiguousarray(2.0 * centers.T)
        c = -np.einsum("kd,kd->k", centers, centers)
        out = self.stats(X, sample_weight, W, c, bk.HARD, W_missing=lambda: (centers**2).T)
        return self._wrap(X, sample_weight, *out)

    # -- initialisation ---------------------------------------------------------------
    def column_moments(self, X, sample_weight):
        """Weighted column moments of a chunk: mean ``p``, spread ``W p (1 - p)`` (x^2 = x).

        With missing entries, over the observed entries of each column: the
        weight ``W`` is then per column (its observed weight; 0 for a column
        with no observed entry, whose mean is 0), and the moments count the
        chunk's missing entries (``n_missing``).
        """
        stats = self.hard_stats(X, sample_weight, np.zeros((1, self.n_features)))
        weight = float(stats.arrays["counts"][0])
        missing = stats.arrays["missing"]
        if not missing.any():
            mean = stats.arrays["sums"][:, 0] / weight if weight > 0 else np.zeros(self.n_features)
            return ColumnMoments(weight, mean, weight * mean * (1.0 - mean))
        observed = np.maximum(weight - missing[:, 0], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(observed > 0, stats.arrays["sums"][:, 0] / observed, 0.0)
        n_missing = int(np.count_nonzero(X == MISSING))
        return ColumnMoments(observed, mean, observed * mean * (1.0 - mean), n_missing)

    def lloyd_stats(self, X, sample_weight, centers):
        """Counts and sums of ``x - c_k`` (K, D) of the rows nearest to each centre; -inertia.

        A missing entry counts as the centre's own value (an offset of 0), so
        that ``c_k + sums_k / counts_k`` fills it in from the current centre:
        Lloyd's iterations then converge to the means over the observed entries.
        """
        stats = self.hard_stats(X, sample_weight, centers)
        sums = stats.arrays["sums"]
        # Each row goes to one centre and x^2 = x: sum w |x|^2 is the sum of all sums.
        inertia = max(float(sums.sum()) - stats.log_likelihood, 0.0)
        counts = stats.arrays["counts"]
        centers = np.asarray(centers, dtype=np.float64)
        missing = stats.arrays["missing"]
        if not missing.any():
            offsets = sums.T - counts[:, None] * centers
        else:
            offsets = sums.T - (counts[:, None] - missing.T) * centers
        return SufficientStats({"counts": counts, "sums": offsets}, log_likelihood=-inertia)

    def nearest(self, X, centers):
        """Each row's nearest centre and its squared distance."""
        distances = self.sq_distances(X, centers)
        labels = distances.argmin(axis=1)
        return labels, distances[np.arange(labels.size), labels]

    @staticmethod
    def dense_rows(X, indices):
        """Rows at ``indices`` as a float64 (len(indices), D) array; missing entries 0.5."""
        indices = np.asarray(indices, dtype=np.int64)
        if isinstance(X, BinaryCSR):
            out = np.zeros((indices.size, X.shape[1]))
            for r, i in enumerate(indices):
                out[r, X.indices[X.indptr[i] : X.indptr[i + 1]]] = 1.0
            return out
        rows = X[indices].astype(np.float64)
        if X.dtype == np.uint8:
            # A centre's missing entry: equidistant from 0 and 1.
            rows[rows == MISSING] = 0.5
        return rows

    @staticmethod
    def row_sq_norms(X):
        """``|x|^2`` of every row over its observed entries: its number of ones."""
        if isinstance(X, BinaryCSR):
            return np.diff(X.indptr).astype(np.float64)
        if missing_split(X) is not None:
            return np.count_nonzero(X == 1, axis=1).astype(np.float64)
        return X.sum(axis=1, dtype=np.float64)

    def sq_distances(self, X, centers):
        """Squared distances (n_samples, m) from every row to ``m`` centres, by one product.

        Over the observed features of each row (the partial distance of
        k-means with missing values).
        """
        sq_norms = self.row_sq_norms(X)
        centers = np.asarray(centers, dtype=np.float64)
        scores = self.scores(
            X,
            2.0 * centers.T,
            -np.einsum("kd,kd->k", centers, centers),
            W_missing=lambda: np.ascontiguousarray((centers**2).T),
        )
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
        (``N_k = 0``) gets ``mu_k = 0.5`` instead of ``0 / 0``. With missing
        entries ``N`` is, per feature, the observed weight ``O = N - M``, and a
        feature never observed in a component gets ``mu = 0.5`` likewise.
        """
        counts = stats.arrays["counts"]
        sums = stats.arrays["sums"]
        missing = stats.arrays.get("missing")
        total = float(counts.sum())
        if not (total > 0.0 and np.isfinite(total)):
            raise ValueError(
                f"The M-step needs a positive, finite total weight, got {total!r}; "
                "check sample_weight."
            )
        exact = alpha == 0
        if missing is None or not missing.any():
            # Per-component pseudo-count: alpha, or 1 for an empty component when
            # alpha = 0 (any positive value gives its limit 0.5 there).
            observed = counts
        else:
            # Per feature and component: the weight of the rows observing it.
            observed = np.maximum(counts - missing, 0.0)
        pseudo = np.where(exact & (observed <= 0.0), 1.0, float(alpha))
        denominator = observed + 2.0 * pseudo
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
            log_1m = np.subtract(observed, sums)
            np.maximum(log_1m, 0.0, out=log_1m)
            if exact:
                # Exact 1 wherever the rounded sums leave no zero (N - S <= 0).
                means.T[(log_1m == 0.0) & (observed > 0.0)] = 1.0
            log_1m += pseudo
            np.log(log_1m, out=log_1m)
        log_1m -= log_denominator
        np.maximum(log_mu, LOG_FLOOR, out=log_mu)
        np.maximum(log_1m, LOG_FLOOR, out=log_1m)
        log_complement = log_1m.sum(axis=0)
        log_odds = np.subtract(log_mu, log_1m, out=log_mu)
        impossible = _impossible_counter(means) if exact else None
        return BernoulliParams(
            counts / total,
            means,
            log_odds,
            log_complement,
            impossible,
            None if observed is counts else log_1m,
        )

    # -- prediction ------------------------------------------------------------------------
    def log_prob_parts(self, X, params):
        """The kernels' log-densities (n_samples, K) and where rows are impossible.

        Returns ``(scores, impossible)``: ``scores`` from the clamped logarithms
        (finite), ``impossible`` a boolean (n_samples, K) array, True where a
        row has a feature of probability exactly 0 under the component, or
        None when no probability is exactly 0 or 1. Missing entries are
        marginalised (they are never impossible).
        """
        scores = self.scores(
            X, params.log_odds, params.log_complement, W_missing=params.missing_weights
        )
        if params.impossible is None:
            return scores, None
        W, c = params.impossible

        def uncounted():
            # The constant counts every feature of probability 1 as an
            # impossible zero; a missing entry takes its count back.
            return -(params.means == 1.0).T.astype(np.float64)

        return scores, self.scores(X, W, c, W_missing=uncounted) > 0.5

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
