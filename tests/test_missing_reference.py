"""EM with missing values (NaN) against the per-row NumPy/SciPy reference.

One EM iteration from identical parameters, for every covariance type, with
and without sample weights, in float64 (1e-10 relative) and float32 (1e-4),
on every matmul path of the fit kernel; the marginal log-densities of
``score_samples``/``predict_proba`` likewise. The data sit far from the origin
(the statistics are summed around a data centre), span several blocks of rows
and row groups, and hold rows missing 1 to 3 values, a row with every value
missing, and complete rows.
"""

import functools

import numpy as np
import pytest

from fastem import GaussianMixture
from fastem._settings import override
from fastem.families.gaussian import GaussianFamily, GaussianParams, precision_cholesky
from matmul_paths import GAUSSIAN_PATHS
from missing_reference import em_step, log_prob

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
K, D, N = 3, 4, 300
REG = 1e-6


def _data():
    rng = np.random.default_rng(7)
    centres = rng.normal(0.0, 3.0, (K, D)) + 100.0
    X = centres[rng.integers(K, size=N)] + rng.normal(size=(N, D))
    for r in np.flatnonzero(rng.random(N) < 0.35):
        X[r, rng.choice(D, size=rng.integers(1, 4), replace=False)] = np.nan
    X[5] = np.nan  # nothing observed
    X[290, :] = np.nan
    return X


def _params(covariance_type):
    rng = np.random.default_rng(11)
    weights = rng.dirichlet(np.full(K, 5.0))
    means = 100.0 + rng.normal(0.0, 3.0, (K, D))
    A = rng.normal(size=(K, D, D))
    full = np.einsum("kij,klj->kil", A, A) / D + np.eye(D)
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": np.diagonal(full, axis1=1, axis2=2).copy(),
        "spherical": np.diagonal(full, axis1=1, axis2=2).mean(axis=1),
    }[covariance_type]
    U = precision_cholesky(covariances, covariance_type)
    return GaussianParams(weights, means, covariances, U)


def _sample_weight():
    return np.random.default_rng(3).uniform(0.0, 3.0, N)


@functools.cache
def _reference(covariance_type, weighted, dtype):
    X = _data().astype(dtype).astype(np.float64)
    p = _params(covariance_type)
    w = _sample_weight() if weighted else None
    return em_step(X, p.weights, p.means, p.covariances, covariance_type, REG, w)


def _fastem_step(covariance_type, weighted, dtype, X=None):
    X = np.ascontiguousarray((_data() if X is None else X).astype(dtype))
    w = _sample_weight() if weighted else np.empty(0)
    shift = np.nanmean(X.astype(np.float64), axis=0)
    family = GaussianFamily(covariance_type, K, D, dtype, shift=shift, missing=True)
    stats = family.estep_stats(X, w, _params(covariance_type))
    new = family.m_step(stats, REG)
    return new, stats.log_likelihood, family


def _close(actual, expected, rtol):
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def _check(covariance_type, weighted, dtype):
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    new, ll, _ = _fastem_step(covariance_type, weighted, dtype)
    weights, means, covariances, ll_ref = _reference(covariance_type, weighted, dtype)
    assert ll == pytest.approx(ll_ref, rel=rtol)
    _close(new.weights, weights, rtol)
    _close(new.means, means, rtol)
    _close(new.covariances, covariances, rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_matches_the_per_row_reference(covariance_type, weighted, dtype):
    _check(covariance_type, weighted, dtype)


@GAUSSIAN_PATHS
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_matches_the_reference_on_every_matmul_path(covariance_type, path, pinned_path):
    _, _, family = _fastem_step(covariance_type, True, np.float64)
    assert family.matmul_path == pinned_path
    _check(covariance_type, True, np.float64)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pattern_rows", [1, 10**9])
def test_full_patterns_on_the_block_products_and_row_by_row(pattern_rows, weighted):
    """Every missingness pattern on the block products (a row is enough), or none.

    With the default threshold the data hold patterns of both kinds (2 to 13 rows).
    """
    with override(missing_pattern_rows=pattern_rows):
        _check("full", weighted, np.float64)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_pattern_across_blocks_and_row_groups(covariance_type):
    """One pattern of 94 rows spans several blocks of rows and both row groups' shares."""
    X = _data()
    rows = np.arange(10, 290, 3)
    X[rows] = np.where(np.isnan(X[rows]), 100.0, X[rows])
    X[rows, 1] = np.nan
    with override(gaussian_block_rows=16, min_rows_per_group=64):
        new, ll, _ = _fastem_step(covariance_type, True, np.float64, X)
    p = _params(covariance_type)
    weights, means, covariances, ll_ref = em_step(
        X, p.weights, p.means, p.covariances, covariance_type, REG, _sample_weight()
    )
    assert ll == pytest.approx(ll_ref, rel=1e-10)
    _close(new.weights, weights, 1e-10)
    _close(new.means, means, 1e-10)
    _close(new.covariances, covariances, 1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_estimator_iteration_matches_the_reference(covariance_type):
    """``max_iter=1`` from given parameters: the same step through the estimator."""
    X = _data()
    p = _params(covariance_type)
    precisions = {
        "full": lambda c: np.linalg.inv(c),
        "tied": lambda c: np.linalg.inv(c),
        "diag": lambda c: 1.0 / c,
        "spherical": lambda c: 1.0 / c,
    }[covariance_type](p.covariances)
    gm = GaussianMixture(
        K,
        covariance_type=covariance_type,
        weights_init=p.weights,
        means_init=p.means,
        precisions_init=precisions,
        max_iter=1,
        reg_covar=REG,
    )
    with pytest.warns(Warning):  # one iteration does not converge
        gm.fit(X)
    weights, means, covariances, ll = _reference(covariance_type, False, np.float64)
    assert gm.lower_bound_ == pytest.approx(ll / N, rel=1e-10)
    _close(gm.weights_, weights, 1e-10)
    _close(gm.means_, means, 1e-10)
    _close(gm.covariances_, covariances, 1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_marginal_log_densities_match_the_reference(covariance_type):
    X = _data()
    p = _params(covariance_type)
    gm = GaussianMixture(K, covariance_type=covariance_type)
    gm.weights_, gm.means_, gm.covariances_ = p.weights, p.means, p.covariances
    gm.precisions_cholesky_ = p.precisions_cholesky
    expected = log_prob(X, p.means, p.covariances, covariance_type) + np.log(p.weights)
    norm = np.logaddexp.reduce(expected, axis=1)
    np.testing.assert_allclose(gm.score_samples(X), norm, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        gm.predict_proba(X), np.exp(expected - norm[:, None]), rtol=1e-9, atol=1e-12
    )
    # A row with nothing observed: the prior, and a log-likelihood of 0.
    np.testing.assert_allclose(gm.predict_proba(X[5:6])[0], p.weights, rtol=1e-12)
    assert gm.score_samples(X[5:6])[0] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_wide_rows_mark_every_word_of_missing_columns(covariance_type, dtype):
    """70 columns: a row's missing columns span three words of bits (32 columns each).

    The columns on either side of the word boundaries (31/32, 63/64) and the
    last one are missing in some rows, together and alone.
    """
    rng = np.random.default_rng(5)
    k, d, n = 2, 70, 120
    means = 50.0 + rng.normal(0.0, 2.0, (k, d))
    X = means[rng.integers(k, size=n)] + rng.normal(size=(n, d))
    for r, cols in enumerate(
        [[31], [32], [31, 32], [63, 64], [0, 69], [5, 40, 66], list(range(d))]
    ):
        X[3 + 7 * r, cols] = np.nan
    for r in np.flatnonzero(rng.random(n) < 0.3):
        X[r, rng.choice(d, size=rng.integers(1, 6), replace=False)] = np.nan
    X = X.astype(dtype)
    variances = rng.uniform(0.5, 2.0, (k, d))
    covariances = variances if covariance_type == "diag" else variances.mean(axis=1)
    weights = np.array([0.4, 0.6])
    p = GaussianParams(
        weights, means, covariances, precision_cholesky(covariances, covariance_type)
    )
    w = rng.uniform(0.0, 3.0, n)
    Xc = np.ascontiguousarray(X)
    family = GaussianFamily(
        covariance_type, k, d, dtype, shift=np.nanmean(X.astype(np.float64), axis=0), missing=True
    )
    stats = family.estep_stats(Xc, w, p)
    new = family.m_step(stats, REG)
    ref = em_step(X.astype(np.float64), weights, means, covariances, covariance_type, REG, w)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert stats.log_likelihood == pytest.approx(ref[3], rel=rtol)
    _close(new.weights, ref[0], rtol)
    _close(new.means, ref[1], rtol)
    _close(new.covariances, ref[2], rtol)
