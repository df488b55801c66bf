"""float32 exponentials for the float32 blocks of the Gaussian E-step.

:func:`exp_nonpositive32` is :func:`._simd.exp_nonpositive` in float32
arithmetic (eight lanes per 256-bit vector instead of four);
:func:`exp_nonpositive_in` picks the one of its argument's precision, so that
one kernel source serves float32 and float64 blocks.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._simd import _I32, _LOG2E, exp_nonpositive


@intrinsic
def _float32_bits(typingctx, x):
    """The bits of a float32 as an int32 (a free bitcast in LLVM)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _I32)

    return types.int32(types.float32), codegen


@intrinsic
def _bits_float32(typingctx, bits):
    """An int32's bits as a float32 (a free bitcast in LLVM)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _fma32(typingctx, a, b, c):
    """Scalar float32 ``a * b + c`` with one rounding (LLVM widens it to a vector FMA)."""

    def codegen(context, builder, signature, args):
        single = ir.FloatType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(single, [single] * 3), "llvm.fma.f32"
        )
        return builder.call(fn, args)

    return types.float32(types.float32, types.float32, types.float32), codegen


# float32 Cody-Waite split of ln 2: the high part has 12 significant bits, so
# k * _LN2_HI32 is exact for the |k| <= 126 of float32's range.
_LN2_HI32 = np.float32(0.693359375)
_LN2_LO32 = np.float32(-2.12194440e-4)
_LOG2E32 = np.float32(_LOG2E)
# 2**23 + 127: added to an integral k in [-126, 0], its low mantissa bits hold
# k + 127, the biased exponent of 2**k.
_EXPONENT_MAGIC32 = np.float32(8388735.0)
_EXP32_FLOOR = np.float32(-87.0)


@njit(cache=True, inline="always")
def exp_nonpositive32(x):
    """exp(x) for float32 x <= 0, in float32 arithmetic, for loops LLVM vectorises.

    The float32 counterpart of :func:`exp_nonpositive` (eight lanes per 256-bit
    vector instead of four): Cody-Waite reduction to |r| <= ln(2)/2, the
    degree-7 Taylor polynomial in Estrin's scheme (truncation below 6e-9, under
    float32's rounding), ``2**k`` from the exponent bits; exactly 1 at 0 and
    exactly 0 below -87 (where float32 turns subnormal).
    """
    keep = np.float32(1.0) if x >= _EXP32_FLOOR else np.float32(0.0)
    x = max(x, _EXP32_FLOOR)
    k = np.float32(np.floor(x * _LOG2E32 + np.float32(0.5)))
    r = _fma32(-k, _LN2_HI32, x)
    r = _fma32(-k, _LN2_LO32, r)
    r2 = r * r
    r4 = r2 * r2
    one = np.float32(1.0)
    p01 = _fma32(r, one, one)
    p23 = _fma32(r, np.float32(1.0 / 6.0), np.float32(0.5))
    p45 = _fma32(r, np.float32(1.0 / 120.0), np.float32(1.0 / 24.0))
    p67 = _fma32(r, np.float32(1.0 / 5040.0), np.float32(1.0 / 720.0))
    p03 = _fma32(p23, r2, p01)
    p47 = _fma32(p67, r2, p45)
    p = _fma32(p47, r4, p03)
    scale = _bits_float32(_float32_bits(k + _EXPONENT_MAGIC32) << np.int32(23))
    return keep * p * scale


def exp_nonpositive_in(x):
    """exp(x) for x <= 0 in x's precision (:func:`exp_nonpositive`, :func:`exp_nonpositive32`)."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(exp_nonpositive_in, inline="always")
def _exp_nonpositive_in_impl(x):
    if x == types.float32:
        return lambda x: exp_nonpositive32(x)
    return lambda x: exp_nonpositive(x)


@njit(cache=True)
def exp_nonpositive32_array(x, out):
    """Elementwise :func:`exp_nonpositive32` (exposed for tests against ``np.exp``)."""
    for i in range(x.shape[0]):
        out[i] = exp_nonpositive32(x[i])
    return out
