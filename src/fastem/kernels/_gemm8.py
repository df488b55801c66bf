"""The 512-bit register tiles (AVX-512: 32 zmm registers) of the block products.

- :func:`gemm_tn`: ``out = W.T @ T``, log-densities from natural parameters;
- :func:`gemm_nt`: ``out = R @ T.T``, sufficient statistics from responsibilities.

These loops keep a tile of 24 vector accumulators in registers through the
whole reduction and, with AVX-512, run much closer to the core's peak than
BLAS on the fit kernels' block shapes (see :mod:`._gemm`, which also gives the
units that callers pad their operands to: no tile checks bounds).  Every tile
takes the lane type of ``T``: eight float64 lanes or sixteen float32 lanes
(twice the multiply-adds per instruction), so one source serves both
precisions.

Sums run in a fixed order that does not depend on the thread count, so the
results are reproducible; they differ from BLAS only by round-off.
"""

from numba import njit

from ._simd import lanes512, load512, splat512, vfma, vstore, vsum, zero512


@njit(cache=True, nogil=True)
def gemm_tn(W, T, out):
    """``out = W.T @ T`` for ``W`` (F, K) and ``T`` (F, B).

    ``T`` and ``out`` (K, B) are C-contiguous, both float64 or both float32, and
    ``B`` is a multiple of the lanes (8 for float64, 16 for float32); ``W`` may
    have any real dtype and any layout (a transposed view gives ``A @ T`` for
    ``A`` (K, F)), since its elements are read one at a time and broadcast,
    cast to ``T``'s dtype.  Tiles of 8 rows of ``out`` by 3 vectors: per step
    of the reduction three vector loads of ``T`` and eight broadcasts of ``W``
    feed 24 FMAs.  Edges take narrower tiles.
    """
    K = W.shape[1]
    B = T.shape[1]
    n = lanes512(T)
    step = 3 * n
    wide = B - B % step
    for b0 in range(0, wide, step):
        k0 = 0
        while k0 + 8 <= K:
            _tn_8x3(W, T, out, k0, b0)
            k0 += 8
        if k0 + 4 <= K:
            _tn_4x3(W, T, out, k0, b0)
            k0 += 4
        for k in range(k0, K):
            _tn_1x3(W, T, out, k, b0)
    for b0 in range(wide, B, n):
        k0 = 0
        while k0 + 8 <= K:
            _tn_8x1(W, T, out, k0, b0)
            k0 += 8
        for k in range(k0, K):
            _tn_1x1(W, T, out, k, b0)


@njit(cache=True, nogil=True, inline="always")
def _tn_8x3(W, T, out, k0, b0):
    n = lanes512(T)
    a00 = zero512(T)
    a01 = zero512(T)
    a02 = zero512(T)
    a10 = zero512(T)
    a11 = zero512(T)
    a12 = zero512(T)
    a20 = zero512(T)
    a21 = zero512(T)
    a22 = zero512(T)
    a30 = zero512(T)
    a31 = zero512(T)
    a32 = zero512(T)
    a40 = zero512(T)
    a41 = zero512(T)
    a42 = zero512(T)
    a50 = zero512(T)
    a51 = zero512(T)
    a52 = zero512(T)
    a60 = zero512(T)
    a61 = zero512(T)
    a62 = zero512(T)
    a70 = zero512(T)
    a71 = zero512(T)
    a72 = zero512(T)
    for f in range(T.shape[0]):
        t = T[f]
        w = W[f]
        x0 = load512(t, b0)
        x1 = load512(t, b0 + n)
        x2 = load512(t, b0 + 2 * n)
        s = splat512(T, w[k0])
        a00 = vfma(s, x0, a00)
        a01 = vfma(s, x1, a01)
        a02 = vfma(s, x2, a02)
        s = splat512(T, w[k0 + 1])
        a10 = vfma(s, x0, a10)
        a11 = vfma(s, x1, a11)
        a12 = vfma(s, x2, a12)
        s = splat512(T, w[k0 + 2])
        a20 = vfma(s, x0, a20)
        a21 = vfma(s, x1, a21)
        a22 = vfma(s, x2, a22)
        s = splat512(T, w[k0 + 3])
        a30 = vfma(s, x0, a30)
        a31 = vfma(s, x1, a31)
        a32 = vfma(s, x2, a32)
        s = splat512(T, w[k0 + 4])
        a40 = vfma(s, x0, a40)
        a41 = vfma(s, x1, a41)
        a42 = vfma(s, x2, a42)
        s = splat512(T, w[k0 + 5])
        a50 = vfma(s, x0, a50)
        a51 = vfma(s, x1, a51)
        a52 = vfma(s, x2, a52)
        s = splat512(T, w[k0 + 6])
        a60 = vfma(s, x0, a60)
        a61 = vfma(s, x1, a61)
        a62 = vfma(s, x2, a62)
        s = splat512(T, w[k0 + 7])
        a70 = vfma(s, x0, a70)
        a71 = vfma(s, x1, a71)
        a72 = vfma(s, x2, a72)
    _store3(out[k0], b0, n, a00, a01, a02)
    _store3(out[k0 + 1], b0, n, a10, a11, a12)
    _store3(out[k0 + 2], b0, n, a20, a21, a22)
    _store3(out[k0 + 3], b0, n, a30, a31, a32)
    _store3(out[k0 + 4], b0, n, a40, a41, a42)
    _store3(out[k0 + 5], b0, n, a50, a51, a52)
    _store3(out[k0 + 6], b0, n, a60, a61, a62)
    _store3(out[k0 + 7], b0, n, a70, a71, a72)


@njit(cache=True, nogil=True, inline="always")
def _tn_4x3(W, T, out, k0, b0):
    n = lanes512(T)
    a00 = zero512(T)
    a01 = zero512(T)
    a02 = zero512(T)
    a10 = zero512(T)
    a11 = zero512(T)
    a12 = zero512(T)
    a20 = zero512(T)
    a21 = zero512(T)
    a22 = zero512(T)
    a30 = zero512(T)
    a31 = zero512(T)
    a32 = zero512(T)
    for f in range(T.shape[0]):
        t = T[f]
        w = W[f]
        x0 = load512(t, b0)
        x1 = load512(t, b0 + n)
        x2 = load512(t, b0 + 2 * n)
        s = splat512(T, w[k0])
        a00 = vfma(s, x0, a00)
        a01 = vfma(s, x1, a01)
        a02 = vfma(s, x2, a02)
        s = splat512(T, w[k0 + 1])
        a10 = vfma(s, x0, a10)
        a11 = vfma(s, x1, a11)
        a12 = vfma(s, x2, a12)
        s = splat512(T, w[k0 + 2])
        a20 = vfma(s, x0, a20)
        a21 = vfma(s, x1, a21)
        a22 = vfma(s, x2, a22)
        s = splat512(T, w[k0 + 3])
        a30 = vfma(s, x0, a30)
        a31 = vfma(s, x1, a31)
        a32 = vfma(s, x2, a32)
    _store3(out[k0], b0, n, a00, a01, a02)
    _store3(out[k0 + 1], b0, n, a10, a11, a12)
    _store3(out[k0 + 2], b0, n, a20, a21, a22)
    _store3(out[k0 + 3], b0, n, a30, a31, a32)


@njit(cache=True, nogil=True, inline="always")
def _tn_1x3(W, T, out, k, b0):
    n = lanes512(T)
    a0 = zero512(T)
    a1 = zero512(T)
    a2 = zero512(T)
    for f in range(T.shape[0]):
        t = T[f]
        s = splat512(T, W[f, k])
        a0 = vfma(s, load512(t, b0), a0)
        a1 = vfma(s, load512(t, b0 + n), a1)
        a2 = vfma(s, load512(t, b0 + 2 * n), a2)
    _store3(out[k], b0, n, a0, a1, a2)


@njit(cache=True, nogil=True, inline="always")
def _tn_8x1(W, T, out, k0, b0):
    a0 = zero512(T)
    a1 = zero512(T)
    a2 = zero512(T)
    a3 = zero512(T)
    a4 = zero512(T)
    a5 = zero512(T)
    a6 = zero512(T)
    a7 = zero512(T)
    for f in range(T.shape[0]):
        w = W[f]
        x = load512(T[f], b0)
        a0 = vfma(splat512(T, w[k0]), x, a0)
        a1 = vfma(splat512(T, w[k0 + 1]), x, a1)
        a2 = vfma(splat512(T, w[k0 + 2]), x, a2)
        a3 = vfma(splat512(T, w[k0 + 3]), x, a3)
        a4 = vfma(splat512(T, w[k0 + 4]), x, a4)
        a5 = vfma(splat512(T, w[k0 + 5]), x, a5)
        a6 = vfma(splat512(T, w[k0 + 6]), x, a6)
        a7 = vfma(splat512(T, w[k0 + 7]), x, a7)
    vstore(out[k0], b0, a0)
    vstore(out[k0 + 1], b0, a1)
    vstore(out[k0 + 2], b0, a2)
    vstore(out[k0 + 3], b0, a3)
    vstore(out[k0 + 4], b0, a4)
    vstore(out[k0 + 5], b0, a5)
    vstore(out[k0 + 6], b0, a6)
    vstore(out[k0 + 7], b0, a7)


@njit(cache=True, nogil=True, inline="always")
def _tn_1x1(W, T, out, k, b0):
    a = zero512(T)
    for f in range(T.shape[0]):
        a = vfma(splat512(T, W[f, k]), load512(T[f], b0), a)
    vstore(out[k], b0, a)


@njit(cache=True, inline="always")
def _store3(row, b0, n, v0, v1, v2):
    vstore(row, b0, v0)
    vstore(row, b0 + n, v1)
    vstore(row, b0 + 2 * n, v2)


@njit(cache=True, nogil=True)
def gemm_nt(R, T, out):
    """``out = R @ T.T`` for ``R`` (K, B) and ``T`` (F, B), all C-contiguous.

    All three float64 or all float32 (for float32 the sums over a block run in
    float32: callers accumulate blocks in float64).  ``K`` must be a multiple
    of :data:`._gemm.COMPONENT_TILE` and ``B`` of the lanes.  Tiles of
    4 components by 6 features, each accumulator a vector along the rows,
    summed across its lanes once at the end of the tile.
    """
    K, B = R.shape
    F = T.shape[0]
    n = lanes512(T)
    for k0 in range(0, K, 4):
        r0 = R[k0]
        r1 = R[k0 + 1]
        r2 = R[k0 + 2]
        r3 = R[k0 + 3]
        o0 = out[k0]
        o1 = out[k0 + 1]
        o2 = out[k0 + 2]
        o3 = out[k0 + 3]
        f0 = 0
        while f0 + 6 <= F:
            t0 = T[f0]
            t1 = T[f0 + 1]
            t2 = T[f0 + 2]
            t3 = T[f0 + 3]
            t4 = T[f0 + 4]
            t5 = T[f0 + 5]
            s00 = zero512(T)
            s01 = zero512(T)
            s02 = zero512(T)
            s03 = zero512(T)
            s04 = zero512(T)
            s05 = zero512(T)
            s10 = zero512(T)
            s11 = zero512(T)
            s12 = zero512(T)
            s13 = zero512(T)
            s14 = zero512(T)
            s15 = zero512(T)
            s20 = zero512(T)
            s21 = zero512(T)
            s22 = zero512(T)
            s23 = zero512(T)
            s24 = zero512(T)
            s25 = zero512(T)
            s30 = zero512(T)
            s31 = zero512(T)
            s32 = zero512(T)
            s33 = zero512(T)
            s34 = zero512(T)
            s35 = zero512(T)
            for b in range(0, B, n):
                a0 = load512(r0, b)
                a1 = load512(r1, b)
                a2 = load512(r2, b)
                a3 = load512(r3, b)
                c = load512(t0, b)
                s00 = vfma(a0, c, s00)
                s10 = vfma(a1, c, s10)
                s20 = vfma(a2, c, s20)
                s30 = vfma(a3, c, s30)
                c = load512(t1, b)
                s01 = vfma(a0, c, s01)
                s11 = vfma(a1, c, s11)
                s21 = vfma(a2, c, s21)
                s31 = vfma(a3, c, s31)
                c = load512(t2, b)
                s02 = vfma(a0, c, s02)
                s12 = vfma(a1, c, s12)
                s22 = vfma(a2, c, s22)
                s32 = vfma(a3, c, s32)
                c = load512(t3, b)
                s03 = vfma(a0, c, s03)
                s13 = vfma(a1, c, s13)
                s23 = vfma(a2, c, s23)
                s33 = vfma(a3, c, s33)
                c = load512(t4, b)
                s04 = vfma(a0, c, s04)
                s14 = vfma(a1, c, s14)
                s24 = vfma(a2, c, s24)
                s34 = vfma(a3, c, s34)
                c = load512(t5, b)
                s05 = vfma(a0, c, s05)
                s15 = vfma(a1, c, s15)
                s25 = vfma(a2, c, s25)
                s35 = vfma(a3, c, s35)
            _sum6(o0, f0, s00, s01, s02, s03, s04, s05)
            _sum6(o1, f0, s10, s11, s12, s13, s14, s15)
            _sum6(o2, f0, s20, s21, s22, s23, s24, s25)
            _sum6(o3, f0, s30, s31, s32, s33, s34, s35)
            f0 += 6
        for f in range(f0, F):
            t = T[f]
            s0 = zero512(T)
            s1 = zero512(T)
            s2 = zero512(T)
            s3 = zero512(T)
            for b in range(0, B, n):
                c = load512(t, b)
                s0 = vfma(load512(r0, b), c, s0)
                s1 = vfma(load512(r1, b), c, s1)
                s2 = vfma(load512(r2, b), c, s2)
                s3 = vfma(load512(r3, b), c, s3)
            o0[f] = vsum(s0)
            o1[f] = vsum(s1)
            o2[f] = vsum(s2)
            o3[f] = vsum(s3)


@njit(cache=True, inline="always")
def _sum6(row, f0, v0, v1, v2, v3, v4, v5):
    row[f0] = vsum(v0)
    row[f0 + 1] = vsum(v1)
    row[f0 + 2] = vsum(v2)
    row[f0 + 3] = vsum(v3)
    row[f0 + 4] = vsum(v4)
    row[f0 + 5] = vsum(v5)
