"""k-means kernels: one fused pass assigns rows to centres and sums what Lloyd needs.

Lloyd's algorithm is hard-assignment EM. Per block of rows (cache-resident,
handed out over fixed row groups as in the mixture kernels) the shifted rows
are transposed and one product of the shifted centres with them gives every
``v_k = |c'_k|^2 - 2 x'.c'_k``, which orders the centres for a row as the
squared distance does. The two smallest ``v`` per row and the argmin are
kept in vector registers across the centres; then, per row, the weighted
count and the sum of ``x - shift`` go into the row group's float64
accumulators and, where asked for (the inertia, ``sq_dist``), the nearest
centre's squared distance in the direct form ``sum_j (x_j - c_kj)^2``.
Nothing of size N x K is ever allocated.

Labels are those of the direct distances summed in column order
(:func:`_direct`). The expanded form loses accuracy to cancellation, so a
row whose two smallest ``v`` lie within a rigorous bound of its rounding
error (:func:`tie_margin`) has every centre inside that bound compared by
direct distances (ties to the lower index, as ``numpy.argmin``). The bound
holds for any summation order, so BLAS, the register tiles of :mod:`._gemm`
and the fused loops below give the same labels, and so does a float32
product, which runs twice as many lanes per vector: the product only ranks
the centres, it never decides a near-tie.

How the product runs (``path``): with BLAS or the tiles of :mod:`._gemm`
(512-bit ones in float64, 256-bit ones in float32 or float64), into a
(K, B) block that is then ranked 8 rows at a time; with
``MATMUL_LOOPS``, by :func:`_fused_rank`, which keeps a tile of 24 rows by 4
centres of accumulators in registers and ranks them as they complete (no
product block at all). The float32 product's operands are the shifted rows
scaled by a power of two and rounded once, written by :func:`_fill_single`
in 8 x 8 register transposes.

Shapes: ``X`` (n, D) float32/float64 C-contiguous rows; centres ``C``
(K, D) float64; ``shift`` (D,) float64 (the data centre: it only improves
the ranking's accuracy, never the results).
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from ._common import block_layout, group_bounds
from ._gemm import MATMUL_LOOPS, MATMUL_TILED, MATMUL_TILED4, ROW_TILE, gemm_tn, gemm_tn4, round_up
from ._simd import (
    vec8,
    vfma,
    vload,
    vload_widened,
    vsplat,
    vstore,
    vsub,
    vsum,
    vzero,
    zeros_aligned,
)
from .gaussian import _prefetch_rows, _transpose_shifted

#: Unit roundoff of float64 and float32.
UNIT_DOUBLE = 2.0**-53
UNIT_SINGLE = 2.0**-24
#: Largest scaled squared row norm a float32 product is trusted with; rows
#: beyond it are compared directly with every centre (their products could
#: overflow float32).
SINGLE_ROW_LIMIT = 2.0**100


def tie_margin(n_features, single):
    """Coefficient ``c`` of a row's tie margin ``c * (|x'|^2 + max_k |c'_k|^2)``.

    With ``v_k = |c'_k|^2 - 2 x'.c'_k`` evaluated in a precision of unit
    roundoff ``u_p`` (any summation order) and ``d_k`` the direct float64
    squared distance: if the centre ``k*`` nearest by ``d`` is not ``b``,
    the one with the smallest ``v``, then ``v_k* - v_b`` is at most the
    margin with ``c = (6 D + 18) u + (2 D + 4) u_p`` (``u`` the float64
    unit roundoff: the shift, the norms and the direct sums), plus ``6 u_p``
    when ``v`` itself is formed in float32, widened by 1 % for the
    second-order terms. A float32 product also has its row norms summed in
    float32 (relative error below ``D u_p``): its margin is widened by
    ``4 (D + 1) u_p`` more.
    """
    d = float(n_features)
    if single:
        extra = (2.0 * d + 10.0) * UNIT_SINGLE
        widen = 1.01 * (1.0 + 4.0 * (d + 1.0) * UNIT_SINGLE)
    else:
        extra = (2.0 * d + 4.0) * UNIT_DOUBLE
        widen = 1.01
    return widen * ((6.0 * d + 18.0) * UNIT_DOUBLE + extra)


def block_rows(n_features, n_clusters, max_rows):
    """Rows per block: the block's products (K x B) and rows (D x B) near 256 KiB.

    A multiple of the register tiles' row count, at least two tiles and at
    most about ``max_rows`` (``settings.kmeans_block_rows``).
    """
    rows = 32768 // max(1, n_clusters + n_features)
    rows = max(2 * ROW_TILE, min(int(max_rows), rows))
    return round_up(rows, ROW_TILE)


# -- eight-lane vectors of float32 or float64 -------------------------------------------
# A Numba type whose LLVM value is <8 x float> (one ymm register with AVX2);
# float64 lanes are fastem.kernels._simd.vec8. The intrinsics below take either
# and pick the element type from their arguments, so one kernel source
# serves both precisions.
class Vec8fType(types.Type):
    """Numba type of an eight-lane float32 vector value."""

    def __init__(self):
        super().__init__(name="Vec8f")


vec8f = Vec8fType()
_FLOAT_VECTOR = ir.VectorType(ir.FloatType(), 8)
_DOUBLE_VECTOR = ir.VectorType(ir.DoubleType(), 8)
_I32 = ir.IntType(32)


@register_model(Vec8fType)
class _Vec8fModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _FLOAT_VECTOR)


def _lanes_of(dtype):
    if dtype == types.float32:
        return vec8f, _FLOAT_VECTOR, ir.FloatType()
    if dtype == types.float64:
        return vec8, _DOUBLE_VECTOR, ir.DoubleType()
    raise TypeError(f"lanes of float32 or float64 only, got {dtype}")


def _check_float_row(row):
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"):
        raise TypeError(f"lane loads and stores need a C-contiguous float row, got {row}")
    return _lanes_of(row.dtype)


def _vector_ir(vector_type):
    return _FLOAT_VECTOR if vector_type == vec8f else _DOUBLE_VECTOR


def _row_pointer(context, builder, row_type, row, index, pointee):
    data = context.make_array(row_type)(context, builder, row).data
    return builder.bitcast(builder.gep(data, [index]), pointee.as_pointer())


@intrinsic
def lload(typingctx, row, i):
    """``row[i:i + 8]`` as lanes of the row's dtype."""
    lanes, vector, _ = _check_float_row(row)

    def codegen(context, builder, signature, args):
        pointer = _row_pointer(context, builder, signature.args[0], args[0], args[1], vector)
        return builder.load(pointer, align=4)

    return lanes(row, types.intp), codegen


@intrinsic
def lstore(typingctx, row, i, value):
    """``row[i:i + 8] = value`` (lanes of the row's dtype)."""
    lanes, vector, _ = _check_float_row(row)
    if value != lanes:
        raise TypeError(f"storing {value} into a row of {row.dtype}")

    def codegen(context, builder, signature, args):
        pointer = _row_pointer(context, builder, signature.args[0], args[0], args[1], vector)
        builder.store(args[2], pointer, align=4)
        return context.get_dummy_value()

    return types.void(row, types.intp, value), codegen


@intrinsic
def lsplat(typingctx, like, x):
    """Eight copies of the number ``x`` in the lanes of ``like``'s dtype (a row)."""
    lanes, vector, element = _check_float_row(like)

    def codegen(context, builder, signature, args):
        target = signature.args[0].dtype
        value = context.cast(builder, args[1], signature.args[1], target)
        one = builder.insert_element(ir.Constant(vector, ir.Undefined), value, _I32(0))
        return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_I32, 8), [0] * 8))

    return lanes(like, x), codegen


def _same_lanes(*args):
    first = args[0]
    if first not in (vec8, vec8f) or any(a != first for a in args):
        raise TypeError(f"lane operations need equal vector types, got {args}")
    return first


@intrinsic
def lfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, with a single rounding."""
    lanes = _same_lanes(a, b, c)

    def codegen(context, builder, signature, args):
        vector = _vector_ir(signature.return_type)
        name = "llvm.fma.v8f32" if vector == _FLOAT_VECTOR else "llvm.fma.v8f64"
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector, [vector] * 3), name
        )
        return builder.call(fn, args)

    return lanes(a, b, c), codegen


@intrinsic
def lmin(typingctx, a, b):
    """``a if a < b else b`` lane by lane."""
    lanes = _same_lanes(a, b)

    def codegen(context, builder, signature, args):
        return builder.select(builder.fcmp_ordered("<", args[0], args[1]), args[0], args[1])

    return lanes(a, b), codegen


@intrinsic
def lmax(typingctx, a, b):
    """``a if a > b else b`` lane by lane."""
    lanes = _same_lanes(a, b)

    def codegen(context, builder, signature, args):
        return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[0], args[1])

    return lanes(a, b), codegen


@intrinsic
def lselect_lt(typingctx, a, b, x, y):
    """``x if a < b else y`` lane by lane."""
    lanes = _same_lanes(a, b, x, y)

    def codegen(context, builder, signature, args):
        return builder.select(builder.fcmp_ordered("<", args[0], args[1]), args[2], args[3])

    return lanes(a, b, x, y), codegen


@intrinsic
def lsub(typingctx, a, b):
    """``a - b`` lane by lane."""
    lanes = _same_lanes(a, b)

    def codegen(context, builder, signature, args):
        return builder.fsub(args[0], args[1])

    return lanes(a, b), codegen


@intrinsic
def ladd(typingctx, a, b):
    """``a + b`` lane by lane."""
    lanes = _same_lanes(a, b)

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])

    return lanes(a, b), codegen


@intrinsic
def lmul(typingctx, a, b):
    """``a * b`` lane by lane."""
    lanes = _same_lanes(a, b)

    def codegen(context, builder, signature, args):
        return builder.fmul(args[0], args[1])

    return lanes(a, b), codegen


@intrinsic
def lnarrow(typingctx, a):
    """float64 lanes rounded to float32 lanes."""
    if a != vec8:
        raise TypeError(f"lnarrow takes float64 lanes, got {a}")

    def codegen(context, builder, signature, args):
        return builder.fptrunc(args[0], _FLOAT_VECTOR)

    return vec8f(a), codegen


def _shuffle(mask, doc):
    """An intrinsic picking lanes of two vectors by ``mask`` (0-7 from ``a``, 8-15 from ``b``)."""

    @intrinsic
    def shuffle(typingctx, a, b):
        lanes = _same_lanes(a, b)

        def codegen(context, builder, signature, args):
            order = ir.Constant(ir.VectorType(_I32, 8), list(mask))
            return builder.shuffle_vector(args[0], args[1], order)

        return lanes(a, b), codegen

    shuffle.__doc__ = doc
    return shuffle


# The three stages of an 8 x 8 transpose: lanes of distance 1, 2 and 4 exchanged.
_even1 = _shuffle((0, 8, 2, 10, 4, 12, 6, 14), "Even lanes of a and b, interleaved.")
_odd1 = _shuffle((1, 9, 3, 11, 5, 13, 7, 15), "Odd lanes of a and b, interleaved.")
_even2 = _shuffle((0, 1, 8, 9, 4, 5, 12, 13), "Even lane pairs of a and b, interleaved.")
_odd2 = _shuffle((2, 3, 10, 11, 6, 7, 14, 15), "Odd lane pairs of a and b, interleaved.")
_low4 = _shuffle((0, 1, 2, 3, 8, 9, 10, 11), "Low halves of a and b.")
_high4 = _shuffle((4, 5, 6, 7, 12, 13, 14, 15), "High halves of a and b.")


@njit(cache=True, inline="always")
def _store_transposed(flat, B, j0, r0, v0, v1, v2, v3, v4, v5, v6, v7):
    """``out[j0 + c, r0:r0 + 8] = [v0[c], ..., v7[c]]`` for c in 0..7.

    ``flat`` is the flat view of ``out``, whose rows have ``B`` values.
    """
    a0 = _even1(v0, v1)
    a1 = _odd1(v0, v1)
    a2 = _even1(v2, v3)
    a3 = _odd1(v2, v3)
    a4 = _even1(v4, v5)
    a5 = _odd1(v4, v5)
    a6 = _even1(v6, v7)
    a7 = _odd1(v6, v7)
    b0 = _even2(a0, a2)
    b1 = _even2(a1, a3)
    b2 = _odd2(a0, a2)
    b3 = _odd2(a1, a3)
    b4 = _even2(a4, a6)
    b5 = _even2(a5, a7)
    b6 = _odd2(a4, a6)
    b7 = _odd2(a5, a7)
    lstore(flat, (j0 + 0) * B + r0, _low4(b0, b4))
    lstore(flat, (j0 + 1) * B + r0, _low4(b1, b5))
    lstore(flat, (j0 + 2) * B + r0, _low4(b2, b6))
    lstore(flat, (j0 + 3) * B + r0, _low4(b3, b7))
    lstore(flat, (j0 + 4) * B + r0, _high4(b0, b4))
    lstore(flat, (j0 + 5) * B + r0, _high4(b1, b5))
    lstore(flat, (j0 + 6) * B + r0, _high4(b2, b6))
    lstore(flat, (j0 + 7) * B + r0, _high4(b3, b7))


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
    """``out = A @ T`` in float64 by ``path``; ``At`` is ``A.T`` contiguous (the tiles' layout)."""
    if path == MATMUL_TILED:
        gemm_tn(At, T, out)
    elif path == MATMUL_TILED4:
        gemm_tn4(At, T, out)
    else:
        np.dot(A, T, out)


@njit(cache=True)
def _product_single(path, A, At, T, out):
    """``out = A @ T`` in float32: the 256-bit tiles or BLAS (the 512-bit tiles are float64)."""
    if path == MATMUL_TILED4:
        gemm_tn4(At, T, out)
    else:
        np.dot(A, T, out)


# -- per row -----------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _direct(X, i, C, k):
    """``sum_j (X[i, j] - C[k, j])^2`` in float64, in column order: the reference distance."""
    s = 0.0
    for j in range(X.shape[1]):
        v = np.float64(X[i, j]) - C[k, j]
        s += v * v
    return s


@njit(cache=True)
def _resolve(X, i, C, out, r, cn, threshold, use_out):
    """Nearest centre by direct distances among those whose ``v`` is within ``threshold``.

    ``v = cn - 2 out[:, r]`` and ``threshold`` are in the product's units.
    Without a product block (``use_out`` False) or with a threshold that is
    not finite, every centre is compared.
    """
    best = 0
    best_d = np.inf
    everything = (not use_out) or not (threshold < np.inf)
    for k in range(C.shape[0]):
        if everything or np.float64(cn[k]) - 2.0 * np.float64(out[k, r]) <= threshold:
            d = _direct(X, i, C, k)
            if d < best_d:
                best_d = d
                best = k
    return best


@njit(cache=True, inline="always")
def _row_sum(Xf, xo, shift, Sf, so, d, w):
    """``Sf[so:so + d] += w (x - shift)`` for ``x = Xf[xo:xo + d]``, on flat arrays.

    Flat views with offsets, not per-row views (those would cost reference
    counting per row). From 8 columns on, 8 columns at a time in vector
    lanes; narrower rows one value at a time.
    """
    if d < 8:
        for j in range(d):
            Sf[so + j] += w * (np.float64(Xf[xo + j]) - shift[j])
        return
    d8 = d - d % 8
    wv = vsplat(w)
    for j0 in range(0, d8, 8):
        diff = vsub(vload_widened(Xf, xo + j0), vload(shift, j0))
        vstore(Sf, so + j0, vfma(wv, diff, vload(Sf, so + j0)))
    for j in range(d8, d):
        Sf[so + j] += w * (np.float64(Xf[xo + j]) - shift[j])


@njit(cache=True, inline="always")
def _row_dist(Xf, xo, Cf, co, d):
    """``|x - c|^2`` for ``x = Xf[xo:xo + d]``, ``c = Cf[co:co + d]`` (the direct form)."""
    if d < 8:
        s = 0.0
        for j in range(d):
            v = np.float64(Xf[xo + j]) - Cf[co + j]
            s += v * v
        return s
    d8 = d - d % 8
    acc = vzero()
    for j0 in range(0, d8, 8):
        diff = vsub(vload_widened(Xf, xo + j0), vload(Cf, co + j0))
        acc = vfma(diff, diff, acc)
    s = vsum(acc)
    for j in range(d8, d):
        v = np.float64(Xf[xo + j]) - Cf[co + j]
        s += v * v
    return s


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


@njit(cache=True)
def _rows(
    X, sample_weight, shift, C, start, stop, B, rank, out, cn, margin, single, use_out, acc_in
):
    """The per-row part of a block: labels, counts, sums and, when asked, distances.

    ``acc_in`` is ``(labels, sq_dist, update, track, distances, counts,
    sums)``; returns the block's inertia (0 without ``distances``) and number
    of changed labels.
    """
    labels, sq_dist, update, track, distances, counts, sums = acc_in
    coef, bmax2, tiny, _ = margin
    lo, nx, labf = rank
    n, d = X.shape
    m = stop - start
    weighted = sample_weight.shape[0] > 0
    write_labels = labels.shape[0] > 0
    write_dist = sq_dist.shape[0] > 0
    Xf = X.reshape(X.size)
    Cf = C.reshape(C.size)
    Sf = sums.reshape(sums.size)
    acc = 0.0
    n_changed = 0
    n_parts = (m + 31) // 32
    for r in range(m):
        if r % 32 == 0:
            # The next block's rows arrive while this block's are summed.
            _prefetch_rows(X, stop, min(n, stop + B), r // 32, n_parts)
        i = start + r
        k = np.int64(labf[r])
        if k < 0:
            # Within the tie margin (or not trusted to float32): direct distances.
            norm = np.float64(nx[r])
            threshold = np.float64(lo[r]) + coef * (norm + bmax2) + tiny
            if single and not (norm < SINGLE_ROW_LIMIT):
                threshold = np.inf
            k = _resolve(X, i, C, out, r, cn, threshold, use_out)
        w = sample_weight[i] if weighted else 1.0
        if update:
            _row_sum(Xf, i * d, shift, Sf, k * d, d, w)
            counts[k] += w
        if distances:
            s = _row_dist(Xf, i * d, Cf, k * d, d)
            acc += w * s
            if write_dist:
                sq_dist[i] = s
        if write_labels:
            if track:
                n_changed += labels[i] != k
            labels[i] = k
    return acc, n_changed


@njit(cache=True)
def _group_pass(
    X,
    sample_weight,
    shift,
    C,
    Cs,
    Ct,
    Cs32,
    cn,
    cn32,
    scale,
    margin,
    labels,
    sq_dist,
    update,
    track,
    distances,
    B,
    path,
    b0,
    b1,
    counts,
    sums,
):
    """Blocks ``b0:b1`` of :func:`lloyd_pass` into one group's ``counts`` and ``sums``.

    Returns the group's inertia and number of changed labels.
    """
    n, d = X.shape
    K = C.shape[0]
    single = Cs32.shape[0] > 0
    fused = path == MATMUL_LOOPS
    xs = zeros_aligned(0 if single else d, B)
    out = zeros_aligned(0 if (single or fused) else K, B)
    xs32 = np.zeros((d if single else 0, B), dtype=np.float32)
    out32 = np.zeros((K if (single and not fused) else 0, B), dtype=np.float32)
    Ct32 = np.ascontiguousarray(Cs32.T)
    rank = (np.empty(B), np.empty(B), np.empty(B))
    rank32 = (
        np.empty(B, dtype=np.float32),
        np.empty(B, dtype=np.float32),
        np.empty(B, dtype=np.float32),
    )
    acc_in = (labels, sq_dist, update, track, distances or sq_dist.shape[0] > 0, counts, sums)
    acc = 0.0
    n_changed = 0
    for b in range(b0, b1):
        start = b * B
        stop = min(n, start + B)
        if single:
            _fill_single(X, start, stop, shift, scale, xs32)
            if fused:
                _fused_rank(xs32, Cs32, cn32, margin, rank32)
            else:
                _product_single(path, Cs32, Ct32, xs32, out32)
                _rank_products(xs32, out32, cn32, margin, rank32)
            a, c = _rows(
                X,
                sample_weight,
                shift,
                C,
                start,
                stop,
                B,
                rank32,
                out32,
                cn32,
                margin,
                True,
                not fused,
                acc_in,
            )
        else:
            _fill(X, start, stop, shift, xs)
            if fused:
                _fused_rank(xs, Cs, cn, margin, rank)
            else:
                _product(path, Cs, Ct, xs, out)
                _rank_products(xs, out, cn, margin, rank)
            a, c = _rows(
                X,
                sample_weight,
                shift,
                C,
                start,
                stop,
                B,
                rank,
                out,
                cn,
                margin,
                False,
                not fused,
                acc_in,
            )
        acc += a
        n_changed += c
    return acc, n_changed


@njit(parallel=True, cache=True, nogil=True)
def lloyd_pass(
    X,
    sample_weight,
    shift,
    C,
    Cs,
    Ct,
    Cs32,
    cn,
    cn32,
    bmax2,
    coef,
    tiny,
    scale,
    labels,
    sq_dist,
    update,
    track,
    distances,
    block_size,
    n_groups,
    path,
):
    """One fused pass: nearest centres and, with ``update``, Lloyd's statistics.

    Parameters
    ----------
    X : ndarray of shape (n, D), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n,) or (0,)
        Empty means every weight is 1.
    shift : ndarray of shape (D,)
        Centre subtracted from rows and centres before the product.
    C : ndarray of shape (K, D)
        The centres (direct distances are taken to these).
    Cs, Ct : ndarray of shape (K, D) and (D, K)
        ``C - shift`` and its transpose, contiguous (the float64 product's operands).
    Cs32 : ndarray of shape (K, D) or (0, 0), float32
        ``(C - shift) * scale`` rounded to float32: if not empty, the product
        runs in float32 (BLAS or loops paths).
    cn, cn32 : ndarray of shape (K,), float64, and (K,) or (0,), float32
        ``|C - shift|^2`` per centre, and ``scale^2`` times it in float32.
    bmax2 : float
        ``max(cn)``.
    coef, tiny : float
        A row's tie margin is ``coef * (|x'|^2 + bmax2) + tiny`` (see
        :func:`tie_margin`; ``tiny`` covers underflow).
    scale : float
        Power of two applied to both operands of a float32 product (1 otherwise).
    labels : ndarray of shape (n,) or (0,), int32
        Out: each row's nearest centre. In, with ``track``: the previous labels.
    sq_dist : ndarray of shape (n,) or (0,), float64
        Out: each row's squared distance to its nearest centre.
    update : bool
        Accumulate counts and sums of ``x - shift``.
    track : bool
        Count the rows whose label differs from ``labels`` on entry.
    distances : bool
        Compute every row's direct squared distance to its centre (for the
        inertia; always done when ``sq_dist`` is given). Lloyd iterations
        need only the labels and sums, so a pass without them is cheaper.
    block_size, n_groups : int
        Rows per block (a multiple of 24) and number of row groups.
    path : int
        How the product runs (see the module docstring).

    Returns
    -------
    counts : ndarray of shape (K,)
        Weighted number of rows per centre (zeros without ``update``).
    sums : ndarray of shape (K, D)
        ``sum w (x - shift)`` over each centre's rows (zeros without ``update``).
    inertia : float
        ``sum w |x - c_label|^2`` (0 without ``distances`` or ``sq_dist``).
    n_changed : int
        Rows whose label changed (0 without ``track``).
    """
    n, d = X.shape
    K = C.shape[0]
    B = block_size
    single = Cs32.shape[0] > 0
    n_blocks, n_groups = block_layout(n, B, n_groups)
    counts = np.zeros((n_groups, K))
    sums = np.zeros((n_groups, K, d if update else 0))
    inertia = np.zeros(n_groups)
    changed = np.zeros(n_groups, dtype=np.int64)
    scale2 = scale * scale
    # The rank functions and the tie checks work in the product's units (the
    # operands scaled by ``scale``, distances by its square); the float32
    # comparisons get a relative slack of 2^-20 on the margin.
    if single:
        margin = (coef * (1.0 + 2.0**-20), bmax2 * scale2, tiny * scale2, SINGLE_ROW_LIMIT)
    else:
        margin = (coef, bmax2, tiny, np.inf)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        # The group's work in a function of its own: LLVM optimises the row
        # loops there markedly better than inside the parallel region's body.
        inertia[g], changed[g] = _group_pass(
            X,
            sample_weight,
            shift,
            C,
            Cs,
            Ct,
            Cs32,
            cn,
            cn32,
            scale,
            margin,
            labels,
            sq_dist,
            update,
            track,
            distances,
            B,
            path,
            b0,
            b1,
            counts[g],
            sums[g],
        )
    total_counts = counts[0].copy()
    total_sums = np.zeros((K, d))
    total_inertia = inertia[0]
    total_changed = changed[0]
    for g in range(n_groups):
        if update:
            total_sums += sums[g]
        if g > 0:
            total_counts += counts[g]
            total_inertia += inertia[g]
            total_changed += changed[g]
    return total_counts, total_sums, total_inertia, total_changed


@njit(cache=True)
def _sq_distances_group(X, points, out, B, b0, b1):
    """Blocks ``b0:b1`` of :func:`sq_distances`: tiles of 8 rows by 4 points in registers."""
    n, d = X.shape
    m = out.shape[1]
    origin = np.zeros(d)
    xs = zeros_aligned(d, B)
    xf = xs.reshape(xs.size)
    of = out.reshape(out.size)
    tmp = np.zeros(32)
    for b in range(b0, b1):
        start = b * B
        stop = min(n, start + B)
        rows = stop - start
        _fill(X, start, stop, origin, xs)
        for r0 in range(0, rows, 8):
            last = min(8, rows - r0)
            for p0 in range(0, points.shape[0], 4):
                a0 = vzero()
                a1 = vzero()
                a2 = vzero()
                a3 = vzero()
                for j in range(d):
                    t = vload(xf, j * B + r0)
                    # A separate multiply and add (no FMA): the same roundings as
                    # the per-row sum ``s += v * v``, so results are bitwise the same.
                    v = vsub(t, vsplat(points[p0, j]))
                    a0 = ladd(a0, lmul(v, v))
                    v = vsub(t, vsplat(points[p0 + 1, j]))
                    a1 = ladd(a1, lmul(v, v))
                    v = vsub(t, vsplat(points[p0 + 2, j]))
                    a2 = ladd(a2, lmul(v, v))
                    v = vsub(t, vsplat(points[p0 + 3, j]))
                    a3 = ladd(a3, lmul(v, v))
                vstore(tmp, 0, a0)
                vstore(tmp, 8, a1)
                vstore(tmp, 16, a2)
                vstore(tmp, 24, a3)
                width = min(4, m - p0)
                for q in range(last):
                    o = (start + r0 + q) * m + p0
                    for c in range(width):
                        of[o + c] = tmp[8 * c + q]


@njit(parallel=True, cache=True, nogil=True)
def sq_distances(X, points, out, block_size, n_groups):
    """``out[i, p] = sum_j (X[i, j] - points[p, j])^2`` in float64, in column order.

    The direct form (no cancellation), vectorised along the rows of a
    transposed block; bitwise the per-row sum of the same terms.
    ``points`` has a multiple of 4 rows (padding rows are computed, never
    stored: ``out`` has the real number of columns); ``block_size`` is a
    multiple of 8.
    """
    n = X.shape[0]
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        _sq_distances_group(X, points, out, block_size, b0, b1)
    return out
