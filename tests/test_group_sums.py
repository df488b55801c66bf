"""The one-pass sums of the data moments and of the k-means initialisation, against NumPy.

Each kernel sums per row group and adds the groups at the end; these tests pin
the sums to a plain NumPy computation for every number of groups (one group
per kernel thread, and more groups than threads), narrow rows (whose groups'
sums share cache lines) and wide ones, float32 and float64 rows, with and
without sample weights and, for the kernels of data with NaN, missing values.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastem.families._common import kernel_view
from fastem.kernels import gaussian as gk
from fastem.kernels import gaussian_missing_init as gmi

SHAPES = [(301, 3), (257, 17)]
N_GROUPS = [1, 2, 3]


def _rows(shape, dtype, missing, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(5.0, 2.0, size=shape)
    if missing:
        X[rng.random(shape) < 0.15] = np.nan
    return kernel_view(X.astype(dtype))


def _weights(n, weighted, seed=1):
    w = np.random.default_rng(seed).uniform(0.5, 2.0, n) if weighted else np.empty(0)
    return kernel_view(w)


@pytest.mark.parametrize("n_groups", N_GROUPS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_column_moments_match_numpy(shape, dtype, weighted, n_groups):
    X, w = _rows(shape, dtype, False), _weights(shape[0], weighted)
    origin = np.array(X[0], dtype=np.float64)
    weight, s1, s2 = gk.column_moments(X, w, origin, 16, n_groups)
    ww = w if weighted else np.ones(shape[0])
    dx = X.astype(np.float64) - origin
    assert weight == pytest.approx(ww.sum(), rel=1e-14)
    assert_allclose(s1, ww @ dx, rtol=1e-12, atol=1e-10)
    assert_allclose(s2, ww @ dx**2, rtol=1e-12)


@pytest.mark.parametrize("n_groups", N_GROUPS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_observed_column_moments_match_numpy(shape, dtype, weighted, n_groups):
    X, w = _rows(shape, dtype, True), _weights(shape[0], weighted)
    origin = np.nan_to_num(np.array(X[0], dtype=np.float64))
    weight, s1, s2, n_missing = gmi.column_moments(X, w, origin, 16, n_groups)
    ww = (w if weighted else np.ones(shape[0]))[:, None]
    seen = ~np.isnan(X)
    dx = np.where(seen, X.astype(np.float64) - origin, 0.0)
    assert n_missing == (~seen).sum()
    assert_allclose(weight, (ww * seen).sum(axis=0), rtol=1e-14)
    assert_allclose(s1, (ww * dx).sum(axis=0), rtol=1e-12, atol=1e-10)
    assert_allclose(s2, (ww * dx**2).sum(axis=0), rtol=1e-12)


def _observed_sq_distances(X, centers):
    diff = X.astype(np.float64)[:, None, :] - centers[None]
    return np.nansum(diff**2, axis=2)


@pytest.mark.parametrize("n_groups", N_GROUPS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_missing_lloyd_pass_matches_numpy(shape, weighted, n_groups):
    X, w = _rows(shape, np.float64, True), _weights(shape[0], weighted)
    K = 5
    centers = np.random.default_rng(2).normal(5.0, 2.0, size=(K, shape[1]))
    labels = np.empty(shape[0], dtype=np.int32)
    sq_dist = np.empty(shape[0])
    counts, sums, inertia = gmi.lloyd(X, w, centers, 16, n_groups, labels, sq_dist)
    dist = _observed_sq_distances(X, centers)
    expected = dist.argmin(axis=1)
    assert_array_equal(labels, expected)
    assert_allclose(sq_dist, dist[np.arange(shape[0]), expected], rtol=1e-13)
    ww = w if weighted else np.ones(shape[0])
    onehot = np.eye(K)[expected] * ww[:, None]
    assert_allclose(counts, onehot.sum(axis=0), rtol=1e-14)
    dx = np.nan_to_num(X - centers[expected])
    assert_allclose(sums, onehot.T @ dx, rtol=1e-12, atol=1e-10)
    assert inertia == pytest.approx(ww @ dist[np.arange(shape[0]), expected], rel=1e-12)


@pytest.mark.parametrize("n_groups", N_GROUPS)
@pytest.mark.parametrize("shape", SHAPES)
def test_available_case_stats_match_numpy(shape, n_groups):
    X, w = _rows(shape, np.float64, True), _weights(shape[0], True)
    K, d = 4, shape[1]
    resp = np.random.default_rng(3).dirichlet(np.ones(K), size=shape[0])
    shift = np.full(d, 5.0)
    nk, count, first, second = gmi.given_stats(
        X, w, shift, resp, np.zeros(0, dtype=np.int64), K, 16, n_groups
    )
    r = resp * w[:, None]
    seen = (~np.isnan(X)).astype(np.float64)
    dx = np.where(seen > 0, X - shift, 0.0)
    assert_allclose(nk, r.sum(axis=0), rtol=1e-13)
    # Pairs (i, j) over the rows observing both coordinates.
    assert_allclose(count, np.einsum("nk,ni,nj->kij", r, seen, seen), rtol=1e-12)
    assert_allclose(first, np.einsum("nk,ni,nj->kij", r, dx, seen), rtol=1e-12, atol=1e-10)
    assert_allclose(second, np.einsum("nk,ni,nj->kij", r, dx, dx), rtol=1e-12, atol=1e-10)
