"""The 256-bit register tiles of ``kernels._gemm`` (``gemm_tn4``, ``gemm_nt4``), the
256-bit vector intrinsics under them, the short-latency exponential and the
Bernoulli kernels' transposition of rows.

They run on every x86-64 CPU (AVX-512 machines run AVX2 code; elsewhere LLVM
emulates what is missing), so the path that AVX2-only CPUs take is checked on
every machine, on a grid of shapes that reaches every edge tile.
"""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from fastem.families._common import kernel_view
from fastem.kernels import _gaussian_block as gb
from fastem.kernels import bernoulli as bk
from fastem.kernels import gaussian as gk
from fastem.kernels._gemm import COMPONENT_TILE, FEATURE_TILE4, MATMUL_TILED4, ROW_TILE, ROW_TILE4
from fastem.kernels._gemm4 import TN4_PASS_BYTES, gemm_nt4, gemm_tn4
from fastem.kernels._simd import (
    exp_nonpositive_array,
    lanes256,
    lanes512,
    load256,
    splat256,
    vadd,
    vfma,
    vload_widened,
    vmul,
    vstore,
    vsub,
    vsum,
    vsum4,
    zero256,
)
from test_gemm import W_DTYPES, W_LAYOUTS, _weights

EPS = {np.float64: np.finfo(np.float64).eps, np.float32: np.finfo(np.float32).eps}
LANES = {np.float64: 4, np.float32: 8}

# gemm_tn4: tiles of 4 components by 3 vectors; K % 4 takes 1 x 1 tiles, and a row
# remainder of 2 vectors a 4 x 2 tile, of 1 vector 4 x 1 tiles.
TN4_COMPONENTS = [0, 1, 3, 4, 5, 8, 11, 16, 21]
TN4_VECTORS = [1, 2, 3, 4, 5, 7, 12]
TN4_FEATURES = [0, 1, 5, 13, 156]

# gemm_nt4: 3 x 4 tiles; K % 3 == 2 adds a 2 x 4 tile, K % 3 == 1 two of them
# (one 1-wide tile when K == 1); F % 4 takes 3 x 1, 2 x 1 and 1 x 1 tiles.
NT4_COMPONENTS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 20]
NT4_VECTORS = [1, 2, 3, 6, 66]
NT4_FEATURES = [0, 1, 3, 4, 5, 7, 8, 156]


def _bound(a, b, n_terms, dtype):
    """Largest difference of two evaluations of ``a @ b`` in ``dtype``, entry by entry.

    As in ``test_gemm``: any order of n products is within ``gamma_n sum |a||b|``
    of the exact value; the float64 reference is one of them, or (for float32
    tiles) far closer to the exact value than the tile.
    """
    return (n_terms + 1) * EPS[dtype] * (np.abs(a).astype(np.float64) @ np.abs(b))


def _guarded(values, dtype):
    full = np.full((values.shape[0] + 2, values.shape[1]), np.nan, dtype=dtype)
    full[1:-1] = values
    return full, full[1:-1]


def _run_tn4(W, T):
    K, B = W.shape[1], T.shape[1]
    _, T_view = _guarded(T, T.dtype)
    out_full, out = _guarded(np.full((K, B), np.nan), T.dtype)
    gemm_tn4(W, T_view, out)
    assert np.all(np.isnan(out_full[[0, -1]])), "wrote outside out"
    assert np.all(np.isfinite(out)), "left entries of out unwritten (or read a guard)"
    return out.copy()


def _run_nt4(R, T):
    K, F = R.shape[0], T.shape[0]
    _, R_view = _guarded(R, R.dtype)
    _, T_view = _guarded(T, T.dtype)
    out_full, out = _guarded(np.full((K, F), np.nan), T.dtype)
    gemm_nt4(R_view, T_view, out)
    assert np.all(np.isnan(out_full[[0, -1]])), "wrote outside out"
    assert np.all(np.isfinite(out)), "left entries of out unwritten (or read a guard)"
    return out.copy()


# -- gemm_tn4 -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_tn4_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    for F in TN4_FEATURES:
        for nv in TN4_VECTORS:
            B = nv * LANES[dtype]
            T = (rng.standard_normal((F, B)) * 10.0 ** rng.uniform(-3, 3, (F, 1))).astype(dtype)
            for K in TN4_COMPONENTS:
                W = rng.standard_normal((F, K)).astype(dtype)
                got = _run_tn4(W, T)
                expected = W.T.astype(np.float64) @ T.astype(np.float64)
                bound = _bound(W.T, T.astype(np.float64), F, dtype)
                assert np.all(np.abs(got - expected) <= bound), (F, K, B)


# W's dtype and layout act only where one element is read and broadcast, independently
# of each other: every dtype in C order and every layout in float64 (each combination
# is a compilation of its own).
W_CASES = [(dtype, "C") for dtype in W_DTYPES] + [
    ("float64", layout) for layout in W_LAYOUTS if layout != "C"
]


@pytest.mark.parametrize(("dtype", "layout"), W_CASES)
def test_gemm_tn4_is_exact_on_integers_for_any_w(dtype, layout):
    # W of any dtype and layout is broadcast element by element; integer-valued sums
    # below 2**53 are exact in any order, so a misplaced index cannot hide.
    rng = np.random.default_rng(1)
    for F in TN4_FEATURES:
        for nv in TN4_VECTORS:
            T = rng.integers(-1000, 1001, (F, 4 * nv)).astype(np.float64)
            for K in TN4_COMPONENTS:
                values = W_DTYPES[dtype](rng, (F, K))
                if values.dtype.kind == "f":
                    values = np.round(values * 100).astype(values.dtype)
                got = _run_tn4(_weights(values, layout), T)
                np.testing.assert_array_equal(got, values.astype(np.float64).T @ T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_tn4_long_reductions_run_in_passes(dtype):
    # Rows of T past TN4_PASS_BYTES are summed in later passes added into out: the
    # result is the same product (exact on integers), whatever the pass length.
    rng = np.random.default_rng(2)
    B = 12 * LANES[dtype]
    rows_per_pass = TN4_PASS_BYTES // (B * np.dtype(dtype).itemsize)
    for F in (rows_per_pass - 1, rows_per_pass, rows_per_pass + 1, 3 * rows_per_pass + 7):
        T = rng.integers(-8, 9, (F, B)).astype(dtype)
        W = rng.integers(-8, 9, (F, 9)).astype(dtype)
        np.testing.assert_array_equal(_run_tn4(W, T), W.T.astype(np.float64) @ T)


def test_gemm_tn4_a_transposed_view_gives_a_times_t():
    # The form of the eight-lane Bernoulli path, which the 256-bit tiles accept too.
    rng = np.random.default_rng(3)
    X = (rng.random((37, 11)) < 0.5).view(np.uint8)
    Wp = rng.standard_normal((11, 8))
    out = np.empty((37, 8))
    gemm_tn4(X.T, Wp, out)
    expected = X.astype(np.float64) @ Wp
    assert np.all(np.abs(out - expected) <= _bound(X, Wp, 11, np.float64))


def test_gemm_tn4_rejects_mixed_dtypes_at_compile_time():
    with pytest.raises((TypeError, TypingError)):
        gemm_tn4(np.ones((3, 4)), np.ones((3, 8)), np.empty((4, 8), np.float32))


# -- gemm_nt4 -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gemm_nt4_matches_numpy(dtype):
    rng = np.random.default_rng(4)
    for K in NT4_COMPONENTS:
        for nv in NT4_VECTORS:
            B = nv * LANES[dtype]
            R = rng.random((K, B)).astype(dtype)
            for F in NT4_FEATURES:
                T = (rng.standard_normal((F, B)) * 10.0 ** rng.uniform(-3, 3, (F, 1))).astype(
                    dtype
                )
                got = _run_nt4(R, T)
                expected = R.astype(np.float64) @ T.T.astype(np.float64)
                bound = _bound(R, T.T.astype(np.float64), B, dtype)
                assert np.all(np.abs(got - expected) <= bound), (K, F, B)


def test_gemm_nt4_is_exact_on_integers():
    rng = np.random.default_rng(5)
    for K in NT4_COMPONENTS:
        for nv in NT4_VECTORS:
            R = rng.integers(0, 100, (K, 4 * nv)).astype(np.float64)
            for F in NT4_FEATURES:
                T = rng.integers(-1000, 1001, (F, 4 * nv)).astype(np.float64)
                np.testing.assert_array_equal(_run_nt4(R, T), R @ T.T)


def test_tiles4_leave_no_state_behind():
    rng = np.random.default_rng(6)
    W, T = rng.standard_normal((13, 11)), rng.standard_normal((13, 40))
    first = _run_tn4(W, T)
    _run_tn4(rng.standard_normal((7, 9)), rng.standard_normal((7, 16)))
    np.testing.assert_array_equal(_run_tn4(W, T), first)
    R = rng.random((8, 40))
    first = _run_nt4(R, T)
    _run_nt4(rng.random((5, 16)), rng.standard_normal((6, 16)))
    np.testing.assert_array_equal(_run_nt4(R, T), first)


# -- the Gaussian kernels' shapes on this path ----------------------------------------------
def test_padded_shapes_of_the_256_bit_path():
    assert ROW_TILE % ROW_TILE4 == 0 and ROW_TILE % 8 == 0
    for F in (1, 10, 153, 2000):
        for K in (1, 5, 16):
            for block in (1, 25, 256, 5000):
                rows = {}
                for itemsize in (8, 4):
                    Fp, Kp, dp, B = gb._padded_shapes(MATMUL_TILED4, F, K, 7, block, itemsize)
                    assert Fp % FEATURE_TILE4 == 0 and F <= Fp < F + FEATURE_TILE4
                    assert Kp % COMPONENT_TILE == 0 and K <= Kp < K + COMPONENT_TILE
                    assert dp % COMPONENT_TILE == 0 and 7 <= dp
                    assert B % ROW_TILE == 0 and ROW_TILE <= B <= max(ROW_TILE, block + ROW_TILE)
                    # Wide features take shorter blocks (their pages stay in the TLB).
                    if Fp * itemsize * B > gb.TILE4_BLOCK_BYTES:
                        assert B == ROW_TILE
                    rows[itemsize] = B
                # float32 blocks hold at least as many rows in the same bytes.
                assert rows[4] >= rows[8]


# -- 256-bit intrinsics ---------------------------------------------------------------------
@njit
def _fma256(a, b, c):
    out = np.empty_like(a)
    vstore(out, 0, vfma(load256(a, 0), load256(b, 0), load256(c, 0)))
    return out


@njit
def _ops256(a, b):
    n = lanes256(a)
    out = np.empty((5, 2 * n), dtype=a.dtype)
    x = load256(a, 0)
    y = load256(b, 0)
    vstore(out[0], 0, vadd(x, y))
    vstore(out[1], 0, vsub(x, y))
    vstore(out[2], 0, vmul(x, y))
    vstore(out[3], 0, splat256(a, 2.5))
    vstore(out[4], n, zero256(a))
    return out, vsum(x), n, lanes512(a)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_256_bit_vectors_take_the_lanes_of_the_array(dtype):
    n = LANES[dtype]
    a = (np.arange(2 * n) * 1.25 + 0.5).astype(dtype)
    b = (np.arange(2 * n)[::-1] - 3.0).astype(dtype)
    out, total, lanes, lanes_wide = _ops256(a, b)
    assert (lanes, lanes_wide) == (n, 2 * n)
    np.testing.assert_array_equal(out[0, :n], a[:n] + b[:n])
    np.testing.assert_array_equal(out[1, :n], a[:n] - b[:n])
    np.testing.assert_array_equal(out[2, :n], a[:n] * b[:n])
    np.testing.assert_array_equal(out[3, :n], np.full(n, 2.5, dtype))
    np.testing.assert_array_equal(out[4, n:], np.zeros(n, dtype))
    assert out.dtype == dtype and isinstance(total, float)
    # One rounding: (1 + u)(1 - u) - 1 = -u^2 exactly, lost if the product were rounded.
    u = dtype(2.0 ** (-12 if dtype == np.float32 else -30))
    got = _fma256(np.full(n, 1 + u, dtype), np.full(n, 1 - u, dtype), np.full(n, -1, dtype))
    np.testing.assert_array_equal(got, np.full(n, -(u * u), dtype))


@njit
def _sum_lanes4(x):
    return vsum(load256(x, 0))


@njit
def _sum_four(a, b, c, d):
    out = np.empty(4)
    vstore(out, 0, vsum4(load256(a, 0), load256(b, 0), load256(c, 0), load256(d, 0)))
    return out


def test_four_lane_sums_are_one_fixed_tree():
    def tree(x):
        return (x[0] + x[2]) + (x[1] + x[3])

    rng = np.random.default_rng(7)
    differs = 0
    for _ in range(1000):
        rows = rng.standard_normal((4, 4)) * 10.0 ** rng.uniform(-8, 8, (4, 4))
        assert _sum_lanes4(rows[0]) == tree(rows[0])
        # vsum4 is the same tree, four vectors at once.
        np.testing.assert_array_equal(_sum_four(*rows), [tree(r) for r in rows])
        differs += tree(rows[0]) != sum(rows[0].tolist())
    assert differs > 50
    x = np.array([1e16, 1.0, -1e16, 1.0])
    assert _sum_lanes4(x) == 2.0


@njit
def _sum_four8(a, b, c, d):
    out = np.empty(4, dtype=np.float32)
    vstore(out, 0, vsum4(load256(a, 0), load256(b, 0), load256(c, 0), load256(d, 0)))
    return out, vsum(load256(a, 0))


def test_vsum4_of_eight_float32_lanes_is_the_tree_of_vsum():
    rng = np.random.default_rng(9)
    for _ in range(300):
        rows = (rng.standard_normal((4, 8)) * 10.0 ** rng.uniform(-4, 4, (4, 8))).astype(
            np.float32
        )
        got, first = _sum_four8(*rows)
        # Halves first, then the four-lane tree: ((x0+x4)+(x2+x6)) + ((x1+x5)+(x3+x7)).
        h = rows[:, :4] + rows[:, 4:]
        expected = (h[:, 0] + h[:, 2]) + (h[:, 1] + h[:, 3])
        np.testing.assert_array_equal(got, expected)
        assert first == expected[0]


def test_256_bit_loads_and_stores_check_rows_at_compile_time():
    @njit
    def load(row):
        return vsum(load256(row, 0))

    with pytest.raises((TypeError, TypingError), match="C-contiguous"):
        load(np.zeros(16)[::2])
    with pytest.raises((TypeError, TypingError), match="float32 or float64"):
        load(np.zeros(8, dtype=np.int64))

    @njit
    def store_wrong_dtype(row, src):
        vstore(row, 0, load256(src, 0))

    with pytest.raises((TypeError, TypingError), match="C-contiguous float32 row"):
        store_wrong_dtype(np.zeros(8), np.zeros(8, np.float32))


@njit
def _widen(row, i):
    out = np.empty(8)
    vstore(out, 0, vload_widened(row, i))
    return out


def test_vload_widened_reads_uint8_rows_exactly():
    row = np.arange(250, 256 - 17, -1).astype(np.uint8)[::-1].copy()
    row = np.concatenate([row, [0, 1, 255]]).astype(np.uint8)
    for i in (0, 3, row.size - 8):
        np.testing.assert_array_equal(_widen(row, i), row[i : i + 8].astype(np.float64))


# -- exp_nonpositive ------------------------------------------------------------------------
def test_exp_nonpositive_matches_numpy():
    x = np.concatenate(
        [
            np.linspace(-745.0, 0.0, 1_000_001),
            -np.logspace(-300, np.log10(745.0), 10_001),
            [0.0, -0.0, -708.0, np.nextafter(-708.0, 0.0), np.nextafter(-708.0, -np.inf)],
            [-np.inf],
        ]
    )
    x.sort()
    got = exp_nonpositive_array(x, np.empty_like(x))
    expected = np.exp(x)
    assert got[-1] == 1.0
    nonzero = got != 0.0
    # One flush point, at -708: every zero below every non-zero value.
    assert x[nonzero].min() == -708.0
    assert np.all(x[~nonzero] < -708.0)
    rel = np.abs(got[nonzero] / expected[nonzero] - 1.0)
    assert rel.max() <= 5e-16
    # Monotone enough for responsibilities: never larger for a smaller argument by more
    # than the error bound.
    assert np.all(np.diff(got[nonzero]) >= -1e-15 * got[nonzero][1:])


# -- the Bernoulli kernels' transposition ---------------------------------------------------
@njit
def _transpose(X, start, stop, T):
    bk._transposed_rows(X, start, stop, T)


@pytest.mark.parametrize("n_features", [3, 8, 15, 16, 17, 64])
@pytest.mark.parametrize("kind", ["uint8", "float32", "float64", "bool", "F float64"])
def test_bernoulli_transposed_rows(n_features, kind):
    rng = np.random.default_rng(n_features)
    X = rng.random((60, n_features)) < 0.4
    if kind == "uint8":
        X = X.view(np.uint8)
    elif kind == "F float64":
        X = np.asfortranarray(X, dtype=np.float64)
    elif kind != "bool":
        X = X.astype(kind)
    for start, stop in ((0, 1), (0, 8), (3, 20), (5, 60), (52, 60)):
        T = np.full((n_features, 64), np.nan)
        _transpose(X, start, stop, T)
        np.testing.assert_array_equal(T[:, : stop - start], X[start:stop].astype(np.float64).T)
        assert np.all(np.isnan(T[:, stop - start :]))


# -- prediction on the tiles ----------------------------------------------------------------
@pytest.mark.parametrize("path", ["tiled", "tiled4", "blas"])
def test_log_prob_cholesky_keeps_the_direct_form_accuracy(path):
    """scikit-learn #29989: ``x U - mu U`` loses digits for ill-conditioned covariances
    far from the origin; the difference must be taken before the product on every path."""
    from fastem.families.gaussian import log_det_cholesky, precision_cholesky
    from fastem.kernels._gemm import MATMUL_BLAS, MATMUL_TILED

    constants = {"tiled": MATMUL_TILED, "tiled4": MATMUL_TILED4, "blas": MATMUL_BLAS}
    rng = np.random.default_rng(13)
    d, K = 6, 3
    means = 1e7 + rng.standard_normal((K, d))
    covs = []
    for _ in range(K):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        covs.append((q * np.logspace(-8, 2, d)) @ q.T)
    covs = np.stack(covs)
    U = precision_cholesky(covs, "full")
    log_det = log_det_cholesky(U, "full", d)
    # Rows near each mean, within a few standard deviations along every axis.
    X = np.concatenate(
        [
            rng.multivariate_normal(mu, c, size=70, method="eigh")
            for mu, c in zip(means, covs, strict=True)
        ]
    )
    # Read-only rows, as the families pass them (one specialisation, the fit's).
    got = gk.log_prob_cholesky(kernel_view(X), means, U, log_det, 32, 2, constants[path])
    # Reference: the same direct form in extended precision.
    Xl, Ml, Ul = X.astype(np.longdouble), means.astype(np.longdouble), U.astype(np.longdouble)
    exact = np.empty((X.shape[0], K))
    for k in range(K):
        y = (Xl - Ml[k]) @ Ul[k]
        exact[:, k] = (-0.5 * d * np.log(2 * np.pi) + log_det[k] - 0.5 * (y * y).sum(1)).astype(
            float
        )
    own = np.arange(X.shape[0]) // 70
    # Each row against its own component: log-densities of order 1-30.
    err = np.abs(got[np.arange(X.shape[0]), own] - exact[np.arange(X.shape[0]), own])
    assert err.max() < 1e-8
    # The expanded form on the same data is off by far more (the test can tell them apart).
    expanded = X @ U[own[0]] - means[own[0]] @ U[own[0]]
    y = (Xl[:70] - Ml[0]) @ Ul[0]
    assert np.abs((expanded[:70] ** 2).sum(1) - (y * y).sum(1).astype(float)).max() > 1e-6
