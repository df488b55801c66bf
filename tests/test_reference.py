"""One EM step of fastem against the plain NumPy/SciPy reference in ``reference.py``."""

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

import reference as ref
from fastem import GaussianMixture
from fastem._moments import data_moments
from fastem._settings import override
from fastem._sources import ArraySource
from fastem.families._common import kernel_view
from fastem.families.gaussian import GaussianFamily, GaussianParams, precision_cholesky
from fastem.kernels import gaussian as gk
from fastem.kernels._common import fast_exp_array
from matmul_paths import GAUSSIAN_PATHS, pinned_matmul_path
from synthetic import make_blobs

RTOL = {np.float64: 1e-10, np.float32: 1e-4}
REG = 1e-6
N_COMPONENTS = 3


@pytest.fixture(scope="module")
def data():
    # Clusters 50 units away from the origin: the step must not lose digits there.
    X, _ = make_blobs(n_samples=700, n_features=3, n_components=4, separation=4.0, seed=1)
    X += 50.0
    weights = np.random.RandomState(2).uniform(0.1, 3.0, X.shape[0])
    return X, weights


def _start(X, covariance_type, seed=3):
    """Parameters a little off the data, so that the step moves them everywhere."""
    rng = np.random.RandomState(seed)
    weights, means, covariances = ref.random_params(rng, N_COMPONENTS, X.shape[1], covariance_type)
    means += X.mean(axis=0)
    return weights, means, covariances


def _centred_family(covariance_type, n_components, X, w):
    """A family summing around the weighted data mean, as the estimator builds it."""
    shift = data_moments(ArraySource(X, w), GaussianFamily.column_moments)[0]
    return GaussianFamily(covariance_type, n_components, X.shape[1], X.dtype, shift)


def _compare(actual, desired, rtol):
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        ref.assert_rel_close(actual[name], desired[name], rtol, name)


@GAUSSIAN_PATHS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_family_em_step_matches_reference(
    data, covariance_type, weighted, dtype, path, pinned_path
):
    X64, w = data
    X = X64.astype(dtype)
    w = w if weighted else None
    weights, means, covariances = _start(X64, covariance_type)
    expected, expected_ll = ref.em_step(
        X.astype(np.float64), w, weights, means, covariances, covariance_type, REG
    )

    w_arr = np.empty(0) if w is None else w
    family = _centred_family(covariance_type, N_COMPONENTS, X, w_arr)
    assert family.matmul_path == pinned_path
    params = GaussianParams(
        weights, means, covariances, ref.precisions_cholesky(covariances, covariance_type)
    )
    stats = family.estep_stats(X, w_arr, params)
    new = family.m_step(stats, REG)

    rtol = RTOL[dtype]
    _compare(vars(new), expected, rtol)
    assert stats.mean_log_likelihood == pytest.approx(expected_ll, rel=rtol)


EPS32 = np.finfo(np.float32).eps


def _condition(covariances, covariance_type):
    """Largest condition number among a model's covariances."""
    c = np.asarray(covariances)
    if covariance_type in ("full", "tied"):
        return float(np.max(np.linalg.cond(c)))
    if covariance_type == "diag":
        return float(np.max(c.max(axis=1) / c.min(axis=1)))
    return 1.0


def _check_family_step(X, w, start, covariance_type, path, label, block_size=256):
    """One E-step + M-step of ``GaussianFamily`` on ``path`` against the reference.

    In float64 blocks the step is computed in float64 from the rows as given,
    whatever their dtype, so the reference gets the same rows widened and
    matches to 1e-10; float32 rows are also stepped in float32 blocks, which
    match to float32's tolerance.  Returns the family and the float64-block step.
    """
    weights, means, covariances = start
    expected, expected_ll = ref.em_step(
        X.astype(np.float64), w, weights, means, covariances, covariance_type, REG
    )
    with pinned_matmul_path(path) as pinned, override(gaussian_block_rows=block_size):
        family = _centred_family(covariance_type, len(weights), X, w)
    assert family.matmul_path == pinned
    assert family.block_size == block_size
    params = GaussianParams(
        weights, means, covariances, ref.precisions_cholesky(covariances, covariance_type)
    )
    if X.dtype == np.float32:
        with override(float32_blocks="always"):
            stats = family.estep_stats(X, w, params)
        step = family.m_step(stats, REG)
        for name in ("weights", "means", "covariances"):
            ref.assert_rel_close(vars(step)[name], expected[name], RTOL[np.float32], name)
        # Inverting a covariance multiplies its relative error by up to its
        # condition number (here up to 1e4, covariances good to a few float32 ulps).
        cond = _condition(expected["covariances"], covariance_type)
        rtol = max(RTOL[np.float32], 4 * cond * EPS32)
        ref.assert_rel_close(step.precisions_cholesky, expected["precisions_cholesky"], rtol, "U")
        assert stats.mean_log_likelihood == pytest.approx(expected_ll, rel=RTOL[np.float32])
    with override(float32_blocks="never"):
        stats = family.estep_stats(X, w, params)
    new = family.m_step(stats, REG)
    for name in ("weights", "means", "covariances", "precisions_cholesky"):
        ref.assert_rel_close(vars(new)[name], expected[name], 1e-10, f"{name} {label}")
    assert stats.mean_log_likelihood == pytest.approx(expected_ll, rel=1e-10), label
    return family, new


@GAUSSIAN_PATHS
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_family_em_step_matches_reference_for_small_shapes(covariance_type, path):
    # Every small (D, K): on the tiled path each pads differently (components to 4,
    # statistics to 6, the tied factor to 4 columns), including no padding at all.
    rng = np.random.RandomState(9)
    for D in range(1, 8):
        X, _ = make_blobs(n_samples=77, n_features=D, n_components=2, separation=2.0, seed=D)
        X += 10.0
        w = rng.uniform(0.5, 2.0, X.shape[0])
        for K in range(1, 7):
            weights, means, covariances = ref.random_params(rng, K, D, covariance_type)
            means = 0.3 * means + X.mean(axis=0)
            _check_family_step(X, w, (weights, means, covariances), covariance_type, path, (D, K))


@GAUSSIAN_PATHS
@pytest.mark.parametrize("n_features", [16, 21, 40])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_family_em_step_matches_reference_for_wide_shapes(covariance_type, n_features, path):
    # From 16 features float32 and float64 rows are transposed in 8 x 8 register
    # tiles, with the features past a multiple of 8 (21, 40 = 5 * 8) and the rows
    # past one (603 rows, blocks of 48) left to scalar loops.
    rng = np.random.RandomState(n_features)
    X, _ = make_blobs(
        n_samples=603, n_features=n_features, n_components=3, separation=3.0, seed=n_features
    )
    X += 20.0
    w = rng.uniform(0.5, 2.0, X.shape[0])
    weights, means, covariances = ref.random_params(rng, 3, n_features, covariance_type)
    # Means at data points: in 40 dimensions a mean off the data gets a weight of
    # 1e-17, whose mean is then made of underflowing responsibilities.
    means = X[[0, 200, 400]] + 0.1 * means
    resp = rng.uniform(size=(X.shape[0], 3))
    resp /= resp.sum(axis=1, keepdims=True)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        family, new = _check_family_step(
            Xd, w, (weights, means, covariances), covariance_type, path, dtype, block_size=48
        )
        assert new.weights.min() > 0.01  # every component is fitted from data
        given = family.m_step(family.resp_stats(Xd, w, resp), REG)
        expected = ref.m_step(Xd.astype(np.float64), resp, w, REG, covariance_type)
        _compare(vars(given), expected, 1e-10)


@GAUSSIAN_PATHS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_estimator_one_iteration_matches_reference(
    data, covariance_type, weighted, dtype, path, pinned_path
):
    X64, w = data
    X = X64.astype(dtype)
    w = w if weighted else None
    weights, means, covariances = _start(X64, covariance_type, seed=4)
    expected, expected_ll = ref.em_step(
        X.astype(np.float64), w, weights, means, covariances, covariance_type, REG
    )
    gm = GaussianMixture(
        N_COMPONENTS,
        covariance_type=covariance_type,
        weights_init=weights,
        means_init=means,
        precisions_init=ref.precisions(covariances, covariance_type),
        max_iter=1,
        reg_covar=REG,
    )
    # The families the fit builds use the pinned path.
    assert gm._make_family(X.shape[1], X.dtype).matmul_path == pinned_path
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=w)

    rtol = RTOL[dtype]
    fitted = {
        "weights": gm.weights_,
        "means": gm.means_,
        "covariances": gm.covariances_,
        "precisions_cholesky": gm.precisions_cholesky_,
    }
    _compare(fitted, expected, rtol)
    ref.assert_rel_close(
        gm.precisions_, ref.precisions(expected["covariances"], covariance_type), rtol
    )
    assert gm.lower_bound_ == pytest.approx(expected_ll, rel=rtol)
    assert gm.lower_bounds_ == [gm.lower_bound_]
    assert gm.n_iter_ == 1


@GAUSSIAN_PATHS
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_resp_stats_m_step_matches_reference(data, covariance_type, path, pinned_path):
    """The initialisation path: statistics for given responsibilities."""
    X, w = data
    resp = np.random.RandomState(5).uniform(size=(X.shape[0], N_COMPONENTS))
    resp /= resp.sum(axis=1, keepdims=True)
    family = _centred_family(covariance_type, N_COMPONENTS, X, w)
    assert family.matmul_path == pinned_path
    new = family.m_step(family.resp_stats(X, w, resp), REG)
    _compare(vars(new), ref.m_step(X, resp, w, REG, covariance_type), RTOL[np.float64])

    # Hard assignment to the nearest of given centres (k-means' statistics).
    centers = X[[0, 300, 600]]
    hard = family.m_step(family.hard_stats(X, w, centers), REG)
    labels = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert np.bincount(labels, minlength=N_COMPONENTS).min() > 10
    onehot = np.eye(N_COMPONENTS)[labels]
    _compare(vars(hard), ref.m_step(X, onehot, w, REG, covariance_type), RTOL[np.float64])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_log_prob_matches_scipy(data, covariance_type, dtype):
    X = data[0].astype(dtype)
    weights, means, covariances = _start(data[0], covariance_type, seed=6)
    family = GaussianFamily(covariance_type, N_COMPONENTS, X.shape[1])
    params = GaussianParams(
        weights, means, covariances, ref.precisions_cholesky(covariances, covariance_type)
    )
    log_prob = family.log_prob(X, params)
    expected = ref.log_gaussian_prob(X.astype(np.float64), means, covariances, covariance_type)
    assert log_prob.shape == (X.shape[0], N_COMPONENTS)
    # Both sides see the same float32 values, so the float64 tolerance holds for both.
    np.testing.assert_allclose(log_prob, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n_groups", [1, 2, 3])
@pytest.mark.parametrize("block_size", [7, 256])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [3, 17])
def test_diagonal_log_prob_kernel_over_blocks_and_groups(n_features, dtype, block_size, n_groups):
    # The diag/spherical prediction kernel transposes each block of rows; partial
    # last blocks (301 rows in blocks of 7 or 256) and every group count must
    # give each row's own direct-form value.
    rng = np.random.default_rng(8)
    X = kernel_view(rng.normal(3.0, 2.0, size=(301, n_features)).astype(dtype))
    K = 4
    means = rng.normal(3.0, 2.0, size=(K, n_features))
    variances = rng.uniform(0.3, 3.0, size=(K, n_features))
    prec_chol = 1.0 / np.sqrt(variances)
    log_det = np.log(prec_chol).sum(axis=1)
    got = gk.log_prob_diagonal(X, means, prec_chol, log_det, block_size, n_groups)
    expected = ref.log_gaussian_prob(X, means, variances, "diag")
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _ill_conditioned_covariances():
    # The covariance of scikit-learn issue #29989 (condition number ~1e9) ...
    issue = np.array(
        [
            [32.00000007, 35.99999993, 8.00000001],
            [35.99999993, 40.50000006, 8.99999998],
            [8.00000001, 8.99999998, 2.00000008],
        ]
    )
    # ... and a random rotation of eigenvalues spread over 9 decades.
    rng = np.random.RandomState(7)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    rotated = (Q * np.logspace(-4, 5, 4)) @ Q.T
    rotated = 0.5 * (rotated + rotated.T)
    return [issue, rotated]


@pytest.mark.parametrize("case", [0, 1])
def test_log_prob_ill_conditioned_matches_scipy(case):
    covariance = _ill_conditioned_covariances()[case]
    D = covariance.shape[0]
    cond = np.linalg.cond(covariance)
    assert cond > 5e8
    # A backward-stable float64 evaluation is off by up to ~cond * eps relative (the
    # covariance itself is only known to eps); scikit-learn's bug was 2%.
    rtol = cond * np.finfo(np.float64).eps
    rng = np.random.RandomState(8)
    means = np.stack([np.zeros(D), rng.normal(size=D)])
    X = np.vstack([means, rng.multivariate_normal(means[1], covariance, size=200)])
    covariances = np.stack([covariance, covariance])
    params = GaussianParams(
        np.array([0.5, 0.5]), means, covariances, precision_cholesky(covariances, "full")
    )
    log_prob = GaussianFamily("full", 2, D).log_prob(X, params)
    exact = np.stack(
        [ref.log_gaussian_prob_extended(X, m, covariance) for m in means], axis=1
    ).astype(np.float64)
    scipy = np.stack(
        [multivariate_normal.logpdf(X, mean=m, cov=covariance) for m in means], axis=1
    )
    np.testing.assert_allclose(log_prob, exact, rtol=rtol)
    # Two evaluations, each within cond * eps of the exact value.
    np.testing.assert_allclose(log_prob, scipy, rtol=2 * rtol)

    # The estimator's score_samples goes through the same path.
    gm = GaussianMixture(2)
    gm.weights_ = params.weights
    gm.means_ = means
    gm.covariances_ = covariances
    gm.precisions_cholesky_ = params.precisions_cholesky
    gm.n_features_in_ = D
    np.testing.assert_allclose(
        gm.score_samples(X), np.logaddexp(*(exact + np.log(0.5)).T), rtol=rtol
    )


def test_fast_exp_matches_numpy():
    x = np.concatenate(
        [
            np.linspace(-745.0, 0.0, 1_000_001),
            -np.logspace(-300, np.log10(745.0), 10_001),
            [0.0, -0.0, -708.0, np.nextafter(-708.0, 0.0), np.nextafter(-708.0, -np.inf)],
        ]
    )
    x.sort()
    got = fast_exp_array(x, np.empty_like(x))
    expected = np.exp(x)
    assert got[-1] == 1.0

    nonzero = got != 0.0
    # A single flush point: every zero lies below every non-zero value.
    flush = x[nonzero].min()
    assert not np.any(nonzero[x >= flush] == 0)
    assert flush <= np.log(1e-300)
    assert np.all(got[~nonzero] == 0.0)
    assert np.all(np.diff(got) >= 0.0)

    normal = expected >= 1e-300
    rel = np.abs(got[normal] - expected[normal]) / expected[normal]
    assert rel.max() <= 1e-15
    # Values kept between the flush point and 1e-300 are accurate too (no garbage).
    kept = nonzero & ~normal
    rel_kept = np.abs(got[kept] - expected[kept]) / expected[kept]
    assert rel_kept.size == 0 or rel_kept.max() <= 1e-15
