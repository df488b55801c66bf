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
from numbers import Integral, Real

import numba
import numpy as np
import scipy.sparse as sp
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data

from ._init import (
    SEEDING_SAMPLE_ROWS,
    FarthestRows,
    greedy_kmeans_plusplus,
    seed_indices,
    seeding_sample,
)
from ._mixture import Mixture
from ._stats import SufficientStats
from .gaussian import _check_weights
from .kernels import bernoulli as bk
from .kernels._gemm import MATMUL_BLAS, MATMUL_TILED
from .kernels._simd import wide_vectors

_RANDOM_INIT_CHUNK = 65536
# Elements of a float64 block of dense rows: about 1 MiB keeps it in L2 next to
# BLAS's packed panels; the products barely care between 128 and 1024 rows.
_BLOCK_ELEMENTS = 1 << 17
# Elements examined at a time by the 0/1 check of dense input (bounds its temporaries).
_CHECK_ELEMENTS = 1 << 22
# Multiply-adds below which a kernel call runs on fewer threads.
_MIN_GROUP_WORK = 1 << 20


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


class BinaryCSR:
    """Validated CSR rows of 0/1 values: int64 offsets, int32 or int64 columns, ones only.

    Explicit zeros and duplicate entries have been removed, so every stored
    entry is a 1 and the kernels read no values at all.

    Parameters
    ----------
    indptr : ndarray of shape (n_samples + 1,), int64
    indices : ndarray of shape (nnz,), int32 or int64
    shape : tuple of int
    dtype : numpy.dtype
        dtype of the user's matrix (kept for :meth:`BernoulliMixture.sample`).
    """

    def __init__(self, indptr, indices, shape, dtype):
        self.indptr = indptr
        self.indices = indices
        self.shape = shape
        self.dtype = dtype

    @property
    def nnz(self):
        """Number of ones in these rows."""
        return int(self.indptr[-1] - self.indptr[0])

    def rows(self, start, stop):
        """Rows ``start:stop`` as a view (the offsets stay absolute)."""
        return BinaryCSR(
            self.indptr[start : stop + 1], self.indices, (stop - start, self.shape[1]), self.dtype
        )

    def take_rows(self, indices):
        """The rows at ``indices`` (in that order) as a new :class:`BinaryCSR`."""
        indices = np.asarray(indices, dtype=np.int64)
        starts, stops = self.indptr[indices], self.indptr[indices + 1]
        lengths = stops - starts
        indptr = np.zeros(indices.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # Positions of every selected one in self.indices, row after row.
        positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return BinaryCSR(
            indptr, self.indices[positions], (indices.size, self.shape[1]), self.dtype
        )

    def __getitem__(self, key):
        # Sources cut chunks of rows with X[start:stop]; nothing else is supported.
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("BinaryCSR supports only contiguous row slices.")
        start, stop, _ = key.indices(self.shape[0])
        return self.rows(start, max(start, stop))


def _raise_not_binary(n_bad, row, col, value, negative):
    prefix = "Negative values in data passed to BernoulliMixture. " if negative else ""
    raise ValueError(
        f"{prefix}BernoulliMixture needs binary data (only 0 and 1): {n_bad} "
        f"entr{'y is' if n_bad == 1 else 'ies are'} neither 0 nor 1, the first at "
        f"(row {row}, column {col}) with value {value!r}."
    )


def _scan(values):
    """Count the entries of a 1-D or 2-D chunk that are not 0/1, and find the first one."""
    bad = (values != 0) & (values != 1)
    count = int(np.count_nonzero(bad))
    first = int(np.flatnonzero(bad)[0]) if count else -1
    return count, first


def check_binary_dense(X):
    """Raise a ``ValueError`` naming the count and first position of non-0/1 entries.

    Works on bounded row chunks so that no N x D temporary is made.
    """
    if X.dtype == np.bool_ or X.size == 0:
        return
    n_samples, n_features = X.shape
    step = max(1, _CHECK_ELEMENTS // max(1, n_features))
    n_bad, first, negative = 0, None, False
    for start in range(0, n_samples, step):
        chunk = X[start : start + step]
        count, where = _scan(chunk)
        if count:
            negative = negative or bool(np.any(chunk < 0))
            if first is None:
                row, col = divmod(where, n_features)
                first = (start + row, col, chunk[row, col].item())
        n_bad += count
    if n_bad:
        _raise_not_binary(n_bad, *first, negative)


def binary_csr(X):
    """Validate a scipy sparse matrix of 0/1 values into a :class:`BinaryCSR`.

    Any format is converted to CSR (rows are what the kernels walk); duplicate
    entries are summed before the check, explicit zeros dropped. The column
    indices are used in their own dtype (int32 or int64: a column number is
    below n_features either way), so no nnz-sized copy is made of a CSR
    matrix in canonical form; the row offsets are widened to int64.
    """
    if X.format != "csr":
        X = X.tocsr()
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    data = X.data
    n_zeros = data.size - int(np.count_nonzero(data))
    if data.dtype != np.bool_:
        n_bad, first, negative = 0, -1, False
        for start in range(0, data.size, _CHECK_ELEMENTS):
            chunk = data[start : start + _CHECK_ELEMENTS]
            count, where = _scan(chunk)
            if count:
                negative = negative or bool(np.any(chunk < 0))
                if first < 0:
                    first = start + where
            n_bad += count
        if n_bad:
            row = int(np.searchsorted(X.indptr, first, side="right")) - 1
            _raise_not_binary(n_bad, row, int(X.indices[first]), data[first].item(), negative)
    indptr = X.indptr.astype(np.int64)  # always a copy, never aliasing the user's
    indices = X.indices
    if indices.dtype not in (np.int32, np.int64):
        indices = indices.astype(np.int64)
    if n_zeros:
        ones = data != 0
        indptr = np.concatenate(([0], np.cumsum(ones, dtype=np.int64)))[indptr]
        indices = indices[ones]
    return BinaryCSR(indptr, np.ascontiguousarray(indices), X.shape, X.dtype)


def _dense_binary_rows(X):
    """Checked 0/1 rows as the kernels read them: C-contiguous uint8, whatever the dtype.

    One byte per entry is exact for 0/1 and is what every EM pass then reads:
    float64 rows stored once as uint8 made a B4 iteration (200,000 x 784,
    K=20) about 10% faster than multiplying the float64 rows in place, for a
    one-off copy of an eighth of their size; a bool array is only viewed.
    """
    check_binary_dense(X)
    if X.dtype == np.bool_:
        return np.ascontiguousarray(X).view(np.uint8)
    return X.astype(np.uint8, order="C")


class BernoulliFamily:
    """The family contract of ``DESIGN.md`` for multivariate Bernoulli mixtures.

    Works on dense C-contiguous rows holding 0/1 (the estimator passes uint8;
    the kernels also take float32 and float64) and on :class:`BinaryCSR` rows.

    Parameters
    ----------
    n_components, n_features : int
    block_size : int, optional
        Rows per block of the dense kernel; by default about 1 MiB of float64.
    """

    def __init__(self, n_components, n_features, block_size=None):
        self.n_components = n_components
        self.n_features = n_features
        if block_size is None:
            block_size = min(1024, max(64, _BLOCK_ELEMENTS // max(1, n_features)))
        self.block_size = block_size
        # How the dense kernels multiply their blocks; tests pin each path in turn.
        self.matmul_path = MATMUL_TILED if wide_vectors() else MATMUL_BLAS
        self.dtype = np.float64
        # No centre: sums of 0/1 rows do not cancel, so the statistics need no shift.
        self.shift = None

    def set_shift(self, source):
        """Nothing to do: binary statistics are taken around the origin."""

    def _n_groups(self, X):
        # One group per kernel thread, fewer when a group would get less than
        # ~1 Mflop of work: waking a thread costs tens of microseconds.
        work = X.nnz if isinstance(X, BinaryCSR) else X.shape[0] * self.n_features
        work *= self.n_components
        return max(1, min(numba.get_num_threads(), work // _MIN_GROUP_WORK))

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

    def seed_stats(self, rows, row_weights):
        """Statistics of component k = ``rows[k]`` alone (responsibility 1, its weight)."""
        counts = np.asarray(row_weights, dtype=np.float64)
        return SufficientStats(
            {"counts": counts, "sums": np.ascontiguousarray((rows * counts[:, None]).T)},
            0.0,
            float(counts.sum()),
            None,
        )

    # -- helpers for the initialisation ------------------------------------------------
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

    def sq_distances(self, X, sq_norms, centers):
        """Squared distances (n_samples, m) from every row to ``m`` centres, by one product."""
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

    def n_parameters(self, params):
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


# -- initialisation over a source of rows (in memory, chunked or distributed) ------------
def _in_memory_rows(source):
    """The validated rows of an in-memory source, or None for other sources."""
    if getattr(source, "in_memory", False) and hasattr(source, "X"):
        return source.X
    return None


def _take_rows(family, source, indices):
    """Rows at ``indices`` as a dense float64 array, and their weights."""
    X = _in_memory_rows(source)
    if X is None:
        rows, weights = source.take(indices)
        return np.asarray(rows, dtype=np.float64), np.asarray(weights, dtype=np.float64)
    w = source.sample_weight
    return family.dense_rows(X, indices), (w[indices] if w.size else np.ones(len(indices)))


def _seeding_rows(source, random_state):
    """Rows that k-means++ draws its seeds from: every row, or a uniform sample.

    The same draw as ``fastem._init.seeding_sample`` (so Gaussian and
    Bernoulli mixtures seed alike); in memory, sparse rows stay sparse.
    """
    X = _in_memory_rows(source)
    if X is None:
        return seeding_sample(source, random_state)
    n_samples, w = X.shape[0], source.sample_weight
    if n_samples <= SEEDING_SAMPLE_ROWS:
        return X, w
    indices = np.sort(random_state.choice(n_samples, size=SEEDING_SAMPLE_ROWS, replace=False))
    rows = X.take_rows(indices) if isinstance(X, BinaryCSR) else np.ascontiguousarray(X[indices])
    return rows, (w[indices] if w.size else w)


def kmeans_plusplus(family, X, sample_weight, n_clusters, random_state, n_local_trials=None):
    """Greedy, weighted k-means++ seeding on in-memory dense or CSR binary rows.

    :func:`fastem._init.greedy_kmeans_plusplus` with this family's distances:
    every row's distance to all candidates of a step comes from one kernel
    pass (``|x|^2 - 2 x.c + |c|^2``, O(nnz) per candidate on CSR rows), so a
    sparse matrix is never densified.

    Returns
    -------
    indices : ndarray of shape (n_clusters,)
        Rows chosen as seeds.
    """
    weights = sample_weight if sample_weight.size else np.ones(X.shape[0])
    sq_norms = family.row_sq_norms(X)
    return greedy_kmeans_plusplus(
        weights,
        lambda rows: family.sq_distances(X, sq_norms, family.dense_rows(X, rows)),
        n_clusters,
        random_state,
        n_local_trials,
    )


def _farthest_chunk(family, X, w, centers, n_rows):
    """The chunk's ``n_rows`` positive-weight rows farthest from their nearest centre."""
    min_sq = family.sq_distances(X, family.row_sq_norms(X), centers).min(axis=1)
    if w.size:
        min_sq[w == 0] = -1.0
    top = np.argsort(min_sq, kind="stable")[::-1][:n_rows]
    return FarthestRows(min_sq[top], family.dense_rows(X, top), n_rows)


def kmeans_stats(family, source, n_clusters, random_state, max_iter=300, tol=1e-4):
    """Weighted k-means (k-means++ seeds, Lloyd iterations); statistics of its clusters.

    Seeds are drawn on :func:`_seeding_rows`; every Lloyd step is one
    hard-assignment pass of the EM kernel over the source (so it costs what an
    E-step costs, and CSR rows are never densified). Stops when the squared
    shift of the centres is at most ``tol`` times the mean column variance
    (scikit-learn's rule); an empty cluster moves to the rows farthest from
    their centres.

    Returns
    -------
    SufficientStats
        Counts and sums of the rows of every final cluster.
    """
    rows, weights = _seeding_rows(source, random_state)
    centers = family.dense_rows(
        rows, kmeans_plusplus(family, rows, weights, n_clusters, random_state)
    )
    origin = np.zeros((1, family.n_features))
    everything = source.map_reduce(lambda X, w: family.hard_stats(X, w, origin))
    p = everything.arrays["sums"][:, 0] / everything.arrays["counts"][0]
    threshold = tol * float(np.mean(p * (1.0 - p)))
    for _ in range(max_iter):
        stats = source.map_reduce(lambda X, w, C=centers: family.hard_stats(X, w, C))
        counts, sums = stats.arrays["counts"], stats.arrays["sums"]
        filled = counts > 0
        new_centers = centers.copy()
        new_centers[filled] = (sums[:, filled] / counts[filled]).T
        empty = np.flatnonzero(~filled)
        if empty.size:
            far = source.map_reduce(
                lambda X, w, C=centers, m=empty.size: _farthest_chunk(family, X, w, C, m)
            )
            new_centers[empty] = far.rows
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= threshold:
            break
    return source.map_reduce(lambda X, w: family.hard_stats(X, w, centers))


def _random_resp(rng, n_rows, n_components):
    resp = rng.uniform(size=(n_rows, n_components))
    resp /= resp.sum(axis=1)[:, None]
    return resp


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


class BernoulliMixture(Mixture):
    """Mixture of multivariate Bernoulli distributions for binary data, fitted by EM.

    Component k gives a binary row ``x`` the probability
    ``prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d)``. Rows may be dense (bool,
    integer or float arrays holding only 0 and 1) or scipy sparse matrices
    (CSR and CSC; other formats are converted to CSR), whose fit costs time
    proportional to the number of ones and never densifies the data.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood per sample.
    alpha : float, default=1e-10
        Positive smoothing of the probabilities toward 0.5: the M-step is the
        mode of the posterior under a Beta(alpha + 1, alpha + 1) prior,
        ``mu_kd = (S_kd + alpha) / (N_k + 2 alpha)`` with ``N_k`` the
        component's (weighted) size and ``S_kd`` its number of ones in feature
        d. It acts like ``alpha`` extra ones and ``alpha`` extra zeros per
        component and feature; the default is a negligible mass that only keeps
        ``log mu`` and ``log(1 - mu)`` finite. Larger values (0.5 to 1) are
        Laplace-style smoothing for small or sparse data.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept.
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
        Initial probabilities, strictly between 0 and 1.
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
        paths, HDF5/zarr datasets, iterables of dense 0/1 chunks); None picks
        about 64 MiB of rows. In-memory arrays are one chunk unless this is set.
    decay : float, default=0.7
        Exponent of the step size ``(t + 2) ** -decay`` of online EM
        (:meth:`partial_fit`, ``fit(mode="online")``); in (0.5, 1].
    progress : bool, default=False
        Show a progress bar (tqdm, on standard error) during :meth:`fit`.
    callback : callable, default=None
        ``callback(iteration, lower_bound)`` after every EM iteration (online:
        every mini-batch); return True to stop early.

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
    Dense rows are held as uint8 (a view of a bool array, otherwise one copy
    of one byte per entry) and processed in blocks, widened to float64, by two
    matrix products (scores ``X_b @ log_odds``, statistics ``X_b^T @ R_b``),
    so an iteration runs at matrix-multiply speed; CSR rows add the log-odds
    of their nonzero columns.
    CSR row offsets are widened to int64 (no overflow beyond 2^31 ones); column
    indices are read in their own dtype, so a CSR matrix is not copied.

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
        "alpha": [Interval(Real, 0.0, None, closed="neither")],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "progress": ["boolean"],
        "callback": [callable, None],
    }
    _attributes_for_fitted = ("weights_", "means_")

    def __init__(
        self,
        n_components=1,
        *,
        tol=1e-3,
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
        self.n_components = n_components
        self.tol = tol
        self.alpha = alpha
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.decay = decay
        self.progress = progress
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # Binary data are non-negative. scikit-learn (1.9) has no tag for
        # "binary only"; the tests list the checks that feed continuous data.
        tags.input_tags.positive_only = True
        return tags

    # -- hooks of Mixture ------------------------------------------------------------------
    def _reg(self):
        return self.alpha

    def _make_family(self, n_features):
        return BernoulliFamily(self.n_components, n_features)

    def _validate_X(self, X, reset):
        X = validate_data(
            self,
            X,
            accept_sparse=True,
            dtype="numeric",
            ensure_min_samples=2 if reset else 1,
            reset=reset,
        )
        if reset:
            # sample() returns rows in the user's dtype, not the kernels' (uint8 for bool).
            self._sample_dtype = X.dtype
        if sp.issparse(X):
            return binary_csr(X)
        return _dense_binary_rows(X)

    def _check_chunk(self, rows):
        """Validate one chunk of an out-of-core source: dense rows of 0/1 values."""
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
        if rows.dtype.kind == "f" and not np.all(np.isfinite(rows)):
            raise ValueError("Input X contains NaN or infinity.")
        self._sample_dtype = rows.dtype
        return _dense_binary_rows(rows)

    def _check_init_parameters(self, n_features, dtype):
        if not np.isfinite(self.alpha):
            raise ValueError(f"alpha must be a finite positive number, got {self.alpha}.")
        K = self.n_components
        self._weights_init = (
            None if self.weights_init is None else _check_weights(self.weights_init, K)
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
        return BernoulliParams.from_means(weights.copy(), means.copy())

    def _initial_stats(self, family, source, random_state):
        """Statistics of the initial responsibilities, in passes over the source."""
        K = self.n_components
        if self.init_params == "kmeans":
            return kmeans_stats(family, source, K, random_state)
        if self.init_params == "random" and not getattr(source, "sequential", True):
            # Blocks processed where they live: one seed per block.
            return source.map_reduce_seeded(
                lambda X, w, rng: family.resp_stats(X, w, _random_resp(rng, X.shape[0], K)),
                random_state,
            )
        if self.init_params == "random":
            # Chunk by chunk, the uniform draws are the same stream as one
            # (n_samples, n_components) draw.
            total = None
            for X, w in source.chunks():
                for start in range(0, X.shape[0], _RANDOM_INIT_CHUNK):
                    stop = min(X.shape[0], start + _RANDOM_INIT_CHUNK)
                    resp = _random_resp(random_state, stop - start, K)
                    stats = family.resp_stats(X[start:stop], w[start:stop] if w.size else w, resp)
                    total = stats if total is None else total + stats
            return total
        if self.init_params == "k-means++":
            rows, weights = _seeding_rows(source, random_state)
            indices = kmeans_plusplus(family, rows, weights, K, random_state)
            seeds = family.dense_rows(rows, indices)
            seed_weights = weights[indices] if weights.size else np.ones(K)
        else:
            indices = seed_indices(source.n_samples, K, source.all_weights(), random_state)
            seeds, seed_weights = _take_rows(family, source, indices)
        return family.seed_stats(seeds, seed_weights)

    def _params_to_attributes(self, params, dtype):
        self.weights_ = np.asarray(params.weights, dtype=np.float64)
        self.means_ = np.asarray(params.means, dtype=np.float64)

    def _params_from_attributes(self):
        return BernoulliParams.from_means(self.weights_, self.means_)

    @staticmethod
    def _output_dtype(X):
        # Validated rows are uint8 or CSR: probabilities and log-likelihoods are float64.
        return np.float64

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


__all__ = ["BernoulliMixture", "BernoulliFamily", "BernoulliParams", "BinaryCSR"]
