"""Eight-lane vectors whose element type follows the row: float32 or float64.

The k-means kernels rank centres in either precision from one source: the
intrinsics here (:func:`lload`, :func:`lsplat`, :func:`lfma` ...) take a
C-contiguous float32 or float64 row (or lanes made from one) and pick the
element type from it, ``<8 x float>`` or ``<8 x double>`` (float64 lanes are
:data:`fastem.kernels._simd.vec8`). Besides: the shuffles of an 8 x 8
transpose and :func:`_store_transposed`. See docs/architecture.md.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from ._simd import vec8


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
