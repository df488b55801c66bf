"""The per-row log-sum-exp of prediction against scipy.special.logsumexp, special values too."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy.special import logsumexp

from fastem.kernels.logsumexp import log_likelihood_and_entropy, logsumexp_rows, normalise_rows


def _rows(n_components, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(-50.0, 30.0, size=(200, n_components))
    a[::7, 0] = -np.inf  # a component of zero weight
    a[5] = -np.inf  # a row impossible under every component
    a[9] += 1e5  # far from the origin: only the shift by the maximum keeps it finite
    a[11] -= 1e5
    # Terms more than 708 below the row's maximum: subnormal probabilities.
    a[13] = -5.0
    a[13, 0] = -725.0
    a[14] = 3.0
    a[14, 0] = -1000.0
    return a


def _assert_close_to_scipy(got, expected, a):
    """Within a few roundings of the row's largest term, which the sum is shifted by."""
    assert_array_equal(np.isfinite(got), np.isfinite(expected))
    assert_array_equal(got[~np.isfinite(got)], expected[~np.isfinite(expected)])
    finite = np.isfinite(expected)
    scale = np.abs(a.max(axis=1)) + np.log(a.shape[1]) + 1.0
    error = np.abs(got[finite] - expected[finite])
    assert (error <= 8 * np.finfo(np.float64).eps * scale[finite]).all(), error.max()


@pytest.mark.parametrize("n_components", [1, 2, 7, 16])
def test_logsumexp_rows_is_scipys(n_components):
    a = _rows(n_components)
    expected = logsumexp(a, axis=1)
    got = logsumexp_rows(a)
    _assert_close_to_scipy(got, expected, a)
    assert got[5] == -np.inf


@pytest.mark.parametrize("n_components", [1, 2, 7, 16])
def test_normalise_rows_gives_the_posterior_and_its_norm(n_components):
    a = _rows(n_components)
    norm = logsumexp(a, axis=1)
    with np.errstate(invalid="ignore"):
        expected = np.exp(a - norm[:, None])
    got = a.copy()
    got_norm = normalise_rows(got)
    _assert_close_to_scipy(got_norm, norm, a)
    finite = np.isfinite(norm)
    # exp(a - norm): the difference's absolute rounding, ~eps * (|a| + |norm|), is
    # the result's relative error (below the smallest normal number it is absolute).
    eps, tiny = np.finfo(np.float64).eps, np.finfo(np.float64).tiny
    magnitude = np.where(np.isfinite(a), np.abs(a), 0.0)  # -inf terms give exactly 0
    scale = (magnitude + np.abs(norm)[:, None] + 1.0)[finite]
    error = np.abs(got[finite] - expected[finite])
    assert (error <= 8 * eps * scale * expected[finite] + tiny).all()
    ones = got[finite].sum(axis=1)
    assert (np.abs(ones - 1.0) <= 8 * eps * (np.abs(norm[finite]) + 1.0) * n_components).all()
    if n_components > 1:
        assert 0.0 < got[13, 0] < np.finfo(np.float64).tiny  # subnormal, as scipy's
    # A row impossible under every component: 0/0, NaN as with scipy.
    assert np.isnan(got[5]).all()


def test_non_finite_values_follow_scipy():
    a = np.array(
        [
            [np.inf, 0.0, 1.0],
            [np.nan, 0.0, 1.0],
            [-np.inf, -np.inf, -np.inf],
            [-np.inf, np.nan, -np.inf],
            [np.inf, -np.inf, 0.0],
        ]
    )
    with np.errstate(invalid="ignore"):
        expected = logsumexp(a, axis=1)
    assert_array_equal(logsumexp_rows(a), expected)


def _reference_log_likelihood_and_entropy(a, w):
    norm = logsumexp(a, axis=1)
    with np.errstate(under="ignore", invalid="ignore"):
        log_resp = a - norm[:, None]
        resp = np.exp(log_resp)
        terms = np.where(resp > 0, resp * log_resp, 0.0).sum(axis=1)
    return float(w @ norm), -float(w @ terms)


@pytest.mark.parametrize("n_components", [1, 2, 7, 16])
@pytest.mark.parametrize("weighted", [False, True])
def test_log_likelihood_and_entropy_against_numpy(n_components, weighted):
    a = _rows(n_components)
    a = a[np.isfinite(a).any(axis=1)]  # every row possible
    w = np.random.default_rng(1).uniform(0.0, 3.0, a.shape[0])
    ll, entropy = log_likelihood_and_entropy(a, w if weighted else np.empty(0))
    expected_ll, expected_entropy = _reference_log_likelihood_and_entropy(
        a, w if weighted else np.ones(a.shape[0])
    )
    scale = np.abs(a).max() * a.shape[0] * 3.0
    assert abs(ll - expected_ll) <= 64 * np.finfo(np.float64).eps * scale
    assert abs(entropy - expected_entropy) <= 1e-12 * (abs(expected_entropy) + a.shape[0])
    if n_components == 1:
        assert entropy == 0.0  # one component: every posterior is 1
    else:
        assert entropy > 0.0


def test_log_likelihood_and_entropy_of_an_impossible_row_is_minus_infinity():
    a = _rows(7)
    ll, entropy = log_likelihood_and_entropy(a, np.empty(0))
    assert ll == -np.inf
    _, expected_entropy = _reference_log_likelihood_and_entropy(a, np.ones(a.shape[0]))
    assert entropy == pytest.approx(expected_entropy, rel=1e-12)


def test_log_likelihood_and_entropy_does_not_depend_on_the_thread_count():
    import numba

    a = np.random.default_rng(2).normal(-20.0, 5.0, size=(5000, 6))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = log_likelihood_and_entropy(a, np.empty(0))
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = log_likelihood_and_entropy(a, np.empty(0))
    finally:
        numba.set_num_threads(before)
    assert one == two
