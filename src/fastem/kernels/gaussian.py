"""Fused Gaussian-mixture kernels.

The fit kernel uses the exponential-family view of a Gaussian: with shifted rows
``x' = x - shift`` the weighted log-density of component k is linear in the
features ``T(x') = [1, x', q(x')]`` (``q`` = the upper triangle of ``x' x'^T``
for full covariances, ``x'**2`` for diag, ``|x'|^2`` for spherical, nothing for
tied, whose shared quadratic term is added per row).  Per block of rows one
product ``T @ W`` gives all K log-densities and, after the responsibilities,
one product ``R^T @ T`` gives every sufficient statistic (N_k, sums of x', and
second moments).  Both products run on cache-resident blocks, in the register
tiles of :mod:`._gemm` on CPUs with AVX-512 and in BLAS or plain loops
elsewhere; nothing of size N x K or N x D is ever allocated.  The features are
stored feature-major, so the rows of a block are transposed as they are read:
C-contiguous float32 and float64 rows in 8 x 8 register tiles, others one
value at a time.

The kernels for ``predict``/``score_samples`` use the direct form through the
Cholesky factors of the precisions, which keeps full accuracy for
ill-conditioned covariances.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._common import block_layout, group_bounds
from ._gemm import (
    COMPONENT_TILE,
    FEATURE_TILE,
    FEATURE_TILE4,
    MATMUL_BLAS,
    MATMUL_TILED,
    MATMUL_TILED4,
    ROW_TILE,
    gemm_nt,
    gemm_nt4,
    gemm_tn,
    gemm_tn4,
    matmul_path,
    round_up,
)
from ._simd import (
    exp_nonpositive,
    prefetch,
    store_transposed,
    vload,
    vload_widened,
    vsub,
    zeros_aligned,
)

FULL = 0
TIED = 1
DIAG = 2
SPHERICAL = 3


@njit(cache=True)
def n_stat_features(kind, n_features):
    """Length of the feature vector ``T(x)`` for a covariance kind."""
    d = n_features
    if kind == FULL:
        return 1 + d + d * (d + 1) // 2
    if kind == DIAG:
        return 1 + 2 * d
    if kind == SPHERICAL:
        return 2 + d
    return 1 + d


@njit(cache=True)
def _transpose_shifted_scalar(X, start, stop, shift, xs):
    """``xs[:, :m] = (X[start:stop] - shift).T`` in float64, one value at a time.

    Which loop order is fastest depends on the width: up to 6 features, whole
    tiles of 8 rows (a fixed trip count LLVM unrolls into vector stores, which
    beats row by row); up to 24, row by row (there it beats the tiles); beyond,
    tiles of up to 8 rows, so each cache line of ``xs`` is written whole before
    it is evicted.
    """
    d = X.shape[1]
    m = stop - start
    if d <= 6:
        full = m - m % 8
        for r0 in range(0, full, 8):
            for j in range(d):
                sj = shift[j]
                for r in range(8):
                    xs[j, r0 + r] = np.float64(X[start + r0 + r, j]) - sj
        for r in range(full, m):
            for j in range(d):
                xs[j, r] = np.float64(X[start + r, j]) - shift[j]
    elif d <= 24:
        for r in range(m):
            for j in range(d):
                xs[j, r] = np.float64(X[start + r, j]) - shift[j]
    else:
        for r0 in range(0, m, 8):
            r1 = min(m, r0 + 8)
            for j in range(d):
                sj = shift[j]
                for r in range(r0, r1):
                    xs[j, r] = np.float64(X[start + r, j]) - sj


def _transpose_shifted(X, start, stop, shift, xs):
    """``xs[:, :m] = (X[start:stop] - shift).T`` in float64 (``m = stop - start``)."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_transpose_shifted, inline="always")
def _transpose_shifted_impl(X, start, stop, shift, xs):
    if not (X.dtype in (types.float32, types.float64) and X.layout == "C"):

        def scalar(X, start, stop, shift, xs):
            _transpose_shifted_scalar(X, start, stop, shift, xs)

        return scalar

    def impl(X, start, stop, shift, xs):
        d = X.shape[1]
        # In 8 x 8 register tiles (float32 widened as it is loaded): one vector
        # load and store per 8 values instead of one per value, which pays on
        # wide rows; below 16 features the scalar loops are as fast or faster.
        if d < 16:
            _transpose_shifted_scalar(X, start, stop, shift, xs)
            return
        m = stop - start
        dv = d - d % 8
        mv = m - m % 8
        for r0 in range(0, mv, 8):
            x0 = X[start + r0]
            x1 = X[start + r0 + 1]
            x2 = X[start + r0 + 2]
            x3 = X[start + r0 + 3]
            x4 = X[start + r0 + 4]
            x5 = X[start + r0 + 5]
            x6 = X[start + r0 + 6]
            x7 = X[start + r0 + 7]
            for j0 in range(0, dv, 8):
                s = vload(shift, j0)
                store_transposed(
                    xs,
                    j0,
                    r0,
                    vsub(vload_widened(x0, j0), s),
                    vsub(vload_widened(x1, j0), s),
                    vsub(vload_widened(x2, j0), s),
                    vsub(vload_widened(x3, j0), s),
                    vsub(vload_widened(x4, j0), s),
                    vsub(vload_widened(x5, j0), s),
                    vsub(vload_widened(x6, j0), s),
                    vsub(vload_widened(x7, j0), s),
                )
            for j in range(dv, d):
                sj = shift[j]
                for r in range(r0, r0 + 8):
                    xs[j, r] = np.float64(X[start + r, j]) - sj
        for r in range(mv, m):
            for j in range(d):
                xs[j, r] = np.float64(X[start + r, j]) - shift[j]

    return impl


def _prefetch_rows(X, start, stop, part, n_parts):
    """Prefetch part ``part`` of ``n_parts`` of rows ``start:stop`` of ``X``."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_prefetch_rows, inline="always")
def _prefetch_rows_impl(X, start, stop, part, n_parts):
    if X.layout != "C":

        def nothing(X, start, stop, part, n_parts):
            pass

        return nothing

    def impl(X, start, stop, part, n_parts):
        # Rows start:stop of a C-contiguous array are one run of memory.
        d = X.shape[1]
        first = start * d
        size = (stop - start) * d
        lo = first + (size * part) // n_parts
        hi = first + (size * (part + 1)) // n_parts
        step = max(1, 64 // X.itemsize)
        for i in range(lo, hi, step):
            prefetch(X, i)
        if hi > lo:
            prefetch(X, hi - 1)

    return impl


@njit(cache=True)
def _fill_features(X, start, stop, shift, kind, xs, T):
    """Shifted rows and their features, feature-major, for rows ``start:stop``.

    ``T`` is (n_stat_features, block) and ``xs`` the view ``T[1:1 + n_features]``
    of its linear rows: the inner loops run across rows, so they vectorise, and
    the block products read contiguous rows. Columns past ``stop - start`` are
    zeroed: they meet zero responsibilities, and 0 * stale-inf would be NaN.
    """
    d = X.shape[1]
    m = stop - start
    B = T.shape[1]
    _transpose_shifted(X, start, stop, shift, xs)
    for j in range(d):
        for r in range(m, B):
            xs[j, r] = 0.0
    for r in range(m):
        T[0, r] = 1.0
    for r in range(m, B):
        T[0, r] = 0.0
    # Products through row views: indexing ``T`` in 2-D next to its alias ``xs``
    # kept LLVM from vectorising these loops.
    if kind == FULL:
        idx = 1 + d
        for i in range(d):
            a = xs[i]
            for j in range(i, d):
                b = xs[j]
                out = T[idx]
                for r in range(B):
                    out[r] = a[r] * b[r]
                idx += 1
    elif kind == DIAG:
        for j in range(d):
            a = xs[j]
            out = T[1 + d + j]
            for r in range(B):
                out[r] = a[r] * a[r]
    elif kind == SPHERICAL:
        out = T[1 + d]
        for r in range(B):
            out[r] = 0.0
        for j in range(d):
            a = xs[j]
            for r in range(B):
                out[r] += a[r] * a[r]


@njit(cache=True)
def _small_matmul(A, B, out):
    """``out = A @ B`` for tiny operands, vectorised along ``B``'s rows (no BLAS call)."""
    for i in range(A.shape[0]):
        for c in range(B.shape[1]):
            out[i, c] = 0.0
        for k in range(A.shape[1]):
            a = A[i, k]
            for c in range(B.shape[1]):
                out[i, c] += a * B[k, c]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _small_matmul_bt(A, B, out):
    """``out = A @ B.T`` for tiny operands (row dot products, reassociated to vectorise)."""
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            s = 0.0
            for c in range(A.shape[1]):
                s += A[i, c] * B[j, c]
            out[i, j] = s


@njit(cache=True)
def _sum_log_plus(mx, total, m):
    """``sum_r mx[r] + log(total[r])`` over the first ``m`` rows, with few logs.

    Each ``total[r]`` lies in [1, n_components], so a product of 32 of them
    cannot overflow; one scalar ``log`` per 32 rows instead of per row matters
    when D is small and the rest of a row costs a few dozen flops.
    """
    s = 0.0
    for r in range(m):
        s += mx[r]
    for r0 in range(0, m, 32):
        prod = 1.0
        for r in range(r0, min(m, r0 + 32)):
            prod *= total[r]
        s += np.log(prod)
    return s


@njit(cache=True)
def _product_tn(path, W, Wt, T, out):
    """``out = W.T @ T`` by ``path``; ``Wt`` is ``W.T`` contiguous (the BLAS and loop form)."""
    if path == MATMUL_TILED:
        gemm_tn(W, T, out)
    elif path == MATMUL_TILED4:
        gemm_tn4(W, T, out)
    elif path == MATMUL_BLAS:
        np.dot(Wt, T, out)
    else:
        _small_matmul(Wt, T, out)


@njit(cache=True)
def _product_nt(path, R, T, out):
    """``out = R @ T.T`` by ``path``."""
    if path == MATMUL_TILED:
        gemm_nt(R, T, out)
    elif path == MATMUL_TILED4:
        gemm_nt4(R, T, out)
    elif path == MATMUL_BLAS:
        np.dot(R, T.T, out)
    else:
        _small_matmul_bt(R, T, out)


@njit(cache=True)
def _subtract_tied_quadratic(path, Up, Ut, xs, Y, total, logp, K):
    """Tied covariance: ``logp[k] -= |U^T (x - mu)|^2 / 2`` for the block's rows.

    The shared factor's quadratic form is the same for every component, so it
    is one product ``Y = U^T xs`` per block rather than a term of ``T W``.
    """
    _product_tn(path, Up, Ut, xs, Y)
    B = total.shape[0]
    for r in range(B):
        total[r] = 0.0
    for j in range(Y.shape[0]):
        for r in range(B):
            total[r] += Y[j, r] * Y[j, r]
    for k in range(K):
        for r in range(B):
            logp[k, r] -= 0.5 * total[r]


@njit(cache=True)
def _zero_padding_and_max(logp, m, K, mx):
    """Zero the block's columns past its ``m`` rows; ``mx`` = per-row maximum over components.

    Columns past the data multiply zero features: a component of weight 0
    (log-weight -inf) would make them NaN, and 0 * NaN reaches every sum.
    """
    B = mx.shape[0]
    for k in range(K):
        row = logp[k]
        for r in range(m, B):
            row[r] = 0.0
    # Row views (see _fill_features) so that every loop vectorises.
    row = logp[0]
    for r in range(B):
        mx[r] = row[r]
    for k in range(1, K):
        row = logp[k]
        for r in range(B):
            mx[r] = max(mx[r], row[r])


@njit(cache=True)
def _column_sums(logp, K, total):
    """``total[r]`` = sum over the ``K`` components of ``logp[k, r]``."""
    B = total.shape[0]
    row = logp[0]
    for r in range(B):
        total[r] = row[r]
    for k in range(1, K):
        row = logp[k]
        for r in range(B):
            total[r] += row[r]


@njit(cache=True)
def _accumulate(Rt, T, xs, xw, w_block, kind, path, part, acc, part_xx, acc_xx):
    """Add ``R^T T`` (and the tied second moment) of a block to a group's accumulators."""
    _product_nt(path, Rt, T, part)
    acc += part
    if kind == TIED:
        for j in range(xs.shape[0]):
            for r in range(xs.shape[1]):
                xw[j, r] = xs[j, r] * w_block[r]
        _product_nt(path, xw, xs, part_xx)
        acc_xx += part_xx


#: Bytes of a block's feature rows ``T`` on the 256-bit path.  Each step of
#: ``gemm_tn4`` reads one row of every feature, so the rows' pages must all stay
#: in the first-level data TLB (64 entries on Zen 3, some taken by the other
#: operands); a block of wide features past it misses the TLB on every step.
TILE4_BLOCK_BYTES = 48 * 4096


@njit(cache=True)
def _padded_shapes(path, n_features_t, n_components, n_features, block_size):
    """Block shapes for ``path``: (features, components, tied rows, rows per block).

    The eight-lane tiles need components in fours, features in sixes and rows
    in 24s; the 256-bit tiles components in fours, features in fours and rows
    in 24s (12 float64 rows and, for float32 blocks, 24), in blocks of at most
    :data:`TILE4_BLOCK_BYTES`.  The padding is zero weights and zero rows,
    which add nothing.
    """
    if path == MATMUL_TILED:
        return (
            round_up(n_features_t, FEATURE_TILE),
            round_up(n_components, COMPONENT_TILE),
            round_up(n_features, COMPONENT_TILE),
            round_up(block_size, ROW_TILE),
        )
    if path == MATMUL_TILED4:
        Fp = round_up(n_features_t, FEATURE_TILE4)
        fit = (TILE4_BLOCK_BYTES // (8 * Fp)) // ROW_TILE * ROW_TILE
        return (
            Fp,
            round_up(n_components, COMPONENT_TILE),
            round_up(n_features, COMPONENT_TILE),
            min(round_up(block_size, ROW_TILE), max(ROW_TILE, fit)),
        )
    return n_features_t, n_components, n_features, block_size


@njit(parallel=True, cache=True, nogil=True)
def estep_stats(X, sample_weight, shift, W, tied_prec_chol, kind, block_size, n_groups, path):
    """One fused E-step: responsibilities and sufficient statistics in one pass.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Empty means every row has weight 1.
    shift : ndarray of shape (n_features,), float64
        Centre subtracted from every row before any product.
    W : ndarray of shape (n_stat_features, n_components), float64
        Natural parameters of every component, log-weights in row 0.
    tied_prec_chol : ndarray of shape (n_features, n_features) or (0, 0)
        Shared precision Cholesky factor, only read for ``kind == TIED``.
    kind : int
        FULL, TIED, DIAG or SPHERICAL.
    block_size, n_groups : int
        Rows per cache-resident block and number of row groups.
    path : int
        How blocks are multiplied: ``MATMUL_LOOPS``, ``MATMUL_BLAS`` or
        ``MATMUL_TILED`` (see :func:`fastem.kernels._gemm.matmul_path`).

    Returns
    -------
    stats : ndarray of shape (n_components, n_stat_features)
        ``sum_n w_n r_nk T(x'_n)``.
    second_moment : ndarray of shape (n_features, n_features) or (0, 0)
        ``sum_n w_n x'_n x'_n^T`` for ``kind == TIED``.
    sum_log_likelihood : float
        ``sum_n w_n log p(x_n)``.
    """
    n, d = X.shape
    F, K = W.shape
    Fp, Kp, dp, B = _padded_shapes(path, F, K, d, block_size)
    Wp = np.zeros((Fp, Kp))
    Wp[:F, :K] = W
    Wt = np.ascontiguousarray(Wp.T)
    dxx = d if kind == TIED else 0
    dxp = dp if kind == TIED else 0
    Up = np.zeros((dxx, dxp))
    Up[:, :dxx] = tied_prec_chol
    Ut = np.ascontiguousarray(Up.T)
    n_blocks, n_groups = block_layout(n, B, n_groups)
    acc = np.zeros((n_groups, Kp, Fp))
    acc_xx = np.zeros((n_groups, dxp, dxx))
    ll = np.zeros(n_groups)
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        T = zeros_aligned(Fp, B)
        xs = T[1 : 1 + d]
        xw = zeros_aligned(dxp, B)
        logp = zeros_aligned(Kp, B)
        mx = np.empty(B)
        total = np.empty(B)
        w_block = np.zeros(B)
        part = np.empty((Kp, Fp))
        part_xx = np.empty((dxp, dxx))
        Y = zeros_aligned(dxp, B)
        ll_g = 0.0
        for b in range(b0, b1):
            start = b * B
            stop = min(n, start + B)
            m = stop - start
            _fill_features(X, start, stop, shift, kind, xs, T)
            _product_tn(path, Wp, Wt, T, logp)
            if kind == TIED:
                _subtract_tied_quadratic(path, Up, Ut, xs, Y, total, logp, K)
            _zero_padding_and_max(logp, m, K, mx)
            # Exponentials first, sums after: with the running sum in the same loop
            # LLVM keeps the polynomial exp scalar.  Between components, a K-th
            # of the next block's rows is prefetched, so that they arrive during
            # the products instead of stalling the next fill.
            for k in range(K):
                row = logp[k]
                for r in range(B):
                    row[r] = exp_nonpositive(row[r] - mx[r])
                _prefetch_rows(X, stop, min(n, stop + B), k, K)
            _column_sums(logp, K, total)
            for r in range(B):
                w = 0.0
                if r < m:
                    w = sample_weight[start + r] if weighted else 1.0
                w_block[r] = w
            if weighted:
                for r in range(m):
                    ll_g += w_block[r] * (mx[r] + np.log(total[r]))
            else:
                ll_g += _sum_log_plus(mx, total, m)
            for r in range(B):
                total[r] = w_block[r] / total[r]
            for k in range(K):
                row = logp[k]
                for r in range(B):
                    row[r] *= total[r]
            # Padding components carry no responsibility, whatever their products held.
            for k in range(K, Kp):
                for r in range(B):
                    logp[k, r] = 0.0
            _accumulate(logp, T, xs, xw, w_block, kind, path, part, acc[g], part_xx, acc_xx[g])
        ll[g] = ll_g
    return _reduce_groups(acc, acc_xx, ll, K, F)


@njit(parallel=True, cache=True, nogil=True)
def resp_stats(
    X, sample_weight, shift, resp, labels, kind, n_features_t, block_size, n_groups, path
):
    """Sufficient statistics for given responsibilities (initialisation).

    Either ``resp`` (n_samples, n_components) soft responsibilities or
    ``labels`` (n_samples,) hard assignments is non-empty; the other has length 0.
    ``n_features_t`` is :func:`n_stat_features` for ``kind``. Returns the same
    ``stats, second_moment`` as :func:`estep_stats` (its log-likelihood is 0).
    """
    n, d = X.shape
    use_labels = labels.shape[0] > 0
    K = resp.shape[1]
    F = n_features_t
    Fp, Kp, dp, B = _padded_shapes(path, F, K, d, block_size)
    n_blocks, n_groups = block_layout(n, B, n_groups)
    dxx = d if kind == TIED else 0
    dxp = dp if kind == TIED else 0
    acc = np.zeros((n_groups, Kp, Fp))
    acc_xx = np.zeros((n_groups, dxp, dxx))
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        T = zeros_aligned(Fp, B)
        xs = T[1 : 1 + d]
        xw = zeros_aligned(dxp, B)
        Rt = zeros_aligned(Kp, B)
        w_block = np.zeros(B)
        part = np.empty((Kp, Fp))
        part_xx = np.empty((dxp, dxx))
        for b in range(b0, b1):
            start = b * B
            stop = min(n, start + B)
            m = stop - start
            _fill_features(X, start, stop, shift, kind, xs, T)
            for r in range(B):
                w = 0.0
                if r < m:
                    w = sample_weight[start + r] if weighted else 1.0
                w_block[r] = w
                for k in range(K):
                    Rt[k, r] = 0.0
                if r < m:
                    if use_labels:
                        Rt[labels[start + r], r] = w
                    else:
                        for k in range(K):
                            Rt[k, r] = resp[start + r, k] * w
            _accumulate(Rt, T, xs, xw, w_block, kind, path, part, acc[g], part_xx, acc_xx[g])
    stats, xx, _ = _reduce_groups(acc, acc_xx, np.zeros(n_groups), K, F)
    return stats, xx


@njit(cache=True)
def _reduce_groups(acc, acc_xx, ll, n_components, n_features_t):
    """Sum the per-group accumulators in a fixed order, dropping the tile padding."""
    stats = acc[0].copy()
    xx = acc_xx[0].copy()
    total = ll[0]
    for g in range(1, acc.shape[0]):
        stats += acc[g]
        xx += acc_xx[g]
        total += ll[g]
    d = xx.shape[1]
    return (
        np.ascontiguousarray(stats[:n_components, :n_features_t]),
        np.ascontiguousarray(xx[:d]),
        total,
    )


def log_prob_cholesky(X, means, prec_chol, log_det, block_size, n_groups, path=None):
    """Component log-densities through upper-triangular precision Cholesky factors.

    ``prec_chol`` has shape (n_components, n_features, n_features) (a tied
    factor is passed broadcast to every component); ``log_det`` is the
    log-determinant of each factor. Returns (n_samples, n_components) float64.

    The direct form ``-0.5 |(x - mu_k) U_k|^2``: each difference is taken
    before any product, which keeps full accuracy for ill-conditioned
    covariances (scikit-learn #29989, where ``x U - mu U`` loses it).  ``path``
    (a ``MATMUL_*`` constant; None: the CPU's, see
    :func:`._gemm.matmul_path`) runs the products on the register tiles or,
    for the other paths, on BLAS.
    """
    if path is None:
        path = matmul_path(X.shape[1] ** 2, means.shape[0])
    if path == MATMUL_TILED or path == MATMUL_TILED4:
        return _log_prob_cholesky_tiled(X, means, prec_chol, log_det, block_size, n_groups, path)
    return _log_prob_cholesky_blas(X, means, prec_chol, log_det, block_size, n_groups)


@njit(parallel=True, cache=True, nogil=True)
def _log_prob_cholesky_tiled(X, means, prec_chol, log_det, block_size, n_groups, path):
    """:func:`log_prob_cholesky` on the register tiles, per block of rows.

    The block's rows are transposed once (feature-major, float64); per
    component, the differences ``x - mu_k`` (the same float64 subtraction as
    the BLAS form), one tiled product ``U_k^T (x - mu_k)`` and the squared
    norms run across the rows, so every loop is a vector loop.
    """
    n, d = X.shape
    K = means.shape[0]
    dp = round_up(d, COMPONENT_TILE)
    B = round_up(block_size, ROW_TILE)
    Up = np.zeros((K, d, dp))
    Up[:, :, :d] = prec_chol
    zero = np.zeros(d)
    out = np.empty((n, K))
    const = -0.5 * d * np.log(2.0 * np.pi)
    n_blocks, n_groups = block_layout(n, B, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        xs = zeros_aligned(d, B)
        diff = zeros_aligned(d, B)
        Y = zeros_aligned(dp, B)
        s = np.empty(B)
        for b in range(b0, b1):
            start = b * B
            stop = min(n, start + B)
            m = stop - start
            _transpose_shifted(X, start, stop, zero, xs)
            for k in range(K):
                for j in range(d):
                    src = xs[j]
                    dst = diff[j]
                    mu = means[k, j]
                    for r in range(B):
                        dst[r] = src[r] - mu
                if path == MATMUL_TILED:
                    gemm_tn(Up[k], diff, Y)
                else:
                    gemm_tn4(Up[k], diff, Y)
                for r in range(B):
                    s[r] = 0.0
                for j in range(d):
                    row = Y[j]
                    for r in range(B):
                        s[r] += row[r] * row[r]
                c = const + log_det[k]
                for r in range(m):
                    out[start + r, k] = c - 0.5 * s[r]
    return out


@njit(parallel=True, cache=True, nogil=True)
def _log_prob_cholesky_blas(X, means, prec_chol, log_det, block_size, n_groups):
    """:func:`log_prob_cholesky` with one BLAS product per component and block."""
    n, d = X.shape
    K = means.shape[0]
    out = np.empty((n, K))
    const = -0.5 * d * np.log(2.0 * np.pi)
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        diff = np.empty((block_size, d))
        Y = np.empty((block_size, d))
        for b in range(b0, b1):
            start = b * block_size
            stop = min(n, start + block_size)
            m = stop - start
            for k in range(K):
                for r in range(m):
                    for j in range(d):
                        diff[r, j] = np.float64(X[start + r, j]) - means[k, j]
                for r in range(m, block_size):
                    for j in range(d):
                        diff[r, j] = 0.0
                np.dot(diff, prec_chol[k], Y)
                for r in range(m):
                    s = 0.0
                    for j in range(d):
                        s += Y[r, j] * Y[r, j]
                    out[start + r, k] = const + log_det[k] - 0.5 * s
    return out


@njit(parallel=True, cache=True, nogil=True)
def log_prob_diagonal(X, means, prec_chol, log_det, block_size, n_groups):
    """Component log-densities for diagonal precision Cholesky factors (K, D)."""
    n, d = X.shape
    K = means.shape[0]
    out = np.empty((n, K))
    const = -0.5 * d * np.log(2.0 * np.pi)
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            for k in range(K):
                s = 0.0
                for j in range(d):
                    y = (np.float64(X[r, j]) - means[k, j]) * prec_chol[k, j]
                    s += y * y
                out[r, k] = const + log_det[k] - 0.5 * s
    return out


@njit(parallel=True, cache=True, nogil=True)
def column_moments(X, sample_weight, origin, block_size, n_groups):
    """Weighted sum, and sums of ``x - origin`` and its square, per column.

    Returns ``(weight_sum, sum_dx (D,), sum_dx2 (D,))`` in float64; used for the
    data centre (the statistics' shift) and the k-means tolerance.
    """
    n, d = X.shape
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    s0 = np.zeros(n_groups)
    s1 = np.zeros((n_groups, d))
    s2 = np.zeros((n_groups, d))
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        for b in range(b0, b1):
            start = b * block_size
            stop = min(n, start + block_size)
            for r in range(start, stop):
                w = sample_weight[r] if weighted else 1.0
                s0[g] += w
                for j in range(d):
                    v = np.float64(X[r, j]) - origin[j]
                    s1[g, j] += w * v
                    s2[g, j] += w * v * v
    return s0.sum(), s1.sum(axis=0), s2.sum(axis=0)
