"""k-means as a family: hard-assignment EM, and the k-means geometry of dense real rows.

K-means is the limit of a mixture of K spherical Gaussians with equal
weights and a common variance going to 0: the E-step gives each row to its
nearest centre, the M-step takes the weighted means. Its parameters are the
centres; its "log-likelihood" is minus the weighted inertia.

:func:`lloyd_pass` is the one entry to the fused kernel
(:func:`fastem.kernels.kmeans.lloyd_pass`), used by :class:`KMeansFamily`
and by the Gaussian family's initialisation geometry alike.
"""

from dataclasses import dataclass

import numpy as np

from .._settings import settings
from .._stats import ColumnMoments, SufficientStats
from .._threads import row_groups
from ..kernels import _gemm
from ..kernels import gaussian as gk
from ..kernels import kmeans as kk
from ..kernels import kmeans_distances as kd
from ..kernels._simd import wide_vectors
from ._common import kernel_view, matmul_path, rows_as_kernel_views

#: K * D up to which, on CPUs without wide vectors, the product runs in the
#: fused register tiles of the k-means kernel (``MATMUL_LOOPS``: no product
#: block, the ranking folded into the tiles) rather than through BLAS.
FUSED_MAX_WORK = 65536


#: Elements (rows x columns) of the dense slabs a sparse chunk is processed in.
SPARSE_SLAB_ELEMENTS = 1 << 20


def is_sparse(X):
    """True for scipy sparse matrices and arrays (CSR after validation)."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _slabs(X):
    """``(start, stop, dense rows)`` covering a sparse ``X`` in slabs of bounded size.

    The kernels read dense rows; a sparse chunk is densified a slab at a time
    (about :data:`SPARSE_SLAB_ELEMENTS` values), so memory stays bounded and
    the results are those of the dense rows.
    """
    n, d = X.shape
    step = max(1, SPARSE_SLAB_ELEMENTS // max(1, d))
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield start, stop, np.ascontiguousarray(X[start:stop].toarray())


@dataclass
class KMeansParams:
    """Parameters of k-means: the centres, float64 of shape (n_clusters, n_features)."""

    centers: np.ndarray


def _power_of_two_scale(max_sq_norm):
    """A power of two ``s`` with ``s^2 * max_sq_norm`` near 1 (1 when the norm is 0)."""
    if not max_sq_norm > 0.0 or not np.isfinite(max_sq_norm):
        return 1.0
    return float(2.0 ** -np.round(0.5 * np.log2(max_sq_norm)))


def product_choice(n_features, n_clusters, single=None):
    """``(path, single)``: how the ranking product runs for D x K.

    ``settings.matmul_path`` forces the path; "auto" takes the register
    tiles of :mod:`fastem.kernels._gemm` on CPUs with wide vectors, else the
    fused loops up to :data:`FUSED_MAX_WORK` and BLAS beyond (the fused
    loops rank the centres inside their register tiles, which the 256-bit
    tiles of ``_gemm``, forced with "tiled4", cannot). The product runs in
    float32 unless ``single`` is False: it only ranks the centres (near-ties
    are decided by direct distances, see
    :func:`fastem.kernels.kmeans.tie_margin`), and twice the lanes per vector
    halve its cost.
    """
    if settings.matmul_path == "auto":
        if wide_vectors():
            path = _gemm.MATMUL_TILED
        elif n_features * n_clusters <= FUSED_MAX_WORK:
            path = _gemm.MATMUL_LOOPS
        else:
            path = _gemm.MATMUL_BLAS
    else:
        path = matmul_path(n_features, n_clusters)
    if single is None:
        single = True
    return path, bool(single)


def lloyd_pass(
    X,
    sample_weight,
    centers,
    shift,
    *,
    labels=None,
    sq_dist=None,
    update=True,
    track=False,
    inertia=True,
    single=None,
):
    """One fused pass of the k-means kernel over a chunk (see :func:`kernels.kmeans.lloyd_pass`).

    Parameters
    ----------
    X : ndarray of shape (n, D), float32 or float64, C-contiguous
        Rows.
    sample_weight : ndarray of shape (n,) or (0,)
        Weights; empty means 1 for every row.
    centers : array-like of shape (K, D)
        Centres.
    shift : ndarray of shape (D,)
        Centre of the data (improves the ranking product's accuracy only).
    labels : ndarray of shape (n,), int32, optional
        Filled with the nearest centres; with ``track``, holds the previous ones.
    sq_dist : ndarray of shape (n,), float64, optional
        Filled with the squared distances to the nearest centres.
    update : bool, default=True
        Accumulate counts and sums of ``x - shift``.
    track : bool, default=False
        Count the rows whose label changed.
    inertia : bool, default=True
        Compute the weighted inertia (the direct distance of every row to its
        centre); without it (and ``sq_dist``) the inertia returned is NaN.
    single : bool, optional
        Force (True) or forbid (False) the float32 ranking product.

    Returns
    -------
    counts : ndarray of shape (K,)
    sums : ndarray of shape (K, D)
        ``sum w (x - shift)`` per centre.
    inertia : float
    n_changed : int
    """
    if is_sparse(X):
        total = None
        for start, stop, dense in _slabs(X):
            part = lloyd_pass(
                dense,
                sample_weight[start:stop] if sample_weight.size else sample_weight,
                centers,
                shift,
                labels=None if labels is None else labels[start:stop],
                sq_dist=None if sq_dist is None else sq_dist[start:stop],
                update=update,
                track=track,
                inertia=inertia,
                single=single,
            )
            total = (
                part if total is None else tuple(a + b for a, b in zip(total, part, strict=True))
            )
        return total
    # One argument type per dtype (see kernel_view): read-only rows and weights,
    # fresh writable copies of the small arrays whatever the caller passed.
    X, sample_weight = kernel_view(X), kernel_view(sample_weight)
    C = np.array(centers, dtype=np.float64, order="C")
    K, D = C.shape
    shift = np.array(shift, dtype=np.float64, order="C")
    Cs = np.ascontiguousarray(C - shift)
    cn = np.einsum("kd,kd->k", Cs, Cs)
    bmax2 = float(cn.max())
    path, single = product_choice(D, K, single)
    if single:
        scale = _power_of_two_scale(bmax2)
        Cs32 = np.ascontiguousarray(Cs * scale, dtype=np.float32)
        cn32 = (cn * scale**2).astype(np.float32)
        tiny = 8.0 * (D + 1) * 2.0**-149 / scale**2
    else:
        scale, tiny = 1.0, 1e-300
        Cs32, cn32 = np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
    empty_labels = np.zeros(0, dtype=np.int32)
    counts, sums, total, changed = kk.lloyd_pass(
        X,
        sample_weight,
        shift,
        C,
        Cs,
        np.ascontiguousarray(Cs.T),
        Cs32,
        cn,
        cn32,
        bmax2,
        kk.tie_margin(D, single),
        tiny,
        scale,
        empty_labels if labels is None else labels,
        np.zeros(0) if sq_dist is None else sq_dist,
        bool(update),
        bool(track),
        bool(inertia),
        kk.block_rows(D, 0 if path == _gemm.MATMUL_LOOPS else K, settings.kmeans_block_rows),
        row_groups(X.shape[0]),
        path,
    )
    if not inertia and sq_dist is None:
        total = np.nan
    return counts, sums, total, changed


def offsets(counts, sums, centers, shift):
    """Sums of ``x - c_k`` from sums of ``x - shift``: ``sums - counts (c_k - shift)``."""
    return sums - counts[:, None] * (np.asarray(centers, dtype=np.float64) - shift)


def nearest(X, centers, shift):
    """``(labels int32, sq_dist float64)``: each row's nearest centre and squared distance."""
    n = X.shape[0]
    labels = np.empty(n, dtype=np.int32)
    sq_dist = np.empty(n)
    lloyd_pass(X, np.zeros(0), centers, shift, labels=labels, sq_dist=sq_dist, update=False)
    return labels, sq_dist


def lloyd_offsets(X, sample_weight, centers, shift, labels=None, inertia=True):
    """One Lloyd pass: ``(counts, sums of x - c_k, inertia, n_changed)``.

    See :func:`lloyd_pass`; the sums are taken around the centres.
    """
    counts, sums, total, changed = lloyd_pass(
        X,
        sample_weight,
        centers,
        shift,
        labels=labels,
        track=labels is not None,
        inertia=inertia,
    )
    return counts, offsets(counts, sums, centers, shift), total, changed


def sq_distances(X, points):
    """Direct squared distances of every row to every point, float64 (n, len(points))."""
    points = np.asarray(points, dtype=np.float64)
    if is_sparse(X):
        return np.vstack([sq_distances(dense, points) for _, _, dense in _slabs(X)])
    m, D = points.shape
    # The kernel takes points four at a time; the padding columns are not stored.
    padded = np.zeros((-(-m // 4) * 4, D))
    padded[:m] = points
    out = np.empty((X.shape[0], m))
    kd.sq_distances(
        kernel_view(X),
        padded,
        out,
        kk.block_rows(D, 0, settings.kmeans_block_rows),
        row_groups(X.shape[0]),
    )
    return out


@rows_as_kernel_views
class KMeansFamily:
    """The family contract (:class:`fastem.families.Family`) for k-means.

    Parameters
    ----------
    n_components : int
        ``K``, the number of clusters.
    n_features : int
        ``D``.
    dtype : numpy.dtype, default=float64
        dtype of the data (float32 or float64); statistics are float64 always.
    shift : ndarray of shape (n_features,), default=None
        Centre of the data: sums are taken around it and the ranking product
        is computed on shifted rows; None is the origin.
    single : bool, optional
        Force (True) or forbid (False) the float32 ranking product; None uses
        it wherever the path allows (see :func:`product_choice`). Labels do
        not depend on it, statistics only through round-off.
    """

    uses_shift = True

    def __init__(self, n_components, n_features, dtype=np.float64, shift=None, single=None):
        self.n_components = n_components
        self.n_features = n_features
        self.dtype = np.dtype(dtype)
        self.shift = np.ascontiguousarray(
            np.zeros(n_features) if shift is None else shift, dtype=np.float64
        )
        self.single = single
        self.matmul_path, _ = product_choice(n_features, n_components, single)

    # -- one EM (Lloyd) iteration ---------------------------------------------------------
    def _stats(self, counts, sums, log_likelihood, weight_sum):
        """Statistics around ``self.shift`` (the kernel's sums are of ``x - shift``)."""
        return SufficientStats(
            {"counts": counts, "sums": sums}, float(log_likelihood), weight_sum, self.shift
        )

    @staticmethod
    def _weight_sum(X, sample_weight):
        return float(sample_weight.sum()) if sample_weight.size else float(X.shape[0])

    def estep_stats(self, X, sample_weight, params):
        """One Lloyd pass: counts and sums of ``x - shift`` per nearest centre; -inertia."""
        counts, sums, inertia, _ = lloyd_pass(
            X, sample_weight, params.centers, self.shift, single=self.single
        )
        return self._stats(counts, sums, -inertia, self._weight_sum(X, sample_weight))

    def m_step(self, stats, reg=0.0):
        """Centres as the weighted means of their rows.

        A cluster without weight has no mean: a ``ValueError`` (the k-means
        driver relocates empty clusters before this point, see
        :func:`fastem._lloyd.lloyd`).
        """
        counts = stats.arrays["counts"]
        empty = np.flatnonzero(~(counts > 0))
        if empty.size:
            raise ValueError(
                f"Cluster {int(empty[0])} has no rows with positive weight; its centre is "
                "undefined."
            )
        return KMeansParams(stats.shift + stats.arrays["sums"] / counts[:, None])

    # -- prediction ------------------------------------------------------------------------
    def log_prob(self, X, params):
        """Minus the squared distance of every row to every centre, float64 (n, K)."""
        out = sq_distances(X, params.centers)
        np.negative(out, out=out)
        return out

    def n_parameters(self):
        """Free parameters: the centres' coordinates."""
        return int(self.n_components * self.n_features)

    def sample(self, params, n_samples, rng):
        """Rows of the zero-variance limit: centres drawn with equal probability."""
        labels = rng.randint(self.n_components, size=n_samples).astype(np.int64)
        labels.sort(kind="stable")
        return np.asarray(params.centers, dtype=np.float64)[labels], labels

    # -- initialisation --------------------------------------------------------------------
    @staticmethod
    def column_moments(X, sample_weight):
        """Weighted column moments of a chunk, summed around its first row."""
        if is_sparse(X):
            total = None
            for start, stop, dense in _slabs(X):
                w = sample_weight[start:stop] if sample_weight.size else sample_weight
                part = KMeansFamily.column_moments(dense, w)
                total = part if total is None else total + part
            return total
        origin = np.array(X[0], dtype=np.float64)  # writable: one kernel type
        weight, s1, s2 = gk.column_moments(
            X, sample_weight, origin, settings.kmeans_block_rows, row_groups(X.shape[0])
        )
        return ColumnMoments.from_sums(origin, weight, s1, s2)

    def resp_stats(self, X, sample_weight, resp):
        """Counts and sums of ``x - shift`` for given responsibilities ``resp`` (n, K)."""
        w = sample_weight if sample_weight.size else np.ones(X.shape[0])
        rw = np.asarray(resp, dtype=np.float64) * w[:, None]
        rows = X.toarray() if is_sparse(X) else X
        sums = rw.T @ (np.asarray(rows, dtype=np.float64) - self.shift)
        return SufficientStats(
            {"counts": rw.sum(axis=0), "sums": sums}, 0.0, float(w.sum()), self.shift
        )

    def hard_stats(self, X, sample_weight, centers):
        """Counts and sums of ``x - shift`` with every row given to its nearest centre."""
        counts, sums, _, _ = lloyd_pass(
            X, sample_weight, centers, self.shift, inertia=False, single=self.single
        )
        return self._stats(counts, sums, 0.0, self._weight_sum(X, sample_weight))

    def lloyd_stats(self, X, sample_weight, centers, labels=None, inertia=True):
        """Counts and sums of ``x - c_k`` (K, D) of the rows nearest to each centre; -inertia.

        With ``labels`` (int32, one per row, holding the previous labels) the
        new labels are written there and ``arrays["changed"]`` counts the rows
        whose label changed. ``inertia=False`` skips the distances (the
        log-likelihood is then NaN): a Lloyd iteration needs only the sums.
        """
        counts, sums, inertia, changed = lloyd_pass(
            X,
            sample_weight,
            centers,
            self.shift,
            labels=labels,
            track=labels is not None,
            inertia=inertia,
            single=self.single,
        )
        arrays = {"counts": counts, "sums": offsets(counts, sums, centers, self.shift)}
        if labels is not None:
            arrays["changed"] = np.array([changed], dtype=np.int64)
        return SufficientStats(arrays, log_likelihood=-inertia)

    def nearest(self, X, centers):
        """Each row's nearest centre (int32) and its squared distance (float64)."""
        n = X.shape[0]
        labels = np.empty(n, dtype=np.int32)
        sq_dist = np.empty(n)
        lloyd_pass(
            X,
            np.zeros(0),
            centers,
            self.shift,
            labels=labels,
            sq_dist=sq_dist,
            update=False,
            single=self.single,
        )
        return labels, sq_dist

    def assign(self, X, sample_weight, centers, labels=None, sq_dist=None):
        """Nearest centres into ``labels``/``sq_dist`` (either may be None); weighted inertia."""
        _, _, inertia, _ = lloyd_pass(
            X,
            sample_weight,
            centers,
            self.shift,
            labels=labels,
            sq_dist=sq_dist,
            update=False,
            single=self.single,
        )
        return inertia

    @staticmethod
    def sq_distances(X, centers):
        """Squared distances of every row to every centre, shape (n, len(centers))."""
        return sq_distances(X, centers)

    @staticmethod
    def dense_rows(X, indices):
        """Rows ``indices`` as float64 points (dense, also from sparse rows)."""
        rows = X[np.asarray(indices, dtype=np.int64)]
        if is_sparse(rows):
            rows = rows.toarray()
        return np.asarray(rows, dtype=np.float64)


__all__ = [
    "KMeansFamily",
    "KMeansParams",
    "lloyd_offsets",
    "lloyd_pass",
    "nearest",
    "offsets",
    "sq_distances",
]
