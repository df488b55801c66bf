"""The register-tiled block products of ``kernels._gemm``, the Vec8 intrinsics under
them, and the 8 x 8 transposition that fills the Gaussian kernels' feature blocks.

Every shape class takes its own edge tiles, so the products are checked on
a grid that reaches each of them; the intrinsics are checked lane by lane.
"""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

import fastem.kernels._gemm as gemm
from fastem.kernels._gemm import (
    COMPONENT_TILE,
    FEATURE_TILE,
    MATMUL_BLAS,
    MATMUL_LOOPS,
    MATMUL_TILED,
    MATMUL_TILED4,
    ROW_TILE,
    round_up,
)
from fastem.kernels._gemm8 import gemm_nt, gemm_tn
from fastem.kernels._rows import _transpose_shifted
from fastem.kernels._simd import (
    LANES,
    prefetch,
    store_transposed,
    vector_bits,
    vfma,
    vload,
    vload_widened,
    vsplat,
    vstore,
    vsub,
    vsum,
    vzero,
    wide_vectors,
    zeros_aligned,
)

EPS = np.finfo(np.float64).eps

# gemm_tn: tiles of 8 (then 4, then 1) components by 24 (then 8) rows; every K from
# 0 to 20 reaches each combination of the 8-, 4- and 1-wide tiles, 33 = 4 * 8 + 1.
TN_COMPONENTS = [*range(21), 33]
# 8 and 16: tail tiles only; 24, 264: full tiles only; 40, 56: both.
TN_ROWS = [8, 16, 24, 40, 56, 264]
TN_FEATURES = [0, 1, 5, 6, 7, 153]

# gemm_nt: components in fours, 6-feature tiles then single features.
NT_COMPONENTS = [0, 4, 8, 12, 20, 36]
NT_ROWS = [8, 16, 24, 40, 264]
NT_FEATURES = [0, 1, 5, 6, 7, 11, 12, 13, 153]
# The 512-bit tiles in sixteen float32 lanes: rows in vectors of 16; 1 and 2 vectors
# take the tail tiles only, 3 and 33 full tiles only, 4 and 7 both.
EPS32 = np.finfo(np.float32).eps
ROWS32 = [16 * v for v in (1, 2, 3, 4, 7, 33)]

W_DTYPES = {
    "float64": lambda rng, shape: rng.standard_normal(shape),
    "float32": lambda rng, shape: rng.standard_normal(shape).astype(np.float32),
    "uint8": lambda rng, shape: rng.integers(0, 256, shape, dtype=np.uint8),
    # What the Bernoulli kernels pass: a bool array viewed as bytes.
    "bool-as-uint8": lambda rng, shape: (rng.random(shape) < 0.3).view(np.uint8),
}
W_LAYOUTS = ["C", "F", "strided"]


def _guard_value(dtype):
    # NaN where it exists: any read of a guard element poisons a result.
    return np.nan if np.dtype(dtype).kind == "f" else 255


def _weights(values, layout):
    """``values`` (F, K) laid out as asked; 'strided' is a window into a guarded array."""
    if layout == "C":
        return np.ascontiguousarray(values)
    if layout == "F":
        # A transposed view of a C-contiguous (K, F) array: how ``A @ T`` is asked for.
        return np.ascontiguousarray(values.T).T
    F, K = values.shape
    full = np.full((F + 2, 2 * K + 3), _guard_value(values.dtype), dtype=values.dtype)
    window = full[1 : F + 1, 1 : 2 * K + 1 : 2]
    window[...] = values
    return window


def _guarded_rows(values, dtype=np.float64):
    """A C-contiguous ``dtype`` copy of ``values`` framed by a row of NaN above and below."""
    full = np.full((values.shape[0] + 2, values.shape[1]), np.nan, dtype=dtype)
    full[1:-1] = values
    return full, full[1:-1]


def _bound(a, b, n_terms, eps=EPS):
    """Largest difference two evaluations of ``a @ b`` may have, entry by entry.

    Any summation order of n products (with or without fused multiply-adds)
    is within ``gamma_n * sum |a||b|`` of the exact value, gamma_n ~ n u with
    u = eps / 2; two evaluations are within twice that of each other (one
    float32 evaluation and a float64 one, far closer to exact, well within
    it). One more term's worth covers the rounding of the bound itself.
    ``eps`` is the machine epsilon of the evaluation's precision.
    """
    return (n_terms + 1) * eps * (np.abs(a) @ np.abs(b))


def _run_tn(W, T):
    """``gemm_tn`` into a NaN-framed output; checks the frame and that it wrote everything."""
    K, B = W.shape[1], T.shape[1]
    T_full, T_view = _guarded_rows(T, T.dtype)
    out_full, out = _guarded_rows(np.full((K, B), np.nan), T.dtype)
    gemm_tn(W, T_view, out)
    assert np.all(np.isnan(out_full[[0, -1]])), "wrote outside out"
    assert np.all(np.isfinite(out)), "left entries of out unwritten (or read a guard)"
    assert np.array_equal(T_full[1:-1], T), "changed T"
    return out.copy()


def _run_nt(R, T):
    K, F = R.shape[0], T.shape[0]
    _, R_view = _guarded_rows(R, T.dtype)
    _, T_view = _guarded_rows(T, T.dtype)
    out_full, out = _guarded_rows(np.full((K, F), np.nan), T.dtype)
    gemm_nt(R_view, T_view, out)
    assert np.all(np.isnan(out_full[[0, -1]])), "wrote outside out"
    assert np.all(np.isfinite(out)), "left entries of out unwritten (or read a guard)"
    return out.copy()


# -- gemm_tn --------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", W_LAYOUTS)
@pytest.mark.parametrize("dtype", list(W_DTYPES))
def test_gemm_tn_matches_numpy(dtype, layout):
    rng = np.random.default_rng(0)
    for F in TN_FEATURES:
        for B in TN_ROWS:
            # Mixed signs: the bound must hold under cancellation too.
            T = rng.standard_normal((F, B)) * 10.0 ** rng.uniform(-3, 3, (F, 1))
            for K in TN_COMPONENTS:
                values = W_DTYPES[dtype](rng, (F, K))
                W = _weights(values, layout)
                assert W.dtype == values.dtype
                got = _run_tn(W, T)
                W64 = values.astype(np.float64)
                expected = W64.T @ T
                diff = np.abs(got - expected)
                bound = _bound(W64.T, T, F)
                assert np.all(diff <= bound), (F, K, B, (diff - bound).max())


@pytest.mark.parametrize("layout", W_LAYOUTS)
@pytest.mark.parametrize("dtype", list(W_DTYPES))
def test_gemm_tn_is_exact_on_integers(dtype, layout):
    # Integer-valued products and sums below 2**53 are exact in any order: the result
    # must equal NumPy's bit for bit, so a misplaced index cannot hide in a tolerance.
    rng = np.random.default_rng(1)
    for F in TN_FEATURES:
        for B in TN_ROWS:
            T = rng.integers(-1000, 1001, (F, B)).astype(np.float64)
            for K in TN_COMPONENTS:
                values = W_DTYPES[dtype](rng, (F, K))
                if values.dtype.kind == "f":
                    values = np.round(values * 100).astype(values.dtype)
                got = _run_tn(_weights(values, layout), T)
                np.testing.assert_array_equal(got, values.astype(np.float64).T @ T)


def test_gemm_tn_a_transposed_view_gives_a_times_t():
    # The form the Bernoulli kernels use: rows of uint8 (m, D), transposed, against (D, Kp).
    rng = np.random.default_rng(2)
    X = (rng.random((37, 11)) < 0.5).view(np.uint8)
    Wp = rng.standard_normal((11, 8))
    out = np.empty((37, 8))
    gemm_tn(X.T, Wp, out)
    expected = X.astype(np.float64) @ Wp
    assert np.all(np.abs(out - expected) <= _bound(X.astype(np.float64), Wp, 11))


def test_gemm_tn_rejects_a_non_contiguous_t():
    W = np.ones((3, 4))
    T = np.ones((8, 3)).T  # F-ordered (3, 8)
    with pytest.raises((TypeError, TypingError), match="C-contiguous float64"):
        gemm_tn(W, T, np.empty((4, 8)))


# -- gemm_nt --------------------------------------------------------------------------------
# (dtype, rows): float64 tiles of 8 lanes, and the 512-bit tiles in sixteen float32 lanes.
NT_PRECISIONS = pytest.mark.parametrize(
    "dtype, rows", [(np.float64, NT_ROWS), (np.float32, ROWS32)], ids=["float64", "float32"]
)


@NT_PRECISIONS
def test_gemm_nt_matches_numpy(dtype, rows):
    rng = np.random.default_rng(3)
    for K in NT_COMPONENTS:
        for B in rows:
            # Responsibilities-like and signed magnitudes of many decades.
            R = rng.random((K, B)).astype(dtype)
            for F in NT_FEATURES:
                T = (rng.standard_normal((F, B)) * 10.0 ** rng.uniform(-3, 3, (F, 1))).astype(
                    dtype
                )
                got = _run_nt(R, T)
                R64, T64 = R.astype(np.float64), T.astype(np.float64)
                diff = np.abs(got - R64 @ T64.T)
                bound = _bound(R64, T64.T, B, np.finfo(dtype).eps)
                assert np.all(diff <= bound), (K, F, B, (diff - bound).max())


@NT_PRECISIONS
def test_gemm_nt_is_exact_on_integers(dtype, rows):
    # Integer-valued sums are exact in any order below 2**53 (float64) and 2**24
    # (float32, hence the smaller values).
    rng = np.random.default_rng(4)
    r_max, t_max = (100, 1000) if dtype == np.float64 else (10, 30)
    for K in NT_COMPONENTS:
        for B in rows:
            R = rng.integers(0, r_max, (K, B)).astype(dtype)
            for F in NT_FEATURES:
                T = rng.integers(-t_max, t_max + 1, (F, B)).astype(dtype)
                np.testing.assert_array_equal(
                    _run_nt(R, T), R.astype(np.float64) @ T.T.astype(np.float64)
                )


def test_products_do_not_depend_on_the_order_of_calls():
    # The tiles hold their accumulators in registers only: a call on other data
    # between two identical calls must change nothing (no state left behind).
    rng = np.random.default_rng(5)
    W, T = rng.standard_normal((13, 11)), rng.standard_normal((13, 40))
    first = _run_tn(W, T)
    _run_tn(rng.standard_normal((7, 9)), rng.standard_normal((7, 16)))
    np.testing.assert_array_equal(_run_tn(W, T), first)
    R = rng.random((8, 40))
    first = _run_nt(R, T)
    _run_nt(rng.random((4, 16)), rng.standard_normal((5, 16)))
    np.testing.assert_array_equal(_run_nt(R, T), first)


# -- gemm_tn in sixteen float32 lanes -----------------------------------------------------
def test_gemm_tn_in_float32_lanes_matches_numpy():
    # Any order of n float32 products is within (n + 1) eps32 sum |w||t| of the exact
    # value, which the float64 reference is far closer to.
    rng = np.random.default_rng(7)
    for F in TN_FEATURES:
        for B in ROWS32:
            T = (rng.standard_normal((F, B)) * 10.0 ** rng.uniform(-3, 3, (F, 1))).astype(
                np.float32
            )
            for K in TN_COMPONENTS:
                W = rng.standard_normal((F, K)).astype(np.float32)
                got = _run_tn(W, T)
                W64, T64 = W.astype(np.float64), T.astype(np.float64)
                bound = _bound(W64.T, T64, F, EPS32)
                assert np.all(np.abs(got - W64.T @ T64) <= bound), (F, K, B)


@pytest.mark.parametrize("dtype", ["float64", "uint8"])
def test_gemm_tn_in_float32_lanes_is_exact_on_integers(dtype):
    # Integer-valued sums below 2**24 are exact in float32 in any order; W of another
    # dtype is cast element by element.
    rng = np.random.default_rng(8)
    for F in TN_FEATURES:
        for B in ROWS32:
            T = rng.integers(-30, 31, (F, B)).astype(np.float32)
            for K in TN_COMPONENTS:
                if dtype == "uint8":
                    values = rng.integers(0, 30, (F, K), dtype=np.uint8)
                else:
                    values = rng.integers(-30, 31, (F, K)).astype(np.float64)
                got = _run_tn(values, T)
                np.testing.assert_array_equal(got, (values.T.astype(np.float64) @ T))


def test_gemm_tn_rejects_mixed_precisions_at_compile_time():
    with pytest.raises((TypeError, TypingError)):
        gemm_tn(np.ones((3, 4)), np.ones((3, 16), np.float32), np.empty((4, 16)))


# -- path choice and padding helpers --------------------------------------------------------
def test_round_up():
    for n in range(0, 60):
        for unit in (COMPONENT_TILE, FEATURE_TILE, ROW_TILE, 8):
            r = round_up(n, unit)
            assert r % unit == 0 and n <= r < n + unit


def test_matmul_path(monkeypatch):
    assert {MATMUL_LOOPS, MATMUL_BLAS, MATMUL_TILED, MATMUL_TILED4} == {0, 1, 2, 3}
    assert isinstance(wide_vectors(), bool)
    assert vector_bits() in (0, 256, 512)
    assert (vector_bits() == 512) == wide_vectors()
    monkeypatch.setattr(gemm, "vector_bits", lambda: 512)
    assert gemm.matmul_path(1, 1) == MATMUL_TILED
    assert gemm.matmul_path(1000, 64) == MATMUL_TILED
    # AVX2 + FMA: the 256-bit tiles, at every size.
    monkeypatch.setattr(gemm, "vector_bits", lambda: 256)
    assert gemm.matmul_path(1, 1) == MATMUL_TILED4
    assert gemm.matmul_path(1000, 64) == MATMUL_TILED4
    # Neither: tiny products skip the BLAS call.
    monkeypatch.setattr(gemm, "vector_bits", lambda: 0)
    assert gemm.matmul_path(1, 1) == MATMUL_LOOPS
    assert gemm.matmul_path(1000, 64) == MATMUL_BLAS
    assert [gemm.is_tiled(p) for p in range(4)] == [False, False, True, True]


# -- Vec8 intrinsics ------------------------------------------------------------------------
@njit
def _copy_lanes(src, i, dst, j):
    vstore(dst, j, vload(src, i))


@njit
def _sum_lanes(row, i):
    return vsum(vload(row, i))


@njit
def _splat(x):
    out = np.empty(LANES)
    vstore(out, 0, vsplat(x))
    return out


@njit
def _zero():
    out = np.full(LANES, np.nan)
    vstore(out, 0, vzero())
    return out


@njit
def _fma(a, b, c):
    out = np.empty(LANES)
    vstore(out, 0, vfma(vload(a, 0), vload(b, 0), vload(c, 0)))
    return out


def test_vload_vstore_move_eight_lanes_at_any_offset():
    src = np.arange(30.0) + 0.5
    for i in range(src.size - LANES + 1):
        for j in (0, 3, 8, 22):
            dst = np.full(30, np.nan)
            _copy_lanes(src, i, dst, j)
            np.testing.assert_array_equal(dst[j : j + LANES], src[i : i + LANES])
            # Nothing else touched.
            assert np.all(np.isnan(np.delete(dst, np.arange(j, j + LANES))))


def test_vsum_is_a_fixed_pairwise_tree():
    def tree(x):
        return ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7]))

    rng = np.random.default_rng(6)
    differs_from_sequential = 0
    for _ in range(2000):
        # Magnitudes over 16 decades and both signs: each order rounds differently.
        x = rng.standard_normal(LANES) * 10.0 ** rng.uniform(-8, 8, LANES)
        got = _sum_lanes(x, 0)
        assert got == tree(x)
        differs_from_sequential += got != sum(x.tolist())
    # The data tell the orders apart, so the equality above pins this one.
    assert differs_from_sequential > 100
    # One case by hand: 1e16 + 1 is lost unless the ones meet first.
    x = np.array([1e16, 1.0, 1.0, 1.0, -1e16, 1.0, 1.0, 1.0])
    assert _sum_lanes(x, 0) == 6.0
    # And at an offset into a longer row.
    row = np.concatenate([[np.nan] * 3, x, [np.nan] * 2])
    assert _sum_lanes(row, 3) == 6.0


def test_vsplat_casts_its_argument_to_float64():
    np.testing.assert_array_equal(_splat(3), np.full(LANES, 3.0))
    np.testing.assert_array_equal(_splat(np.uint8(255)), np.full(LANES, 255.0))
    x32 = np.float32(0.1)
    got = _splat(x32)
    # The float32 value widened exactly, not 0.1 in float64.
    np.testing.assert_array_equal(got, np.full(LANES, float(x32)))
    assert got[0] != 0.1
    np.testing.assert_array_equal(_splat(-2.5), np.full(LANES, -2.5))


def test_vzero():
    got = _zero()
    np.testing.assert_array_equal(got, np.zeros(LANES))
    assert not np.any(np.signbit(got))


def test_vfma_rounds_once():
    # (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; a rounded product gives 1 - 1 = 0.
    a = np.full(LANES, 1.0 + 2.0**-30)
    b = np.full(LANES, 1.0 - 2.0**-30)
    c = np.full(LANES, -1.0)
    np.testing.assert_array_equal(_fma(a, b, c), np.full(LANES, -(2.0**-60)))
    # Lane by lane, not mixed up.
    a, b, c = np.arange(8.0), np.arange(8.0) + 10, np.arange(8.0) * 100
    np.testing.assert_array_equal(_fma(a, b, c), a * b + c)


@pytest.mark.parametrize(
    "row",
    [
        np.zeros(16)[::2],  # strided
        np.zeros(8, dtype=np.float32),
        np.zeros(8, dtype=np.int64),
        np.zeros((2, 8)),  # not a row
    ],
    ids=["strided", "float32", "int64", "2-d"],
)
def test_vload_and_vstore_reject_other_rows_at_compile_time(row):
    @njit
    def load(row):
        return vsum(vload(row, 0))

    @njit
    def store(row):
        vstore(row, 0, vzero())

    for kernel in (load, store):
        with pytest.raises((TypeError, TypingError), match="C-contiguous float64"):
            kernel(row)


@njit
def _sub(a, b):
    out = np.empty(LANES)
    vstore(out, 0, vsub(vload(a, 0), vload(b, 0)))
    return out


def test_vsub_subtracts_lane_by_lane():
    a = np.arange(8.0) * 3.0 + 0.25
    b = np.arange(8.0)[::-1] - 1e-9
    np.testing.assert_array_equal(_sub(a, b), a - b)


@njit
def _transpose_tile(tile, out, j0, r0):
    store_transposed(
        out,
        j0,
        r0,
        vload(tile[0], 0),
        vload(tile[1], 0),
        vload(tile[2], 0),
        vload(tile[3], 0),
        vload(tile[4], 0),
        vload(tile[5], 0),
        vload(tile[6], 0),
        vload(tile[7], 0),
    )


@pytest.mark.parametrize("j0, r0", [(0, 0), (1, 8), (3, 5)])
def test_store_transposed_writes_the_tile_transposed_and_nothing_else(j0, r0):
    # Distinct values, so any lane that lands in the wrong place shows.
    tile = np.arange(64.0).reshape(8, 8) + 0.5
    out = np.full((12, 20), np.nan)
    _transpose_tile(tile, out, j0, r0)
    np.testing.assert_array_equal(out[j0 : j0 + 8, r0 : r0 + 8], tile.T)
    outside = np.ones(out.shape, dtype=bool)
    outside[j0 : j0 + 8, r0 : r0 + 8] = False
    assert np.all(np.isnan(out[outside]))


@pytest.mark.parametrize("rows, cols", [(0, 8), (1, 8), (3, 264), (132, 264), (7, 13)])
def test_zeros_aligned_starts_on_a_cache_line(rows, cols):
    # Several allocations, as the allocator's own alignment varies between them.
    for _ in range(5):
        a = zeros_aligned(rows, cols)
        assert a.shape == (rows, cols)
        assert a.dtype == np.float64
        assert a.flags.c_contiguous
        assert not a.any()
        if a.size:
            assert a.ctypes.data % 64 == 0
            a[...] = 1.0  # the whole view is writable memory


# Below 16 features the scalar loops run; from 16 the 8 x 8 tiles, with the
# columns past the last multiple of 8 and the rows past the last multiple of 8
# done one at a time.
TRANSPOSE_FEATURES = [3, 15, 16, 17, 23, 24, 64, 70]
TRANSPOSE_ROWS = [1, 7, 8, 13, 24, 264]


@njit
def _transpose_rows(X, start, stop, shift, xs):
    _transpose_shifted(X, start, stop, shift, xs)


@pytest.mark.parametrize("n_features", TRANSPOSE_FEATURES)
@pytest.mark.parametrize(
    "layout",
    ["C float64", "C float32", "F float64", "strided float64"],
)
def test_transpose_shifted_matches_numpy(n_features, layout):
    rng = np.random.default_rng(n_features)
    X = rng.standard_normal((300, n_features)) * 10.0 ** rng.uniform(-3, 3, n_features)
    if layout == "C float32":
        X = X.astype(np.float32)
    elif layout == "F float64":
        X = np.asfortranarray(X)
    elif layout == "strided float64":
        X = np.repeat(X, 2, axis=0)[::2]
    shift = rng.standard_normal(n_features)
    block = 272
    for m in TRANSPOSE_ROWS:
        for start in (0, 5, 300 - m):
            xs = np.full((n_features, block), np.nan)
            _transpose_rows(X, start, start + m, shift, xs)
            # The same float64 subtraction, so equal to the last bit.
            expected = (X[start : start + m].astype(np.float64) - shift).T
            np.testing.assert_array_equal(xs[:, :m], expected)
            # Columns past the rows are the caller's: untouched.
            assert np.all(np.isnan(xs[:, m:]))


@njit
def _prefetch_all(a):
    flat = a.size
    for i in range(0, flat, 3):
        prefetch(a, i)
    return a.sum()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(40.0),
        np.arange(60, dtype=np.float32).reshape(6, 10),
        np.zeros((2, 3, 4), np.uint8),
    ],
    ids=["float64 1-d", "float32 2-d", "uint8 3-d"],
)
def test_prefetch_is_only_a_hint(array):
    before = array.copy()
    assert _prefetch_all(array) == before.sum()
    np.testing.assert_array_equal(array, before)


def test_prefetch_rejects_a_non_contiguous_array_at_compile_time():
    with pytest.raises((TypeError, TypingError), match="C-contiguous"):
        _prefetch_all(np.zeros((4, 6))[:, ::2])


@njit
def _widen(row, i):
    out = np.empty(LANES)
    vstore(out, 0, vload_widened(row, i))
    return out


def test_vload_widened_reads_float32_and_float64_rows_exactly():
    rng = np.random.default_rng(8)
    row64 = rng.standard_normal(21)
    row32 = row64.astype(np.float32)
    for i in (0, 5, 13):
        np.testing.assert_array_equal(_widen(row64, i), row64[i : i + LANES])
        # Every float32 is a float64: widening is exact.
        np.testing.assert_array_equal(_widen(row32, i), row32[i : i + LANES].astype(np.float64))


@pytest.mark.parametrize(
    "row",
    [np.zeros(16)[::2], np.zeros(8, dtype=np.int64), np.zeros((2, 8), dtype=np.float32)],
    ids=["strided", "int64", "2-d"],
)
def test_vload_widened_rejects_other_rows_at_compile_time(row):
    with pytest.raises((TypeError, TypingError), match="C-contiguous float or uint8 row"):
        _widen(row, 0)
