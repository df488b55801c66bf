"""GaussianMixture on data with missing values (NaN): the whole estimator.

Monotone observed-data log-likelihood (hypothesis), data without NaN never
touching the kernels for missing values, chunked == in-memory == Dask with
NaN, online EM, every ``init_params``, the quality of the fit against the
complete-rows and mean-imputed fits, and the errors for input that cannot be
fitted.
"""

import itertools

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastem import GaussianMixture
from fastem._settings import override
from fastem.families.gaussian import GaussianFamily, precision_cholesky
from fastem.kernels import gaussian_missing, gaussian_missing_init
from missing_reference import log_likelihood

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]

CI = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _mixture_data(n=600, seed=0, fraction=0.2, offset=0.0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]]) + offset
    X = centres[rng.integers(3, size=n)] + rng.normal(size=(n, 3))
    X[rng.random(X.shape) < fraction] = np.nan
    return X


@pytest.fixture(scope="module")
def nan_data():
    """600 rows, 3 clusters, 20 % of the values missing (writable: tests copy before writing)."""
    return _mixture_data()


# -- exact EM: the observed-data log-likelihood never decreases ---------------------------
@CI
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(20, 60),
    d=st.integers(1, 4),
    k=st.integers(1, 3),
    fraction=st.sampled_from([0.05, 0.3, 0.6]),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
)
def test_observed_log_likelihood_never_decreases(seed, n, d, k, fraction, covariance_type):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 4.0 * rng.integers(2, size=(n, 1))
    X[rng.random(X.shape) < fraction] = np.nan
    X[0] = rng.normal(size=d)  # every column observed at least once
    gm = GaussianMixture(
        k, covariance_type=covariance_type, reg_covar=0.0, tol=0.0, max_iter=8, random_state=0
    )
    try:
        with pytest.warns(Warning):
            gm.fit(X)
    except ValueError as exc:  # a collapsed component without regularisation
        assert "ill-defined empirical covariance" in str(exc)
        return
    bounds = np.asarray(gm.lower_bounds_)
    assert np.all(np.isfinite(bounds))
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    # The bound is the reference's observed-data log-likelihood (of the parameters
    # before the last M-step, so one more E-step of the final ones is compared).
    final = log_likelihood(X, gm.weights_, gm.means_, gm.covariances_, covariance_type) / n
    assert final == pytest.approx(gm.score(X), rel=1e-9, abs=1e-12)
    assert final >= bounds[-1] - 1e-10 * abs(bounds[-1])


# -- data without NaN: exactly the complete-data path ----------------------------------------
def _forbid_missing_kernels(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a kernel for missing values ran on data without NaN")

    for name in ("estep_stats", "log_prob_rows"):
        monkeypatch.setattr(gaussian_missing, name, refuse)
    for name in ("given_stats", "lloyd", "sq_distances"):
        monkeypatch.setattr(gaussian_missing_init, name, refuse)


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_data_without_nan_never_reaches_the_missing_kernels(
    blobs, monkeypatch, covariance_type, init_params
):
    _forbid_missing_kernels(monkeypatch)
    gm = GaussianMixture(
        3, covariance_type=covariance_type, init_params=init_params, random_state=0
    ).fit(blobs)
    gm.predict_proba(blobs)
    gm.score_samples(blobs)
    gm.partial_fit(blobs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_missing_kernel_on_complete_rows_is_the_complete_kernel(blobs, covariance_type, dtype):
    """Blocks without NaN are read in place by the same pipeline: the same bits.

    Both in float64 blocks: the NaN kernel's blocks are float64, float32 blocks
    are the complete-data kernel's alone.
    """
    X = np.array(blobs, dtype=dtype)  # writable, as a validated copy is
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    shift = X.mean(axis=0, dtype=np.float64)
    fitted = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(blobs)
    params = fitted._params_from_attributes()
    results = []
    for missing in (False, True):
        family = GaussianFamily(covariance_type, 3, 3, dtype, shift=shift, missing=missing)
        with override(float32_blocks="never"):
            results.append(family.estep_stats(X, w, params))
    for name in results[0].arrays:
        np.testing.assert_array_equal(results[1].arrays[name], results[0].arrays[name])
    assert results[1].log_likelihood == results[0].log_likelihood


# -- every source gives the in-memory result ---------------------------------------------------
PARAMS = {"random_state": 0, "tol": 1e-8, "max_iter": 30}


def _assert_same_model(a, b, rtol=1e-9):
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=rtol)
    np.testing.assert_allclose(a.means_, b.means_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(a.covariances_, b.covariances_, rtol=rtol, atol=rtol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_and_dask_fits_equal_the_in_memory_fit(tmp_path, nan_data, covariance_type):
    X = nan_data
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(X))
    params = dict(PARAMS, covariance_type=covariance_type)
    reference = GaussianMixture(3, **params).fit(X, sample_weight=w)
    path = tmp_path / "x.npy"
    np.save(path, X)
    memmap = GaussianMixture(3, chunk_size=128, **params).fit(
        np.load(path, mmap_mode="r"), sample_weight=w
    )
    _assert_same_model(memmap, reference)
    # Chunks from a callable, the first one without any NaN.
    complete = ~np.isnan(X).any(axis=1)
    order = np.concatenate([np.flatnonzero(complete)[:100], np.flatnonzero(~complete)])
    order = np.concatenate([order, np.setdiff1d(np.arange(len(X)), order)])
    Xo, wo = X[order], w[order]
    chunks = [(Xo[i : i + 100], wo[i : i + 100]) for i in range(0, len(X), 100)]
    assert not np.isnan(chunks[0][0]).any()
    ordered = GaussianMixture(3, **params).fit(Xo, sample_weight=wo)
    _assert_same_model(GaussianMixture(3, **params).fit(lambda: iter(chunks)), ordered)
    with dask.config.set(scheduler="synchronous"):
        dask_fit = GaussianMixture(3, **params).fit(
            da.from_array(X, chunks=(150, 3)), sample_weight=da.from_array(w, chunks=150)
        )
        _assert_same_model(dask_fit, reference)
        lazy = dask_fit.score_samples(da.from_array(X, chunks=(150, 3))).compute()
    np.testing.assert_allclose(lazy, dask_fit.score_samples(X), rtol=1e-12)


def test_online_em_with_nan(nan_data):
    """A complete first batch, then batches with NaN: each step's bound is the batch's score."""
    X = nan_data
    complete = X[~np.isnan(X).any(axis=1)]
    gm = GaussianMixture(3, random_state=0).partial_fit(complete[:200])
    for start in range(0, 600, 200):
        batch = X[start : start + 200]
        before = gm.score(batch)
        gm.partial_fit(batch)
        assert gm.lower_bound_ == pytest.approx(before, rel=1e-10)
    assert np.all(np.isfinite(gm.covariances_))
    online = GaussianMixture(3, random_state=0, max_iter=5).fit(X, mode="online", batch_size=150)
    assert np.isfinite(online.score(X))


# -- the public API on NaN data ----------------------------------------------------------------
@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_every_init_params_fits_nan_data(nan_data, covariance_type, init_params):
    X = np.array(nan_data)
    X[7] = np.nan  # a row with nothing observed is never a seed
    gm = GaussianMixture(
        3, covariance_type=covariance_type, init_params=init_params, random_state=0
    )
    labels = gm.fit_predict(X)
    assert gm.converged_
    np.testing.assert_array_equal(labels, gm.predict(X))
    # Three well-separated clusters: the data-driven inits find the three centres
    # ("random" responsibilities start every component at the data mean, where EM
    # stalls on complete data as well, in scikit-learn as here).
    if init_params != "random":
        centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
        nearest = np.linalg.norm(gm.means_[:, None] - centres[None], axis=2).min(axis=0)
        assert np.all(nearest < 0.5), gm.means_
    assert np.all(np.isfinite(gm.covariances_))
    gm0 = GaussianMixture(
        3, covariance_type=covariance_type, init_params=init_params, random_state=0, max_iter=0
    ).fit(X)
    assert np.all(np.isfinite(gm0.means_)) and np.all(np.isfinite(gm0.covariances_))


def test_scores_criteria_and_tags_with_nan(nan_data):
    X = nan_data
    gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.__sklearn_tags__().input_tags.allow_nan
    log_prob = gm.score_samples(X)
    assert np.all(np.isfinite(log_prob))
    assert gm.score(X) == pytest.approx(log_prob.mean(), rel=1e-12)
    n_params = gm._n_parameters()
    assert gm.bic(X) == pytest.approx(-2 * log_prob.sum() + n_params * np.log(len(X)))
    assert gm.aic(X) == pytest.approx(-2 * log_prob.sum() + 2 * n_params)
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    empty = np.full((2, 3), np.nan)
    np.testing.assert_allclose(gm.predict_proba(empty), np.tile(gm.weights_, (2, 1)), rtol=1e-12)
    # float32 in, float32 out, close to the float64 fit.
    gm32 = GaussianMixture(3, random_state=0).fit(X.astype(np.float32))
    assert gm32.means_.dtype == np.float32
    np.testing.assert_allclose(gm32.means_, gm.means_, rtol=1e-3, atol=1e-3)


def test_a_row_with_nothing_observed_changes_no_parameter(nan_data):
    X = np.array(nan_data)
    gm = GaussianMixture(3, random_state=0, tol=1e-10).fit(X)
    more = np.vstack([X, np.full((5, 3), np.nan)])
    params = {"weights_init": gm.weights_, "means_init": gm.means_}
    params["precisions_init"] = gm.precisions_
    again = GaussianMixture(3, max_iter=1, **params)
    with pytest.warns(Warning):
        again.fit(more)
    # The EM fixed point of the observed rows stays one: the empty rows add the
    # current parameters' own expectations.
    np.testing.assert_allclose(again.means_, gm.means_, rtol=1e-6, atol=1e-6)
    assert again.score_samples(more[-5:]) == pytest.approx(np.zeros(5), abs=1e-15)


# -- quality: the NaN fit beats deleting rows and imputing means ------------------------------
def _parameter_error(gm, means, covariances):
    best = np.inf
    for perm in itertools.permutations(range(len(means))):
        p = list(perm)
        error = np.linalg.norm(gm.means_[p] - means) + np.linalg.norm(
            gm.covariances_[p] - covariances
        )
        best = min(best, error)
    return best


def test_nan_fit_beats_complete_rows_and_mean_imputation():
    rng = np.random.default_rng(2026)
    means = np.array([[0.0, 0.0, 0.0, 0.0], [4.0, 4.0, 0.0, 2.0], [0.0, 4.0, 4.0, -2.0]])
    A = rng.normal(size=(3, 4, 4)) * 0.5
    covariances = np.einsum("kij,klj->kil", A, A) + 0.5 * np.eye(4)
    labels = rng.choice(3, size=3000, p=[0.3, 0.3, 0.4])
    X = np.stack([rng.multivariate_normal(means[k], covariances[k]) for k in labels])
    Xn = X.copy()
    Xn[rng.random(X.shape) < 0.3] = np.nan
    complete_rows = Xn[~np.isnan(Xn).any(axis=1)]
    imputed = np.where(np.isnan(Xn), np.nanmean(Xn, axis=0), Xn)
    fits = {
        name: GaussianMixture(3, random_state=0, n_init=2, tol=1e-6).fit(data)
        for name, data in [("nan", Xn), ("complete rows", complete_rows), ("imputed", imputed)]
    }
    errors = {name: _parameter_error(gm, means, covariances) for name, gm in fits.items()}
    assert errors["nan"] < errors["complete rows"], errors
    assert errors["nan"] < errors["imputed"], errors


# -- input that cannot be fitted ----------------------------------------------------------------
def test_a_column_without_observed_values_is_a_clear_error(tmp_path, nan_data):
    X = np.array(nan_data)
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"Column 1 of X \(0-based\) has no observed value"):
        GaussianMixture(2).fit(X)
    path = tmp_path / "x.npy"
    np.save(path, X)
    with pytest.raises(ValueError, match="Column 1 of X"):
        GaussianMixture(2, chunk_size=100).fit(path)
    with pytest.raises(ValueError, match="Column 1 of X"):
        GaussianMixture(2).partial_fit(X)
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match=r"Columns 1, 2 of X"):
        GaussianMixture(2).fit(X)
    # Observed only where the weight is 0: nothing to fit either.
    X = np.array(nan_data)
    X[1:, 0] = np.nan
    w = np.ones(len(X))
    w[0] = 0.0
    with pytest.raises(ValueError, match="Column 0 of X"):
        GaussianMixture(2).fit(X, sample_weight=w)


def test_all_missing_data_and_infinity_are_errors(nan_data):
    with pytest.raises(ValueError, match="X has no observed value"):
        GaussianMixture(2).fit(np.full((10, 3), np.nan))
    X = np.array(nan_data)
    X[3, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2, chunk_size=100).fit([X[:300], X[300:]])
    gm = GaussianMixture(2, random_state=0).fit(nan_data)
    with pytest.raises(ValueError, match="infinity"):
        gm.predict(X)


def test_huge_values_with_nan_are_still_refused(nan_data):
    X = np.array(nan_data)
    X[4, 2] = 1e150
    with pytest.raises(ValueError, match="too large"):
        GaussianMixture(2).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_initial_parameters_from_observed_pairs(covariance_type):
    """The initialisation's available-case estimates on one known cluster."""
    rng = np.random.default_rng(5)
    cov = np.array([[2.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 0.5]])
    X = rng.multivariate_normal([1.0, -2.0, 3.0], cov, size=4000)
    X[rng.random(X.shape) < 0.3] = np.nan
    family = GaussianFamily(covariance_type, 1, 3, shift=np.nanmean(X, axis=0), missing=True)
    stats = family.resp_stats(X, np.empty(0), np.ones((len(X), 1)))
    params = family.m_step(stats, 0.0)
    np.testing.assert_allclose(params.means[0], np.nanmean(X, axis=0), rtol=1e-12)
    expected = {
        "full": cov,
        "tied": cov,
        "diag": np.diag(cov),
        "spherical": np.trace(cov) / 3,
    }[covariance_type]
    np.testing.assert_allclose(np.squeeze(params.covariances), expected, atol=0.1)
    precision_cholesky(params.covariances, covariance_type)  # positive definite
