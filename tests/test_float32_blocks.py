"""float32 rows in float32 blocks: when the E-step takes them, what it gives, how it falls back.

The reference comparisons of every covariance type and product path in float32
blocks are in ``test_reference.py`` (``_check_family_step``); here are the
decision of ``families._float32_blocks.block_dtype``, the fallbacks to float64
blocks (overflow, unresolved covariances) and the float32 exponential.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import reference as ref
from fastem import GaussianMixture
from fastem._settings import override
from fastem.families import _float32_blocks as f32
from fastem.families.gaussian import GaussianFamily, GaussianParams
from fastem.kernels._exp32 import exp_nonpositive32_array
from matmul_paths import GAUSSIAN_PATHS, pinned_matmul_path
from synthetic import make_blobs


def _family_and_params(covariance_type, spread, dtype=np.float32, seed=0):
    """A 2-component family around the origin with means ``spread`` standard deviations out."""
    rng = np.random.RandomState(seed)
    D = 3
    weights, _, covariances = ref.random_params(rng, 2, D, covariance_type)
    family = GaussianFamily(covariance_type, 2, D, dtype, np.zeros(D))
    prec_chol = ref.precisions_cholesky(covariances, covariance_type)
    means = np.zeros((2, D))
    means[0, 0] = 1.0
    unit = family._mean_offsets(GaussianParams(weights, means, covariances, prec_chol))[0]
    means[0, 0] = spread / np.sqrt(unit)
    return family, GaussianParams(weights, means, covariances, prec_chol)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_float32_rows_take_float32_blocks_while_the_means_are_near_the_centre(covariance_type):
    X32 = np.zeros((4, 3), np.float32)
    near, params = _family_and_params(covariance_type, 10.0)
    W = near.natural_weights(params)
    assert f32.block_dtype(near, X32, params, W) == np.float32
    assert f32.block_dtype(near, X32.astype(np.float64), params, W) == np.float64
    with override(float32_blocks="never"):
        assert f32.block_dtype(near, X32, params, W) == np.float64
    # A mean 100 standard deviations out: c_k = 1e4 > float32_block_max_offset.
    far, params = _family_and_params(covariance_type, 100.0)
    assert far._mean_offsets(params).max() == pytest.approx(1e4, rel=1e-6)
    W = far.natural_weights(params)
    assert f32.block_dtype(far, X32, params, W) == np.float64
    with override(float32_block_max_offset=2e4):
        assert f32.block_dtype(far, X32, params, W) == np.float32
    with override(float32_blocks="always"):
        assert f32.block_dtype(far, X32, params, W) == np.float32


def test_a_far_component_without_weight_does_not_decide():
    family, params = _family_and_params("full", 100.0)
    params.weights = np.array([0.0, 1.0])
    X32 = np.zeros((4, 3), np.float32)
    with override(matmul_path="tiled4"):
        family = GaussianFamily("full", 2, 3, np.float32, np.zeros(3))
    assert f32.block_dtype(family, X32, params, family.natural_weights(params)) == np.float32


def test_parameters_beyond_float32_keep_float64_blocks():
    with override(matmul_path="tiled4"):
        family, params = _family_and_params("diag", 1.0)
    params.precisions_cholesky = params.precisions_cholesky * 1e20  # precisions of 1e40
    W = family.natural_weights(params)
    assert f32.block_dtype(family, np.zeros((4, 3), np.float32), params, W) == np.float64


@GAUSSIAN_PATHS
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_a_float32_block_that_overflows_is_redone_in_float64(covariance_type, path):
    # One row 1e20 from the rest: its squares (1e40) overflow float32, so the
    # chunk's float32 statistics are not finite and it is stepped again in float64.
    X, _ = make_blobs(n_samples=200, n_features=3, n_components=2, separation=3.0, seed=3)
    X[7, 1] = 1e20
    X32 = X.astype(np.float32)
    with pinned_matmul_path(path):
        family = GaussianFamily(covariance_type, 2, 3, np.float32, np.zeros(3))
    rng = np.random.RandomState(1)
    weights, means, covariances = ref.random_params(rng, 2, 3, covariance_type)
    params = GaussianParams(
        weights, means, covariances, ref.precisions_cholesky(covariances, covariance_type)
    )
    with override(float32_blocks="always"):
        fallback = family.estep_stats(X32, np.empty(0), params)
    with override(float32_blocks="never"):
        wide = family.estep_stats(X32, np.empty(0), params)
    assert np.isfinite(fallback.log_likelihood)
    assert fallback.log_likelihood == wide.log_likelihood
    for name, value in wide.arrays.items():
        np.testing.assert_array_equal(fallback.arrays[name], value, err_msg=name)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_a_component_collapsing_far_from_the_centre_is_stepped_in_float64(covariance_type):
    # 40 identical rows at (40, 25): the component on them has a covariance of
    # exactly zero in float64 blocks, float32's rounding of 40**2 in float32 ones.
    rng = np.random.RandomState(1)
    spread = np.round(rng.normal(size=(88, 2)) * 8.0) / 8.0
    X32 = np.vstack([spread, np.tile([40.0, 25.0], (40, 1))]).astype(np.float32)
    with override(matmul_path="tiled4"):
        family = GaussianFamily(covariance_type, 2, 2, np.float32, X32.mean(axis=0))
    means = np.array([[0.0, 0.0], [40.0, 25.0]])
    covariances = {
        "full": np.array([np.eye(2), np.eye(2)]),
        "tied": np.eye(2),
        "diag": np.ones((2, 2)),
        "spherical": np.ones(2),
    }[covariance_type]
    params = GaussianParams(
        np.array([0.7, 0.3]),
        means,
        covariances,
        ref.precisions_cholesky(covariances, covariance_type),
    )
    assert f32.block_dtype(family, X32, params, family.natural_weights(params)) == np.float32
    with override(float32_blocks="always"):
        narrow = family.estep_stats(X32, np.empty(0), params)
    with override(float32_blocks="never"):
        wide = family.estep_stats(X32, np.empty(0), params)
    resolved = f32.statistics_resolved(
        covariance_type,
        2,
        narrow.arrays["moments"],
        narrow.arrays["second_moment"],
        params.weights,
        np.triu_indices(2),
    )
    if covariance_type == "tied":
        # The shared covariance keeps the spread of the other cluster.
        assert resolved
        return
    assert not resolved
    stats = family.estep_stats(X32, np.empty(0), params)
    for name, value in wide.arrays.items():
        np.testing.assert_array_equal(stats.arrays[name], value, err_msg=name)
    step = family.m_step(stats, 1e-6)
    assert np.all(np.asarray(step.covariances)[1] <= 1e-6 * (1 + 1e-9))


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_float32_blocks_fit_as_float64_blocks_to_float32_precision(covariance_type):
    X, _ = make_blobs(n_samples=2000, n_features=4, n_components=3, separation=4.0, seed=5)
    X32 = (X + 50.0).astype(np.float32)
    # A fixed number of iterations: a tolerance below float32's resolution would
    # never be met by the float32 lower bound, which moves by its rounding.
    kwargs = dict(covariance_type=covariance_type, tol=0.0, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with override(float32_blocks="always"):
            narrow = GaussianMixture(3, **kwargs).fit(X32)
        with override(float32_blocks="never"):
            wide = GaussianMixture(3, **kwargs).fit(X32)
    assert narrow.lower_bound_ == pytest.approx(wide.lower_bound_, rel=1e-6)
    for name in ("weights_", "means_", "covariances_"):
        ref.assert_rel_close(getattr(narrow, name), getattr(wide, name), 1e-4, name)
    np.testing.assert_array_equal(narrow.predict(X32), wide.predict(X32))


def test_exp_nonpositive32_matches_numpy():
    x = np.concatenate(
        [
            np.linspace(-90.0, 0.0, 1_000_001),
            -np.logspace(-30, np.log10(90.0), 10_001),
            [0.0, -0.0, -87.0, np.nextafter(-87.0, 0.0), np.nextafter(-87.0, -np.inf)],
            [-np.inf],
        ]
    ).astype(np.float32)
    x.sort()
    got = exp_nonpositive32_array(x, np.empty_like(x))
    assert got.dtype == np.float32
    expected = np.exp(x.astype(np.float64))
    assert got[-1] == 1.0
    nonzero = got != 0.0
    # One flush point, at -87 (below it float32 turns subnormal).
    assert x[nonzero].min() == np.float32(-87.0)
    assert np.all(x[~nonzero] < -87.0)
    rel = np.abs(got[nonzero] / expected[nonzero] - 1.0)
    assert rel.max() <= 2 * np.finfo(np.float32).eps
    assert np.all(np.diff(got[nonzero].astype(np.float64)) >= -4e-7 * got[nonzero][1:])


# -- the settings ---------------------------------------------------------------------------
def test_float32_blocks_and_the_product_path_are_read_from_the_environment(monkeypatch):
    from fastem._settings import _from_environment

    monkeypatch.setenv("FASTEM_FLOAT32_BLOCKS", " Never ")
    monkeypatch.setenv("FASTEM_MATMUL_PATH", "tiled4")
    read = _from_environment()
    assert (read.float32_blocks, read.matmul_path) == ("never", "tiled4")
    monkeypatch.setenv("FASTEM_FLOAT32_BLOCKS", "sometimes")
    with pytest.raises(ValueError, match="FASTEM_FLOAT32_BLOCKS must be one of auto, always"):
        _from_environment()


def test_float32_block_settings_are_validated():
    with pytest.raises(ValueError, match="float32_blocks must be one of"):
        with override(float32_blocks="yes"):
            pass
    with pytest.raises(ValueError, match="float32_block_max_offset must be a non-negative"):
        with override(float32_block_max_offset=float("nan")):
            pass
