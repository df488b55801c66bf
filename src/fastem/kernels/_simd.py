"""Eight-lane float64 vectors for hand-tiled Numba kernels.

Numba has no SIMD type, and LLVM's auto-vectoriser will not keep a tile of
accumulators in registers across a reduction loop: it reloads and stores them
through memory every step.  ``Vec8`` is a Numba type whose LLVM value is a
``<8 x double>``; a kernel holding its accumulators in ``Vec8`` locals gets
them allocated to vector registers (one zmm each with AVX-512, two ymm
without).  Only what the kernels need is defined: zero, broadcast, load
(also from float32, widened), store, subtract, fused multiply-add, a
horizontal sum, a prefetch hint and an 8 x 8 transpose; and
:func:`zeros_aligned` for rows that start on cache lines.

Loads and stores are unchecked and unaligned: the caller guarantees that
``i + 8 <= len(row)``; that ``row`` is a C-contiguous float64 row (float32
too for :func:`vload_widened`) is checked when the kernel compiles.
"""

import functools

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

LANES = 8

_DOUBLE = ir.DoubleType()
_VECTOR = ir.VectorType(_DOUBLE, LANES)
_I32 = ir.IntType(32)


class Vec8Type(types.Type):
    """Numba type of an eight-lane float64 vector value."""

    def __init__(self):
        super().__init__(name="Vec8")


vec8 = Vec8Type()


@register_model(Vec8Type)
class _Vec8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VECTOR)


@functools.cache
def wide_vectors():
    """Whether this CPU has 512-bit float64 FMA (AVX-512F).

    The tiled kernels keep 24 ``Vec8`` accumulators live; that fits the 32 zmm
    registers of AVX-512 but would spill with AVX2's 16 ymm, where the BLAS
    path is the faster one.
    """
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx512f", False))


def _element_pointer(context, builder, array_type, array, index, pointee=_VECTOR):
    """Address of element ``index`` of a C-contiguous array, as a ``pointee*``."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), pointee.as_pointer())


def _check_row(row):
    if not (
        isinstance(row, types.Array)
        and row.ndim == 1
        and row.dtype == types.float64
        and row.layout == "C"
    ):
        raise TypeError(f"Vec8 loads and stores need a C-contiguous float64 row, got {row}")


@intrinsic
def vzero(typingctx):
    """A vector of eight zeros."""

    def codegen(context, builder, signature, args):
        return ir.Constant(_VECTOR, [0.0] * LANES)

    return vec8(), codegen


@intrinsic
def vsplat(typingctx, x):
    """A vector of eight copies of the float64 ``x``."""

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.float64)
        one = builder.insert_element(ir.Constant(_VECTOR, ir.Undefined), value, _I32(0))
        return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_I32, LANES), [0] * 8))

    return vec8(x), codegen


@intrinsic
def vload(typingctx, row, i):
    """``row[i:i + 8]`` as a vector."""
    _check_row(row)

    def codegen(context, builder, signature, args):
        return builder.load(_element_pointer(context, builder, signature.args[0], *args), align=8)

    return vec8(row, types.intp), codegen


@intrinsic
def vload_widened(typingctx, row, i):
    """``row[i:i + 8]`` of a C-contiguous float32 or float64 row, as float64 lanes."""
    if not (
        isinstance(row, types.Array)
        and row.ndim == 1
        and row.dtype in (types.float32, types.float64)
        and row.layout == "C"
    ):
        raise TypeError(f"vload_widened needs a C-contiguous float row, got {row}")
    narrow = row.dtype == types.float32

    def codegen(context, builder, signature, args):
        if not narrow:
            return builder.load(
                _element_pointer(context, builder, signature.args[0], *args), align=8
            )
        floats = ir.VectorType(ir.FloatType(), LANES)
        pointer = _element_pointer(context, builder, signature.args[0], *args, pointee=floats)
        return builder.fpext(builder.load(pointer, align=4), _VECTOR)

    return vec8(row, types.intp), codegen


@intrinsic
def vstore(typingctx, row, i, value):
    """``row[i:i + 8] = value``."""
    _check_row(row)

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store(args[2], pointer, align=8)
        return context.get_dummy_value()

    return types.void(row, types.intp, vec8), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, with a single rounding."""

    def codegen(context, builder, signature, args):
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VECTOR, [_VECTOR] * 3), "llvm.fma.v8f64"
        )
        return builder.call(fma, args)

    return vec8(vec8, vec8, vec8), codegen


@intrinsic
def vsum(typingctx, v):
    """Sum of the eight lanes, as a fixed pairwise tree (same order on every CPU)."""

    def codegen(context, builder, signature, args):
        value = args[0]
        width = LANES
        while width > 1:
            width //= 2
            low = ir.Constant(ir.VectorType(_I32, width), list(range(width)))
            high = ir.Constant(ir.VectorType(_I32, width), list(range(width, 2 * width)))
            value = builder.fadd(
                builder.shuffle_vector(value, value, low),
                builder.shuffle_vector(value, value, high),
            )
        return builder.extract_element(value, _I32(0))

    return types.float64(vec8), codegen


@intrinsic
def vsub(typingctx, a, b):
    """``a - b`` lane by lane."""

    def codegen(context, builder, signature, args):
        return builder.fsub(args[0], args[1])

    return vec8(vec8, vec8), codegen


@intrinsic
def prefetch(typingctx, array, i):
    """Start loading the cache line that holds flat element ``i`` of a C-contiguous array.

    Only a hint, with no effect on results.  Issued a few lines at a time
    between arithmetic, it overlaps the next block's memory reads with this
    block's products; issued in one burst for a whole block it gave no
    measurable gain.
    """
    if not (isinstance(array, types.Array) and array.layout == "C"):
        raise TypeError(f"prefetch needs a C-contiguous array, got {array}")

    def codegen(context, builder, signature, args):
        byte = ir.IntType(8)
        address = _element_pointer(context, builder, signature.args[0], *args, pointee=byte)
        hint = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte.as_pointer(), _I32, _I32, _I32]),
            "llvm.prefetch.p0",
        )
        # Read, keep in all cache levels, data cache.
        builder.call(hint, [address, _I32(0), _I32(3), _I32(1)])
        return context.get_dummy_value()

    return types.void(array, types.intp), codegen


def _interleave(mask, doc):
    """An intrinsic picking lanes of two vectors by ``mask`` (0-7 from ``a``, 8-15 from ``b``)."""

    @intrinsic
    def interleave(typingctx, a, b):
        def codegen(context, builder, signature, args):
            lanes = ir.Constant(ir.VectorType(_I32, LANES), list(mask))
            return builder.shuffle_vector(args[0], args[1], lanes)

        return vec8(vec8, vec8), codegen

    interleave.__doc__ = doc
    return interleave


# The three stages of an 8 x 8 transpose: lanes of distance 1, 2 and 4 exchanged.
_even1 = _interleave((0, 8, 2, 10, 4, 12, 6, 14), "Even lanes of a and b, interleaved.")
_odd1 = _interleave((1, 9, 3, 11, 5, 13, 7, 15), "Odd lanes of a and b, interleaved.")
_even2 = _interleave((0, 1, 8, 9, 4, 5, 12, 13), "Even lane pairs of a and b, interleaved.")
_odd2 = _interleave((2, 3, 10, 11, 6, 7, 14, 15), "Odd lane pairs of a and b, interleaved.")
_low4 = _interleave((0, 1, 2, 3, 8, 9, 10, 11), "Low halves of a and b.")
_high4 = _interleave((4, 5, 6, 7, 12, 13, 14, 15), "High halves of a and b.")


@njit(cache=True)
def zeros_aligned(rows, cols):
    """A C-contiguous float64 (rows, cols) array of zeros starting on a 64-byte line.

    NRT allocations are only 16- or 32-byte aligned; a row whose vectors
    straddle cache lines splits every load in two, which noticeably slows
    load-bound kernels such as ``gemm_nt``.  Rows stay aligned when ``cols``
    is a multiple of 8.
    """
    buffer = np.zeros(rows * cols + LANES)
    skip = ((-buffer.ctypes.data) % 64) // 8
    return buffer[skip : skip + rows * cols].reshape((rows, cols))


@njit(cache=True, inline="always")
def store_transposed(out, j0, r0, v0, v1, v2, v3, v4, v5, v6, v7):
    """``out[j0 + c, r0:r0 + 8] = [v0[c], ..., v7[c]]`` for c in 0..7.

    Rows ``v0..v7`` of an 8 x 8 tile become columns in three stages of lane
    exchanges (distance 1, 2, then 4): 24 shuffles for 64 values, where scalar
    loads and stores take one memory operation per value.
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
    vstore(out[j0], r0, _low4(b0, b4))
    vstore(out[j0 + 1], r0, _low4(b1, b5))
    vstore(out[j0 + 2], r0, _low4(b2, b6))
    vstore(out[j0 + 3], r0, _low4(b3, b7))
    vstore(out[j0 + 4], r0, _high4(b0, b4))
    vstore(out[j0 + 5], r0, _high4(b1, b5))
    vstore(out[j0 + 6], r0, _high4(b2, b6))
    vstore(out[j0 + 7], r0, _high4(b3, b7))
