"""Float vectors for hand-tiled Numba kernels.

Numba has no SIMD type, and LLVM's auto-vectoriser will not keep a tile of
accumulators in registers across a reduction loop: it reloads and stores them
through memory every step.  :class:`VecType` is a Numba type whose LLVM value
is an ``<n x double>`` or ``<n x float>``; a kernel holding its accumulators in
such locals gets them allocated to vector registers.  Two families serve the
two register widths of x86:

- ``Vec8`` (eight float64 lanes, one zmm with AVX-512): :func:`vzero`,
  :func:`vsplat`, :func:`vload` (also :func:`vload_widened` from float32);
- 256-bit vectors for AVX2's 16 ymm: ``Vec4`` (four float64 lanes) and
  ``Vec8f32`` (eight float32 lanes), made by :func:`zero256`,
  :func:`splat256` and :func:`load256`, whose lane type is the dtype of the
  array they are given, so one tile source serves both precisions (and
  ``Vec16f32`` by :func:`load512` and friends for float32 with AVX-512).

The operations (:func:`vstore`, :func:`vfma`, :func:`vsub`, :func:`vmul`,
:func:`vsum`) take any of these types.  Besides: a prefetch hint, an 8 x 8 and
a 4 x 4 transpose, and :func:`zeros_aligned` for rows that start on cache
lines.

Loads and stores are unchecked and unaligned: the caller guarantees that
``i + lanes <= len(row)``; that ``row`` is a C-contiguous row of the vector's
dtype (float32 too for :func:`vload_widened`) is checked when the kernel
compiles.
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
_FLOAT64 = np.empty(0)


class VecType(types.Type):
    """Numba type of a vector value of ``lanes`` float64 or float32 lanes."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = lanes
        suffix = "" if dtype == types.float64 else "f32"
        super().__init__(name=f"Vec{lanes}{suffix}")

    @property
    def key(self):
        return self.dtype, self.lanes


vec8 = VecType(types.float64, 8)
vec4 = VecType(types.float64, 4)
vec8f32 = VecType(types.float32, 8)
vec16f32 = VecType(types.float32, 16)


def _ir_scalar(dtype):
    return _DOUBLE if dtype == types.float64 else ir.FloatType()


def _ir_vector(vector_type):
    return ir.VectorType(_ir_scalar(vector_type.dtype), vector_type.lanes)


@register_model(VecType)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _ir_vector(fe_type))


@functools.cache
def wide_vectors():
    """Whether this CPU has 512-bit float64 FMA (AVX-512F).

    The eight-lane tiles keep 24 ``Vec8`` accumulators live; that fits the 32
    zmm registers of AVX-512 but would spill with AVX2's 16 ymm, which take
    the 256-bit tiles instead (see :func:`vector_bits`).
    """
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx512f", False))


@functools.cache
def vector_bits():
    """Width of the float vectors this CPU runs at full rate with FMA: 512, 256 or 0.

    512 with AVX-512F, 256 with AVX2 and FMA, 0 otherwise (older x86 and other
    architectures, where LLVM would emulate the FMAs or the vectors and the
    kernels take BLAS or plain loops instead; the tiles stay correct there).
    """
    if wide_vectors():
        return 512
    features = llvm.get_host_cpu_features()
    if features.get("avx2", False) and features.get("fma", False):
        return 256
    return 0


def _element_pointer(context, builder, array_type, array, index, pointee=_VECTOR):
    """Address of element ``index`` of a C-contiguous array, as a ``pointee*``."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), pointee.as_pointer())


def _check_row(row, dtype=types.float64, name="Vec8"):
    if not (
        isinstance(row, types.Array) and row.ndim == 1 and row.dtype == dtype and row.layout == "C"
    ):
        raise TypeError(f"{name} loads and stores need a C-contiguous {dtype} row, got {row}")


def _check_vectors(*args):
    first = args[0]
    if not isinstance(first, VecType) or any(a != first for a in args):
        raise TypeError(f"vector operations need vectors of one type, got {args}")
    return first


def _splat_value(builder, value, vector_type):
    vector = _ir_vector(vector_type)
    one = builder.insert_element(ir.Constant(vector, ir.Undefined), value, _I32(0))
    mask = ir.Constant(ir.VectorType(_I32, vector_type.lanes), [0] * vector_type.lanes)
    return builder.shuffle_vector(one, one, mask)


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
        return _splat_value(builder, value, vec8)

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
    """``row[i:i + 8]`` of a C-contiguous float32, float64 or uint8 row, as float64 lanes."""
    if not (
        isinstance(row, types.Array)
        and row.ndim == 1
        and row.dtype in (types.float32, types.float64, types.uint8)
        and row.layout == "C"
    ):
        raise TypeError(f"vload_widened needs a C-contiguous float or uint8 row, got {row}")
    dtype = row.dtype

    def codegen(context, builder, signature, args):
        if dtype == types.float64:
            return builder.load(
                _element_pointer(context, builder, signature.args[0], *args), align=8
            )
        if dtype == types.float32:
            narrow = ir.VectorType(ir.FloatType(), LANES)
        else:
            narrow = ir.VectorType(ir.IntType(8), LANES)
        pointer = _element_pointer(context, builder, signature.args[0], *args, pointee=narrow)
        value = builder.load(pointer, align=dtype.bitwidth // 8)
        if dtype == types.float32:
            return builder.fpext(value, _VECTOR)
        return builder.uitofp(value, _VECTOR)

    return vec8(row, types.intp), codegen


def _float_array(array, what):
    if not (isinstance(array, types.Array) and array.dtype in (types.float32, types.float64)):
        raise TypeError(f"{what} needs a float32 or float64 array, got {array}")
    return array.dtype


def _register_family(bits):
    """``(zero, splat, load, lanes)`` intrinsics for ``bits``-wide vectors of an array's dtype.

    The lane type follows the array argument (float64: ``bits / 64`` lanes,
    float32: ``bits / 32``), so one tile source compiles for both precisions.
    """

    def vector_of(dtype):
        return VecType(dtype, bits // dtype.bitwidth)

    @intrinsic
    def zero(typingctx, like):
        dtype = _float_array(like, f"zero{bits}")
        vt = vector_of(dtype)

        def codegen(context, builder, signature, args):
            return ir.Constant(_ir_vector(vt), [0.0] * vt.lanes)

        return vt(like), codegen

    @intrinsic
    def splat(typingctx, like, x):
        dtype = _float_array(like, f"splat{bits}")
        vt = vector_of(dtype)

        def codegen(context, builder, signature, args):
            value = context.cast(builder, args[1], signature.args[1], dtype)
            return _splat_value(builder, value, vt)

        return vt(like, x), codegen

    @intrinsic
    def load(typingctx, row, i):
        dtype = _float_array(row, f"load{bits}")
        vt = vector_of(dtype)
        _check_row(row, dtype, str(vt))

        def codegen(context, builder, signature, args):
            pointer = _element_pointer(
                context, builder, signature.args[0], *args, pointee=_ir_vector(vt)
            )
            return builder.load(pointer, align=dtype.bitwidth // 8)

        return vt(row, types.intp), codegen

    @intrinsic
    def lanes(typingctx, like):
        dtype = _float_array(like, f"lanes{bits}")
        n = vector_of(dtype).lanes

        def codegen(context, builder, signature, args):
            return context.get_constant(types.intp, n)

        return types.intp(like), codegen

    zero.__doc__ = f"A {bits}-bit vector of zeros in the lanes of ``like``'s dtype."
    splat.__doc__ = f"A {bits}-bit vector of copies of ``x``, cast to ``like``'s dtype."
    load.__doc__ = f"``row[i:i + n]`` as a {bits}-bit vector of the row's dtype."
    lanes.__doc__ = f"Lanes of a {bits}-bit vector of ``like``'s dtype (a constant)."
    return zero, splat, load, lanes


zero256, splat256, load256, lanes256 = _register_family(256)
zero512, splat512, load512, lanes512 = _register_family(512)


@intrinsic
def vstore(typingctx, row, i, value):
    """``row[i:i + n] = value`` for a vector ``value`` of ``n`` lanes of the row's dtype."""
    _check_vectors(value)
    _check_row(row, value.dtype, str(value))
    align = value.dtype.bitwidth // 8

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(
            context, builder, signature.args[0], args[0], args[1], _ir_vector(value)
        )
        builder.store(args[2], pointer, align=align)
        return context.get_dummy_value()

    return types.void(row, types.intp, value), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, with a single rounding."""
    vt = _check_vectors(a, b, c)
    name = f"llvm.fma.v{vt.lanes}f{vt.dtype.bitwidth}"

    def codegen(context, builder, signature, args):
        vector = _ir_vector(vt)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector, [vector] * 3), name
        )
        return builder.call(fma, args)

    return vt(vt, vt, vt), codegen


@intrinsic
def vsum(typingctx, v):
    """Sum of the lanes, as a fixed pairwise tree (same order on every CPU).

    Eight lanes: ``((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7))``; four:
    ``(x0 + x2) + (x1 + x3)``.  The result has the vector's dtype.
    """
    vt = _check_vectors(v)

    def codegen(context, builder, signature, args):
        value = args[0]
        width = vt.lanes
        while width > 1:
            width //= 2
            low = ir.Constant(ir.VectorType(_I32, width), list(range(width)))
            high = ir.Constant(ir.VectorType(_I32, width), list(range(width, 2 * width)))
            value = builder.fadd(
                builder.shuffle_vector(value, value, low),
                builder.shuffle_vector(value, value, high),
            )
        return builder.extract_element(value, _I32(0))

    return vt.dtype(vt), codegen


@intrinsic
def vsum4(typingctx, a, b, c, d):
    """``[vsum(a), vsum(b), vsum(c), vsum(d)]`` as one four-lane vector.

    For four- or eight-lane vectors, with the same tree as :func:`vsum` (eight
    lanes first add their halves), computed for four vectors at once: a few
    shuffles and adds instead of four separate reductions.
    """
    vt = _check_vectors(a, b, c, d)
    if vt.lanes not in (4, 8):
        raise TypeError(f"vsum4 takes four- or eight-lane vectors, got {vt}")
    result = VecType(vt.dtype, 4)

    def codegen(context, builder, signature, args):
        def pick(x, y, lanes):
            mask = ir.Constant(ir.VectorType(_I32, len(lanes)), lanes)
            return builder.shuffle_vector(x, y, mask)

        values = list(args)
        if vt.lanes == 8:
            low, high = [0, 1, 2, 3], [4, 5, 6, 7]
            values = [builder.fadd(pick(v, v, low), pick(v, v, high)) for v in values]
        a, b, c, d = values
        # [a0 + a2, a1 + a3, b0 + b2, b1 + b3] and the same for c, d.
        ab = builder.fadd(pick(a, b, [0, 1, 4, 5]), pick(a, b, [2, 3, 6, 7]))
        cd = builder.fadd(pick(c, d, [0, 1, 4, 5]), pick(c, d, [2, 3, 6, 7]))
        return builder.fadd(pick(ab, cd, [0, 2, 4, 6]), pick(ab, cd, [1, 3, 5, 7]))

    return result(vt, vt, vt, vt), codegen


@intrinsic
def vsub(typingctx, a, b):
    """``a - b`` lane by lane."""
    vt = _check_vectors(a, b)

    def codegen(context, builder, signature, args):
        return builder.fsub(args[0], args[1])

    return vt(vt, vt), codegen


@intrinsic
def vadd(typingctx, a, b):
    """``a + b`` lane by lane."""
    vt = _check_vectors(a, b)

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])

    return vt(vt, vt), codegen


@intrinsic
def vmul(typingctx, a, b):
    """``a * b`` lane by lane."""
    vt = _check_vectors(a, b)

    def codegen(context, builder, signature, args):
        return builder.fmul(args[0], args[1])

    return vt(vt, vt), codegen


@intrinsic
def _float64_bits(typingctx, x):
    """The bits of a float64 as an int64 (a free bitcast in LLVM)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float64(typingctx, bits):
    """An int64's bits as a float64 (a free bitcast in LLVM)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _DOUBLE)

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """Scalar ``a * b + c`` with one rounding (LLVM widens it to a vector FMA)."""

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_DOUBLE, [_DOUBLE] * 3), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def trailing_zeros(typingctx, x):
    """Index of the lowest set bit of a nonzero int64 (one ``tzcnt``); undefined for 0."""

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i64, [i64, ir.IntType(1)]), "llvm.cttz.i64"
        )
        return builder.call(fn, [args[0], ir.IntType(1)(1)])

    return types.int64(types.int64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125
_LN2_LO = 1.428606820309417232e-06
# 2**52 + 1023: added to an integral k in [-1022, 0], its low mantissa bits
# hold k + 1023, the biased exponent of 2**k.
_EXPONENT_MAGIC = 4503599627371519.0


@njit(cache=True, inline="always")
def exp_nonpositive(x):
    """exp(x) for x <= 0, branch-free and short-latency, for loops LLVM vectorises.

    The contract of :func:`fastem.kernels._common.fast_exp` (relative error
    below 5e-16 on [-708, 0], exactly 1 at 0, exactly 0 below -708) in a
    form that suits 256-bit vectors: the degree-13 Taylor polynomial in
    Estrin's scheme (a dependency chain of 5 FMAs instead of Horner's 13, so
    the out-of-order core overlaps more vectors), and ``2**k`` built by adding
    ``2**52 + 1023`` and shifting the bits, since AVX2 has no float64 to int64
    conversion (LLVM would do that conversion one lane at a time).
    """
    keep = 1.0 if x >= -708.0 else 0.0
    x = max(x, -708.0)
    k = np.floor(x * _LOG2E + 0.5)
    r = _fma(-k, _LN2_HI, x)
    r = _fma(-k, _LN2_LO, r)
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    # Coefficients 1 / i!, paired (i, i + 1), then pairs of pairs, and so on.
    p01 = _fma(r, 1.0, 1.0)
    p23 = _fma(r, 1.0 / 6.0, 0.5)
    p45 = _fma(r, 1.0 / 120.0, 1.0 / 24.0)
    p67 = _fma(r, 1.0 / 5040.0, 1.0 / 720.0)
    p89 = _fma(r, 1.0 / 362880.0, 1.0 / 40320.0)
    p1011 = _fma(r, 1.0 / 39916800.0, 1.0 / 3628800.0)
    p1213 = _fma(r, 1.0 / 6227020800.0, 1.0 / 479001600.0)
    p03 = _fma(p23, r2, p01)
    p47 = _fma(p67, r2, p45)
    p811 = _fma(p1011, r2, p89)
    p07 = _fma(p47, r4, p03)
    p813 = _fma(p1213, r4, p811)
    p = _fma(p813, r8, p07)
    scale = _bits_float64(_float64_bits(k + _EXPONENT_MAGIC) << 52)
    return keep * p * scale


@njit(cache=True)
def exp_nonpositive_array(x, out):
    """Elementwise :func:`exp_nonpositive` (exposed for tests against ``np.exp``)."""
    for i in range(x.shape[0]):
        out[i] = exp_nonpositive(x[i])
    return out


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
    return zeros_aligned_like(rows, cols, _FLOAT64)


@njit(cache=True)
def zeros_aligned_like(rows, cols, like):
    """:func:`zeros_aligned` in the dtype of the array ``like`` (float32 or float64)."""
    buffer = np.zeros(rows * cols + 64 // like.itemsize, like.dtype)
    skip = ((-buffer.ctypes.data) % 64) // like.itemsize
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
