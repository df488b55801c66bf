"""Eight-lane float64 vectors for hand-tiled Numba kernels.

Numba has no SIMD type, and LLVM's auto-vectoriser will not keep a tile of
accumulators in registers across a reduction loop: it reloads and stores them
through memory every step.  ``Vec8`` is a Numba type whose LLVM value is a
``<8 x double>``; a kernel holding its accumulators in ``Vec8`` locals gets
them allocated to vector registers (one zmm each with AVX-512, two ymm
without).  Only what the matrix-product tiles need is defined: zero,
broadcast, load, store, fused multiply-add and a horizontal sum.

Loads and stores are unchecked and unaligned: the caller guarantees that
``i + 8 <= len(row)`` and that ``row`` is a C-contiguous float64 row.
"""

import functools

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
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


def _element_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), _VECTOR.as_pointer())


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
