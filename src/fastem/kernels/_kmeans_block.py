"""A block of rows against the k-means centres: operands, product and ranking.

For a block of rows the shifted rows are transposed (:func:`_fill`,
:func:`_fill_single`) and the product of the shifted centres with them gives
every ``v_k = |c'_k|^2 - 2 x'.c'_k``; per row the two smallest ``v``, the
argmin and the squared norm are stored, with the rows whose ranking the
product cannot be trusted with flagged for direct distances (the Lloyd pass
of :mod:`fastem.kernels.kmeans` resolves them). See docs/architecture.md.

How the product runs (``path``): with BLAS or the tiles of :mod:`._gemm8` / :mod:`._gemm4`
(512-bit or 256-bit vectors, in float32 or float64 lanes), into a
(K, B) block that is then ranked 8 rows at a time; with
``MATMUL_LOOPS``, by :func:`_fused_rank`, which keeps a tile of 24 rows by 4
centres of accumulators in registers and ranks them as they complete (no
product block at all). The float32 product's operands are the shifted rows
scaled by a power of two and rounded once, written by :func:`_fill_single`
in 8 x 8 register transposes.
"""

import numpy as np
from numba import njit

from ._gemm import MATMUL_TILED, MATMUL_TILED4
from ._gemm4 import gemm_tn4
from ._gemm8 import gemm_tn
from ._lanes import (
    _store_transposed,
    ladd,
    lfma,
    lload,
    lmax,
    lmin,
    lmul,
    lnarrow,
    lselect_lt,
    lsplat,
    lstore,
    lsub,
)
from ._rows import _transpose_shifted
from ._simd import vload, vload_widened, vsplat, vsub


# -- ranking the centres of 8 rows --------------------------------------------------------
@njit(cache=True, inline="always")
def _take(b1, b2, lab, v, k):
    """Fold the candidate values ``v`` of centre ``k`` into the two smallest and the argmin."""
    lab = lselect_lt(v, b1, k, lab)
    b2 = lmin(b2, lmax(v, b1))
    b1 = lmin(b1, v)
    return b1, b2, lab


@njit(cache=True, inline="always")
def _row_norms(xf, D, B, r0):
    """``sum_j xs[j, r0:r0 + 8]^2`` in the lanes of ``xs`` (``xf`` its flat view)."""
    n2 = lsplat(xf, 0.0)
    for j in range(D):
        x = lload(xf, j * B + r0)
        n2 = lfma(x, x, n2)
    return n2


@njit(cache=True, inline="always")
def _put(r0, b1, b2, lab, n2, margin, rank):
    """Store the ranking of rows ``r0:r0 + 8``, flagging those that need direct distances.

    ``rank`` holds row buffers of the lanes' dtype: the smallest value, the
    squared norm (both in the product's units) and the label. A row is
    flagged (its label stored as ``-1 - label``) when its two smallest
    values are within its tie margin, or when its norm is not below
    ``margin``'s limit (a float32 product may have overflowed; NaN included).
    """
    coef, bmax2, tiny, limit = margin
    lo, nx, labf = rank
    allowed = lfma(lsplat(lo, coef), ladd(n2, lsplat(lo, bmax2)), lsplat(lo, tiny))
    flagged = lsub(lsplat(lo, -1.0), lab)
    lab = lselect_lt(allowed, lsub(b2, b1), lab, flagged)
    zero = lsplat(lo, 0.0)
    lab = lselect_lt(n2, lsplat(lo, limit), lab, lselect_lt(lab, zero, lab, flagged))
    lstore(lo, r0, b1)
    lstore(nx, r0, n2)
    lstore(labf, r0, lab)


@njit(cache=True)
def _fused_rank(xs, A, cn, margin, rank):
    """Product and ranking in registers: ``v = cn - 2 A @ xs`` for every row of a block.

    ``xs`` (D, B) and ``A`` (K, D) have the lanes' dtype. From 8 columns on,
    tiles of 24 rows by 4 centres (12 accumulators: every broadcast centre
    value feeds three FMAs); below, where the products are short and the
    ranking dominates, tiles of 8 rows by 4 centres.
    """
    if xs.shape[0] >= 8:
        _fused_rank24(xs, A, cn, margin, rank)
    else:
        _fused_rank8(xs, A, cn, margin, rank)


@njit(cache=True)
def _fused_rank24(xs, A, cn, margin, rank):
    """:func:`_fused_rank` in tiles of 24 rows (three lane vectors) by 4 centres."""
    D, B = xs.shape
    K = A.shape[0]
    # Flat views: a row view per step would cost reference counting in the loop.
    xf = xs.reshape(xs.size)
    t0 = xf
    minus_two = lsplat(t0, -2.0)
    inf = lsplat(t0, np.inf)
    z = lsplat(t0, 0.0)
    for r0 in range(0, B, 24):
        p1, p2, pl = inf, inf, z
        q1, q2, ql = inf, inf, z
        s1, s2, sl = inf, inf, z
        k = 0
        while k + 4 <= K:
            a0, a1, a2, a3 = z, z, z, z
            b0, b1, b2, b3 = z, z, z, z
            c0, c1, c2, c3 = z, z, z, z
            for j in range(D):
                o = j * B + r0
                x = lload(xf, o)
                y = lload(xf, o + 8)
                u = lload(xf, o + 16)
                f = lsplat(t0, A[k, j])
                a0, b0, c0 = lfma(f, x, a0), lfma(f, y, b0), lfma(f, u, c0)
                f = lsplat(t0, A[k + 1, j])
                a1, b1, c1 = lfma(f, x, a1), lfma(f, y, b1), lfma(f, u, c1)
                f = lsplat(t0, A[k + 2, j])
                a2, b2, c2 = lfma(f, x, a2), lfma(f, y, b2), lfma(f, u, c2)
                f = lsplat(t0, A[k + 3, j])
                a3, b3, c3 = lfma(f, x, a3), lfma(f, y, b3), lfma(f, u, c3)
            c = lsplat(t0, cn[k])
            kv = lsplat(t0, k)
            p1, p2, pl = _take(p1, p2, pl, lfma(minus_two, a0, c), kv)
            q1, q2, ql = _take(q1, q2, ql, lfma(minus_two, b0, c), kv)
            s1, s2, sl = _take(s1, s2, sl, lfma(minus_two, c0, c), kv)
            c = lsplat(t0, cn[k + 1])
            kv = lsplat(t0, k + 1)
            p1, p2, pl = _take(p1, p2, pl, lfma(minus_two, a1, c), kv)
            q1, q2, ql = _take(q1, q2, ql, lfma(minus_two, b1, c), kv)
            s1, s2, sl = _take(s1, s2, sl, lfma(minus_two, c1, c), kv)
            c = lsplat(t0, cn[k + 2])
            kv = lsplat(t0, k + 2)
            p1, p2, pl = _take(p1, p2, pl, lfma(minus_two, a2, c), kv)
            q1, q2, ql = _take(q1, q2, ql, lfma(minus_two, b2, c), kv)
            s1, s2, sl = _take(s1, s2, sl, lfma(minus_two, c2, c), kv)
            c = lsplat(t0, cn[k + 3])
            kv = lsplat(t0, k + 3)
            p1, p2, pl = _take(p1, p2, pl, lfma(minus_two, a3, c), kv)
            q1, q2, ql = _take(q1, q2, ql, lfma(minus_two, b3, c), kv)
            s1, s2, sl = _take(s1, s2, sl, lfma(minus_two, c3, c), kv)
            k += 4
        while k < K:
            a0, b0, c0 = z, z, z
            for j in range(D):
                o = j * B + r0
                f = lsplat(t0, A[k, j])
                a0 = lfma(f, lload(xf, o), a0)
                b0 = lfma(f, lload(xf, o + 8), b0)
                c0 = lfma(f, lload(xf, o + 16), c0)
            c = lsplat(t0, cn[k])
            kv = lsplat(t0, k)
            p1, p2, pl = _take(p1, p2, pl, lfma(minus_two, a0, c), kv)
            q1, q2, ql = _take(q1, q2, ql, lfma(minus_two, b0, c), kv)
            s1, s2, sl = _take(s1, s2, sl, lfma(minus_two, c0, c), kv)
            k += 1
        _put(r0, p1, p2, pl, _row_norms(xf, D, B, r0), margin, rank)
        _put(r0 + 8, q1, q2, ql, _row_norms(xf, D, B, r0 + 8), margin, rank)
        _put(r0 + 16, s1, s2, sl, _row_norms(xf, D, B, r0 + 16), margin, rank)


@njit(cache=True)
def _fused_rank8(xs, A, cn, margin, rank):
    """:func:`_fused_rank` in tiles of 8 rows (one lane vector) by 4 centres."""
    D, B = xs.shape
    K = A.shape[0]
    xf = xs.reshape(xs.size)
    t0 = xf
    for r0 in range(0, B, 8):
        b1 = lsplat(t0, np.inf)
        b2 = lsplat(t0, np.inf)
        lab = lsplat(t0, 0.0)
        minus_two = lsplat(t0, -2.0)
        k = 0
        while k + 4 <= K:
            a0 = lsplat(t0, 0.0)
            a1 = lsplat(t0, 0.0)
            a2 = lsplat(t0, 0.0)
            a3 = lsplat(t0, 0.0)
            for j in range(D):
                x = lload(xf, j * B + r0)
                a0 = lfma(lsplat(t0, A[k, j]), x, a0)
                a1 = lfma(lsplat(t0, A[k + 1, j]), x, a1)
                a2 = lfma(lsplat(t0, A[k + 2, j]), x, a2)
                a3 = lfma(lsplat(t0, A[k + 3, j]), x, a3)
            b1, b2, lab = _take(b1, b2, lab, lfma(minus_two, a0, lsplat(t0, cn[k])), lsplat(t0, k))
            b1, b2, lab = _take(
                b1, b2, lab, lfma(minus_two, a1, lsplat(t0, cn[k + 1])), lsplat(t0, k + 1)
            )
            b1, b2, lab = _take(
                b1, b2, lab, lfma(minus_two, a2, lsplat(t0, cn[k + 2])), lsplat(t0, k + 2)
            )
            b1, b2, lab = _take(
                b1, b2, lab, lfma(minus_two, a3, lsplat(t0, cn[k + 3])), lsplat(t0, k + 3)
            )
            k += 4
        while k < K:
            a0 = lsplat(t0, 0.0)
            for j in range(D):
                a0 = lfma(lsplat(t0, A[k, j]), lload(xf, j * B + r0), a0)
            b1, b2, lab = _take(b1, b2, lab, lfma(minus_two, a0, lsplat(t0, cn[k])), lsplat(t0, k))
            k += 1
        _put(r0, b1, b2, lab, _row_norms(xf, D, B, r0), margin, rank)


@njit(cache=True)
def _rank_products(xs, out, cn, margin, rank):
    """Ranking of a product block ``out`` (K, B): ``v = cn - 2 out``, 8 rows at a time."""
    K, B = out.shape
    D = xs.shape[0]
    xf = xs.reshape(xs.size)
    of = out.reshape(out.size)
    t0 = of
    for r0 in range(0, B, 8):
        b1 = lsplat(t0, np.inf)
        b2 = lsplat(t0, np.inf)
        lab = lsplat(t0, 0.0)
        minus_two = lsplat(t0, -2.0)
        for k in range(K):
            v = lfma(minus_two, lload(of, k * B + r0), lsplat(t0, cn[k]))
            b1, b2, lab = _take(b1, b2, lab, v, lsplat(t0, k))
        _put(r0, b1, b2, lab, _row_norms(xf, D, B, r0), margin, rank)


# -- the block product (BLAS and tiles) ------------------------------------------------------
@njit(cache=True)
def _product(path, A, At, T, out):
    """``out = A @ T`` by ``path``, in the precision of ``T`` and ``out`` (float32 or float64).

    ``At`` is ``A.T`` contiguous (the tiles' layout); the tiles run in 8 or 16
    float32 lanes, or 4 or 8 float64 lanes.
    """
    if path == MATMUL_TILED:
        gemm_tn(At, T, out)
    elif path == MATMUL_TILED4:
        gemm_tn4(At, T, out)
    else:
        np.dot(A, T, out)


# -- the block's operands ------------------------------------------------------------------
@njit(cache=True)
def _fill(X, start, stop, shift, xs):
    """Shifted rows ``start:stop`` transposed into the float64 ``xs`` (zero-padded)."""
    m = stop - start
    B = xs.shape[1]
    _transpose_shifted(X, start, stop, shift, xs)
    for j in range(xs.shape[0]):
        row = xs[j]
        for r in range(m, B):
            row[r] = 0.0


@njit(cache=True)
def _fill_single(X, start, stop, shift, scale, xs):
    """``xs[:, :m] = float32((X[start:stop] - shift) * scale).T`` (zero-padded).

    The shift is subtracted in float64 and ``scale`` is a power of two, so
    each value is rounded once. Rows of 8 or more columns go through 8 x 8
    register transposes; narrower ones one value at a time.
    """
    d = X.shape[1]
    m = stop - start
    B = xs.shape[1]
    if d >= 8:
        dv = d - d % 8
        mv = m - m % 8
        sc = vsplat(scale)
        Xf = X.reshape(X.size)
        xf = xs.reshape(xs.size)
        for r0 in range(0, mv, 8):
            o = (start + r0) * d
            for j0 in range(0, dv, 8):
                s = vload(shift, j0)
                p = o + j0
                _store_transposed(
                    xf,
                    B,
                    j0,
                    r0,
                    lnarrow(lmul(vsub(vload_widened(Xf, p), s), sc)),
                    lnarrow(lmul(vsub(vload_widened(Xf, p + d), s), sc)),
                    lnarrow(lmul(vsub(vload_widened(Xf, p + 2 * d), s), sc)),
                    lnarrow(lmul(vsub(vload_widened(Xf, p + 3 * d), s), sc)),
                    lnarrow(lmul(vsub(vload_widened(Xf, p + 4 * d), s), sc)),
                    lnarrow(lmul(vsub(vload_widened(Xf, p + 5 * d), s), sc)),
                    lnarrow(lmul(vsub(vload_widened(Xf, p + 6 * d), s), sc)),
                    lnarrow(lmul(vsub(vload_widened(Xf, p + 7 * d), s), sc)),
                )
            for j in range(dv, d):
                sj = shift[j]
                for r in range(r0, r0 + 8):
                    xs[j, r] = np.float32((np.float64(X[start + r, j]) - sj) * scale)
        first = mv
    else:
        first = 0
    for r in range(first, m):
        for j in range(d):
            xs[j, r] = np.float32((np.float64(X[start + r, j]) - shift[j]) * scale)
    for j in range(d):
        row = xs[j]
        for r in range(m, B):
            row[r] = 0.0
