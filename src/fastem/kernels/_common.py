"""Helpers shared by the fused kernels: row groups, vectorisable exp, log-sum-exp."""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125
_LN2_LO = 1.428606820309417232e-06


@intrinsic
def _int64_bits_as_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (a free bitcast in LLVM)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (``llvm.fma``; the vectoriser widens it to a vector FMA).

    Numba contracts nothing without ``fastmath``, and a polynomial written as
    separate multiplies and adds is a dependency chain twice as long.
    """
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.DoubleType(), [ir.DoubleType()] * 3), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, inline="always")
def fast_exp(x):
    """exp(x) for x <= 0, branch-free so loops over it vectorise.

    Numba has no vector math library, so ``np.exp`` is a scalar libm call per
    element; this Cody-Waite reduction plus a degree-13 Taylor polynomial and an
    exponent-bit scaling keeps a relative error below 2e-16 on [-708, 0] and
    flushes to exactly 0 below it, which is what responsibilities need.
    """
    keep = 1.0 if x >= -708.0 else 0.0
    x = max(x, -708.0)
    k = np.floor(x * _LOG2E + 0.5)
    r = fma(-k, _LN2_HI, x)
    r = fma(-k, _LN2_LO, r)
    p = 1.0 / 6227020800.0
    p = fma(p, r, 1.0 / 479001600.0)
    p = fma(p, r, 1.0 / 39916800.0)
    p = fma(p, r, 1.0 / 3628800.0)
    p = fma(p, r, 1.0 / 362880.0)
    p = fma(p, r, 1.0 / 40320.0)
    p = fma(p, r, 1.0 / 5040.0)
    p = fma(p, r, 1.0 / 720.0)
    p = fma(p, r, 1.0 / 120.0)
    p = fma(p, r, 1.0 / 24.0)
    p = fma(p, r, 1.0 / 6.0)
    p = fma(p, r, 0.5)
    p = fma(p, r, 1.0)
    p = fma(p, r, 1.0)
    # 2**k through the exponent bits: k is in [-1022, 0] after the clamp above.
    bits = np.int64(k + 1023.0) << 52
    return keep * p * _int64_bits_as_float64(bits)


@njit(cache=True)
def fast_exp_array(x, out):
    """Elementwise :func:`fast_exp` (exposed for tests against ``np.exp``)."""
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])
    return out


@njit(cache=True, inline="always")
def block_layout(n_rows, block_size, n_groups):
    """``(n_blocks, n_groups)``: blocks of ``block_size`` rows over at most ``n_groups`` groups.

    Every row-parallel kernel splits its rows this way; :func:`group_bounds`
    then gives each group its fixed range of blocks.
    """
    n_blocks = (n_rows + block_size - 1) // block_size
    return n_blocks, max(1, min(n_groups, n_blocks))


@njit(cache=True, inline="always")
def group_bounds(n_blocks, n_groups, g):
    """Blocks ``[start, stop)`` owned by row group ``g`` (fixed, so sums are reproducible)."""
    return (g * n_blocks) // n_groups, ((g + 1) * n_blocks) // n_groups


@njit(cache=True)
def sum_groups(values):
    """Column sums of per-group partial sums ``(n_groups, n)``, in group order.

    Not ``values.sum(axis=0)`` inside a ``parallel=True`` kernel: there it
    becomes a reduction split by thread, whose order depends on the thread count.
    """
    out = values[0].copy()
    for g in range(1, values.shape[0]):
        for j in range(values.shape[1]):
            out[j] += values[g, j]
    return out


@njit(cache=True)
def column_sums(scores, K, total):
    """``total[r]`` = sum over the first ``K`` rows of the block ``scores[k, r]``."""
    B = total.shape[0]
    row = scores[0]
    for r in range(B):
        total[r] = row[r]
    for k in range(1, K):
        row = scores[k]
        for r in range(B):
            total[r] += row[r]


@njit(cache=True)
def normalise_columns(scores, K, total, w_block):
    """``scores[k, r] *= w_block[r] / total[r]`` for the first ``K`` rows (``total`` overwritten).

    The last step of a block's responsibilities, whose column sums ``total``
    are of the exponentials in ``scores``.
    """
    B = total.shape[0]
    for r in range(B):
        total[r] = w_block[r] / total[r]
    for k in range(K):
        row = scores[k]
        for r in range(B):
            row[r] *= total[r]
