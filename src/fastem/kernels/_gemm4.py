"""The 256-bit register tiles (AVX2 + FMA: 16 vector registers) of the block products.

:func:`gemm_tn4` (``out = W.T @ T``) and :func:`gemm_nt4` (``out = R @ T.T``) are
the products of :mod:`._gemm8` on 256-bit vectors.  The shapes are those of the
classic 12-accumulator micro-kernels: 12 accumulators plus the operands of one
step fit the 16 ymm registers without a spill.  Every tile takes the lane type
of ``T`` (four float64 or eight float32 lanes), so the same source serves both
precisions.

Sums run in a fixed order that does not depend on the thread count, so the
results are reproducible; they differ from BLAS only by round-off.
"""

from numba import njit
from numba.extending import overload

from ._simd import lanes256, load256, splat256, vadd, vfma, vstore, vsum, vsum4, zero256

#: Bytes of the rows of ``T`` that one pass of :func:`gemm_tn4` reads.  Every
#: step of a tile reads one row of ``T``, so a pass's rows must lie on few
#: enough pages to stay in the first-level data TLB (64 entries on Zen 3,
#: some taken by the other operands); a longer reduction is split into passes
#: that add into ``out``.
TN4_PASS_BYTES = 48 * 4096


@njit(cache=True, nogil=True)
def gemm_tn4(W, T, out):
    """``out = W.T @ T`` on 256-bit vectors, for ``W`` (F, K) and ``T`` (F, B).

    ``T`` and ``out`` (K, B) are C-contiguous, both float64 or both float32, and
    ``B`` is a multiple of the lanes (4 for float64, 8 for float32); ``W`` may
    have any real dtype and any layout (its elements are broadcast one at a
    time, cast to ``T``'s dtype).  Tiles of 4 rows of ``out`` by 3 vectors: per
    step of the reduction three vector loads of ``T`` and four broadcasts of
    ``W`` feed 12 FMAs.  Edges take 4 x 2, 4 x 1 and 1 x 1 tiles.  Reductions
    over more than :data:`TN4_PASS_BYTES` of ``T`` run in passes (the order of
    the sums still depends only on the shapes).
    """
    F, B = T.shape
    rows = max(16, TN4_PASS_BYTES // max(1, B * T.itemsize))
    _tn4_pass(W, T, out, 0, min(F, rows), False)
    for f0 in range(rows, F, rows):
        _tn4_pass(W, T, out, f0, min(F, f0 + rows), True)


@njit(cache=True, nogil=True)
def _tn4_pass(W, T, out, f0, f1, add):
    """Reduction steps ``f0:f1`` of :func:`gemm_tn4`, stored (or added, ``add``) into ``out``."""
    # Views of the pass's rows: loops from 0 over them index without the
    # negative-index fix-ups that a loop from ``f0`` would compile to.
    W = W[f0:f1]
    T = T[f0:f1]
    K = W.shape[1]
    B = T.shape[1]
    n = lanes256(T)
    step = 3 * n
    wide = B - B % step
    k4 = K - K % 4
    for b0 in range(0, wide, step):
        for k0 in range(0, k4, 4):
            _tn4_4x3(W, T, out, k0, b0, add)
        for k in range(k4, K):
            for b in range(b0, b0 + step, n):
                _tn4_1x1(W, T, out, k, b, add)
    if B - wide == 2 * n:
        for k0 in range(0, k4, 4):
            _tn4_4x2(W, T, out, k0, wide, add)
    else:
        for b in range(wide, B, n):
            for k0 in range(0, k4, 4):
                _tn4_4x1(W, T, out, k0, b, add)
    for b in range(wide, B, n):
        for k in range(k4, K):
            _tn4_1x1(W, T, out, k, b, add)


@njit(cache=True, inline="always")
def _put256(row, b, value, add):
    """``row[b:b + n] = value``, or ``+= value`` after the first pass."""
    if add:
        value = vadd(load256(row, b), value)
    vstore(row, b, value)


@njit(cache=True, nogil=True, inline="always")
def _tn4_4x3(W, T, out, k0, b0, add):
    n = lanes256(T)
    a00 = zero256(T)
    a01 = zero256(T)
    a02 = zero256(T)
    a10 = zero256(T)
    a11 = zero256(T)
    a12 = zero256(T)
    a20 = zero256(T)
    a21 = zero256(T)
    a22 = zero256(T)
    a30 = zero256(T)
    a31 = zero256(T)
    a32 = zero256(T)
    for f in range(T.shape[0]):
        t = T[f]
        w = W[f]
        x0 = load256(t, b0)
        x1 = load256(t, b0 + n)
        x2 = load256(t, b0 + 2 * n)
        s = splat256(T, w[k0])
        a00 = vfma(s, x0, a00)
        a01 = vfma(s, x1, a01)
        a02 = vfma(s, x2, a02)
        s = splat256(T, w[k0 + 1])
        a10 = vfma(s, x0, a10)
        a11 = vfma(s, x1, a11)
        a12 = vfma(s, x2, a12)
        s = splat256(T, w[k0 + 2])
        a20 = vfma(s, x0, a20)
        a21 = vfma(s, x1, a21)
        a22 = vfma(s, x2, a22)
        s = splat256(T, w[k0 + 3])
        a30 = vfma(s, x0, a30)
        a31 = vfma(s, x1, a31)
        a32 = vfma(s, x2, a32)
    _store3_256(out[k0], b0, n, a00, a01, a02, add)
    _store3_256(out[k0 + 1], b0, n, a10, a11, a12, add)
    _store3_256(out[k0 + 2], b0, n, a20, a21, a22, add)
    _store3_256(out[k0 + 3], b0, n, a30, a31, a32, add)


@njit(cache=True, nogil=True, inline="always")
def _tn4_4x2(W, T, out, k0, b0, add):
    n = lanes256(T)
    a00 = zero256(T)
    a01 = zero256(T)
    a10 = zero256(T)
    a11 = zero256(T)
    a20 = zero256(T)
    a21 = zero256(T)
    a30 = zero256(T)
    a31 = zero256(T)
    for f in range(T.shape[0]):
        t = T[f]
        w = W[f]
        x0 = load256(t, b0)
        x1 = load256(t, b0 + n)
        s = splat256(T, w[k0])
        a00 = vfma(s, x0, a00)
        a01 = vfma(s, x1, a01)
        s = splat256(T, w[k0 + 1])
        a10 = vfma(s, x0, a10)
        a11 = vfma(s, x1, a11)
        s = splat256(T, w[k0 + 2])
        a20 = vfma(s, x0, a20)
        a21 = vfma(s, x1, a21)
        s = splat256(T, w[k0 + 3])
        a30 = vfma(s, x0, a30)
        a31 = vfma(s, x1, a31)
    _put256(out[k0], b0, a00, add)
    _put256(out[k0], b0 + n, a01, add)
    _put256(out[k0 + 1], b0, a10, add)
    _put256(out[k0 + 1], b0 + n, a11, add)
    _put256(out[k0 + 2], b0, a20, add)
    _put256(out[k0 + 2], b0 + n, a21, add)
    _put256(out[k0 + 3], b0, a30, add)
    _put256(out[k0 + 3], b0 + n, a31, add)


@njit(cache=True, nogil=True, inline="always")
def _tn4_4x1(W, T, out, k0, b0, add):
    a0 = zero256(T)
    a1 = zero256(T)
    a2 = zero256(T)
    a3 = zero256(T)
    for f in range(T.shape[0]):
        w = W[f]
        x = load256(T[f], b0)
        a0 = vfma(splat256(T, w[k0]), x, a0)
        a1 = vfma(splat256(T, w[k0 + 1]), x, a1)
        a2 = vfma(splat256(T, w[k0 + 2]), x, a2)
        a3 = vfma(splat256(T, w[k0 + 3]), x, a3)
    _put256(out[k0], b0, a0, add)
    _put256(out[k0 + 1], b0, a1, add)
    _put256(out[k0 + 2], b0, a2, add)
    _put256(out[k0 + 3], b0, a3, add)


@njit(cache=True, nogil=True, inline="always")
def _tn4_1x1(W, T, out, k, b0, add):
    a = zero256(T)
    for f in range(T.shape[0]):
        a = vfma(splat256(T, W[f, k]), load256(T[f], b0), a)
    _put256(out[k], b0, a, add)


@njit(cache=True, inline="always")
def _store3_256(row, b0, n, v0, v1, v2, add):
    _put256(row, b0, v0, add)
    _put256(row, b0 + n, v1, add)
    _put256(row, b0 + 2 * n, v2, add)


@njit(cache=True, nogil=True)
def gemm_nt4(R, T, out):
    """``out = R @ T.T`` on 256-bit vectors, for ``R`` (K, B) and ``T`` (F, B).

    All three C-contiguous, all float64 or all float32 (for float32 the sums
    over a block run in float32: callers accumulate blocks in float64); ``B`` a
    multiple of the lanes, any ``K`` and ``F``.  Tiles of 3 components by 4
    features, each accumulator a vector along the rows: per step three loads of
    ``R`` and four of ``T`` feed 12 FMAs.  Feature tiles are the outer loop, so
    their four rows of ``T`` stay in the L1 cache while every component passes;
    components left over take 2 x 4 tiles (one or two, never a 1 x 4 tile when
    ``K >= 2``), features left over 3 x 1 and 2 x 1 tiles.
    """
    K = R.shape[0]
    F = T.shape[0]
    # Components in threes, the last four in twos when K % 3 == 1 (a 1-wide
    # tile would be load-bound).
    r = K % 3
    k3 = K - r if r != 1 or K < 4 else K - 4
    f4 = F - F % 4
    for f0 in range(0, f4, 4):
        for k0 in range(0, k3, 3):
            _nt4_3x4(R, T, out, k0, f0)
        for k0 in range(k3, K - 1, 2):
            _nt4_2x4(R, T, out, k0, f0)
        if K - k3 == 1:
            for f in range(f0, f0 + 4):
                _nt4_1x1(R, T, out, K - 1, f)
    for f in range(f4, F):
        for k0 in range(0, k3, 3):
            _nt4_3x1(R, T, out, k0, f)
        for k0 in range(k3, K - 1, 2):
            _nt4_2x1(R, T, out, k0, f)
        if K - k3 == 1:
            _nt4_1x1(R, T, out, K - 1, f)


@njit(cache=True, nogil=True, inline="always")
def _nt4_3x4(R, T, out, k0, f0):
    n = lanes256(T)
    r0 = R[k0]
    r1 = R[k0 + 1]
    r2 = R[k0 + 2]
    t0 = T[f0]
    t1 = T[f0 + 1]
    t2 = T[f0 + 2]
    t3 = T[f0 + 3]
    s00 = zero256(T)
    s01 = zero256(T)
    s02 = zero256(T)
    s03 = zero256(T)
    s10 = zero256(T)
    s11 = zero256(T)
    s12 = zero256(T)
    s13 = zero256(T)
    s20 = zero256(T)
    s21 = zero256(T)
    s22 = zero256(T)
    s23 = zero256(T)
    for b in range(0, T.shape[1], n):
        a0 = load256(r0, b)
        a1 = load256(r1, b)
        a2 = load256(r2, b)
        c = load256(t0, b)
        s00 = vfma(a0, c, s00)
        s10 = vfma(a1, c, s10)
        s20 = vfma(a2, c, s20)
        c = load256(t1, b)
        s01 = vfma(a0, c, s01)
        s11 = vfma(a1, c, s11)
        s21 = vfma(a2, c, s21)
        c = load256(t2, b)
        s02 = vfma(a0, c, s02)
        s12 = vfma(a1, c, s12)
        s22 = vfma(a2, c, s22)
        c = load256(t3, b)
        s03 = vfma(a0, c, s03)
        s13 = vfma(a1, c, s13)
        s23 = vfma(a2, c, s23)
    _sum4(out[k0], f0, s00, s01, s02, s03)
    _sum4(out[k0 + 1], f0, s10, s11, s12, s13)
    _sum4(out[k0 + 2], f0, s20, s21, s22, s23)


@njit(cache=True, nogil=True, inline="always")
def _nt4_2x4(R, T, out, k0, f0):
    n = lanes256(T)
    r0 = R[k0]
    r1 = R[k0 + 1]
    t0 = T[f0]
    t1 = T[f0 + 1]
    t2 = T[f0 + 2]
    t3 = T[f0 + 3]
    s00 = zero256(T)
    s01 = zero256(T)
    s02 = zero256(T)
    s03 = zero256(T)
    s10 = zero256(T)
    s11 = zero256(T)
    s12 = zero256(T)
    s13 = zero256(T)
    for b in range(0, T.shape[1], n):
        a0 = load256(r0, b)
        a1 = load256(r1, b)
        c = load256(t0, b)
        s00 = vfma(a0, c, s00)
        s10 = vfma(a1, c, s10)
        c = load256(t1, b)
        s01 = vfma(a0, c, s01)
        s11 = vfma(a1, c, s11)
        c = load256(t2, b)
        s02 = vfma(a0, c, s02)
        s12 = vfma(a1, c, s12)
        c = load256(t3, b)
        s03 = vfma(a0, c, s03)
        s13 = vfma(a1, c, s13)
    _sum4(out[k0], f0, s00, s01, s02, s03)
    _sum4(out[k0 + 1], f0, s10, s11, s12, s13)


@njit(cache=True, nogil=True, inline="always")
def _nt4_3x1(R, T, out, k0, f):
    n = lanes256(T)
    t = T[f]
    s0 = zero256(T)
    s1 = zero256(T)
    s2 = zero256(T)
    for b in range(0, T.shape[1], n):
        c = load256(t, b)
        s0 = vfma(load256(R[k0], b), c, s0)
        s1 = vfma(load256(R[k0 + 1], b), c, s1)
        s2 = vfma(load256(R[k0 + 2], b), c, s2)
    out[k0, f] = vsum(s0)
    out[k0 + 1, f] = vsum(s1)
    out[k0 + 2, f] = vsum(s2)


@njit(cache=True, nogil=True, inline="always")
def _nt4_2x1(R, T, out, k0, f):
    n = lanes256(T)
    t = T[f]
    s0 = zero256(T)
    s1 = zero256(T)
    for b in range(0, T.shape[1], n):
        c = load256(t, b)
        s0 = vfma(load256(R[k0], b), c, s0)
        s1 = vfma(load256(R[k0 + 1], b), c, s1)
    out[k0, f] = vsum(s0)
    out[k0 + 1, f] = vsum(s1)


@njit(cache=True, nogil=True, inline="always")
def _nt4_1x1(R, T, out, k, f):
    n = lanes256(T)
    s = zero256(T)
    for b in range(0, T.shape[1], n):
        s = vfma(load256(R[k], b), load256(T[f], b), s)
    out[k, f] = vsum(s)


def _sum4(row, f0, v0, v1, v2, v3):
    """``row[f0:f0 + 4] = [vsum(v0), ..., vsum(v3)]``."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_sum4, inline="always")
def _sum4_impl(row, f0, v0, v1, v2, v3):
    if v0.lanes in (4, 8):
        # Four reductions at once, one vector store.
        def impl(row, f0, v0, v1, v2, v3):
            vstore(row, f0, vsum4(v0, v1, v2, v3))

        return impl

    def impl(row, f0, v0, v1, v2, v3):
        row[f0] = vsum(v0)
        row[f0 + 1] = vsum(v1)
        row[f0 + 2] = vsum(v2)
        row[f0 + 3] = vsum(v3)

    return impl
