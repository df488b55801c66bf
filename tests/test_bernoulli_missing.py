"""BernoulliMixture with missing values (NaN), against the plain NumPy reference.

NaN entries of dense input are marginalised: EM steps, scores and posteriors
match ``bernoulli_reference``'s ``*_missing`` formulas on every product path,
with and without sample weights; the likelihood never decreases; data without
NaN is fitted bit for bit as before; chunked, memory-mapped, iterable and
Dask sources give the in-memory fit; bad input fails clearly.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import bernoulli_reference as ref
from bernoulli_common import INITS, STRICT, fit_from, start
from fastem import BernoulliMixture
from fastem._stats import SufficientStats
from fastem.families.bernoulli import NO_MISSING, BernoulliFamily, BernoulliParams
from fastem.families.binary import MISSING, dense_binary_rows
from matmul_paths import BERNOULLI_PATHS, pinned_matmul_path
from synthetic import make_binary


def with_nan(X, fraction=0.15, seed=3):
    """``X`` as float64 with ``fraction`` of its entries NaN, and one row all NaN."""
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    X[rng.uniform(size=X.shape) < fraction] = np.nan
    X[5] = np.nan
    return X


@pytest.fixture(scope="module")
def data():
    X, *_ = make_binary(n_samples=300)
    return with_nan(X)


# -- against the reference --------------------------------------------------------------------
@BERNOULLI_PATHS
@pytest.mark.parametrize("weighted", [False, True])
def test_em_matches_reference(data, path, weighted):
    w0, m0 = start(3, data.shape[1])
    sw = np.random.default_rng(2).uniform(0.2, 3.0, data.shape[0]) if weighted else None
    with pinned_matmul_path(path, lambda: BernoulliFamily(3, data.shape[1]), has_loops=False):
        for n_iter in (1, 4):
            bm = fit_from(data, w0, m0, n_iter, sample_weight=sw, alpha=0.3, **STRICT)
            weights, means, bounds = ref.em_missing(data, w0, m0, 0.3, n_iter, sw)
            assert_allclose(bm.weights_, weights, rtol=0, atol=1e-10)
            assert_allclose(bm.means_, means, rtol=0, atol=1e-10)
            assert_allclose(bm.lower_bounds_, bounds, rtol=1e-12, atol=1e-10)
        lj = ref.log_joint_missing(data, bm.weights_, bm.means_)
        assert_allclose(bm.score_samples(data), logsumexp(lj, axis=1), rtol=0, atol=1e-10)
        assert_allclose(
            bm.predict_proba(data), np.exp(lj - logsumexp(lj, axis=1)[:, None]), atol=1e-10
        )
        assert_array_equal(bm.predict(data), lj.argmax(axis=1))
    assert_allclose(
        bm.score(data, sample_weight=sw), np.average(logsumexp(lj, axis=1), weights=sw)
    )


def test_all_missing_row_gets_the_prior(data):
    bm = BernoulliMixture(3, random_state=0).fit(data)
    row = np.full((1, data.shape[1]), np.nan)
    assert_allclose(bm.predict_proba(row)[0], bm.weights_, rtol=1e-12)
    assert_allclose(bm.score_samples(row), [0.0], atol=1e-12)


def test_maximum_likelihood_with_missing_values(data):
    # alpha = 0: a feature never observed within a component gets 0.5, and
    # missing entries are never impossible events.
    w0, m0 = start(3, data.shape[1])
    bm = fit_from(data, w0, m0, 3, alpha=0.0, **STRICT)
    assert np.all(np.isfinite(bm.lower_bounds_))
    assert np.all(np.isfinite(bm.score_samples(data)))
    # Feature 0 unobserved in component 0: probability 0.5, not 0 / 0.
    stats = SufficientStats(
        {
            "counts": np.array([2.0, 3.0]),
            "sums": np.array([[0.0, 1.0], [2.0, 3.0]]),
            "missing": np.array([[2.0, 1.0], [0.0, 0.0]]),
        }
    )
    for alpha in (0.0, 0.5):
        params = BernoulliFamily(2, 2).m_step(stats, alpha)
        expected = [
            [0.5, (2 + alpha) / (2 + 2 * alpha)],
            [(1 + alpha) / (2 + 2 * alpha), (3 + alpha) / (3 + 2 * alpha)],
        ]
        assert_allclose(params.means, expected, rtol=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_likelihood_never_decreases(seed):
    rng = np.random.default_rng(seed)
    X = with_nan(rng.uniform(size=(120, 7)) < rng.uniform(0.2, 0.8, 7), 0.3, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bm = BernoulliMixture(4, max_iter=30, tol=0, random_state=seed, alpha=0.01).fit(X)
    bounds = np.array(bm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


# -- the family -------------------------------------------------------------------------------
def test_rows_code_missing_entries():
    X = np.array([[0.2, np.nan, 0.9], [1.0, 0.0, np.nan]])
    assert_array_equal(
        dense_binary_rows(X, 0.5, allow_nan=True), [[0, MISSING, 1], [1, 0, MISSING]]
    )
    assert_array_equal(dense_binary_rows(X[1:], None, allow_nan=True), [[1, 0, MISSING]])
    with pytest.raises(ValueError, match=r"\(row 0, column 0\) with value 0.2"):
        dense_binary_rows(X, None, allow_nan=True)


def test_kmeans_geometry_uses_observed_features():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 2, (50, 6)).astype(np.float64)
    X[rng.uniform(size=X.shape) < 0.3] = np.nan
    rows = dense_binary_rows(X, None, allow_nan=True)
    family = BernoulliFamily(3, 6)
    centers = rng.uniform(size=(3, 6))
    diff = np.where(np.isnan(X[:, None, :]), 0.0, X[:, None, :] - centers[None])
    assert_allclose(family.sq_distances(rows, centers), (diff**2).sum(axis=2), atol=1e-12)
    labels = (diff**2).sum(axis=2).argmin(axis=1)
    stats = family.lloyd_stats(rows, np.empty(0), centers)
    assert_allclose(stats.arrays["counts"], np.bincount(labels, minlength=3))
    offsets = np.array([diff[labels == k, k].sum(axis=0) for k in range(3)])
    assert_allclose(stats.arrays["sums"], offsets, atol=1e-12)
    observed = ~np.isnan(X)
    moments = family.column_moments(rows, np.empty(0))
    assert_array_equal(moments.weight, observed.sum(0))
    assert moments.n_missing == np.isnan(X).sum()
    assert_allclose(moments.mean, np.nanmean(X, axis=0), rtol=1e-12)
    assert_allclose(moments.m2, observed.sum(0) * np.nanvar(X, axis=0), rtol=1e-12)
    seeds = family.dense_rows(rows, [0, 1])
    assert_array_equal(seeds, np.where(np.isnan(X[:2]), 0.5, X[:2]))


def test_complete_chunks_keep_the_complete_data_statistics():
    X, *_ = make_binary(n_samples=100)
    rows = dense_binary_rows(X, None, allow_nan=True)
    family = BernoulliFamily(3, X.shape[1])
    params = BernoulliParams.from_means(*start(3, X.shape[1]))
    stats = family.estep_stats(rows, np.empty(0), params)
    assert stats.arrays["missing"] is NO_MISSING
    # Summed with a chunk that has missing entries, the zero broadcasts.
    both = stats + family.estep_stats(
        dense_binary_rows(with_nan(X), None, True), np.empty(0), params
    )
    assert both.arrays["missing"].shape == (X.shape[1], 3)


# -- no NaN: as before ------------------------------------------------------------------------
@pytest.mark.parametrize("init_params", INITS)
def test_no_nan_is_bit_identical(init_params):
    # bool rows are only viewed (no NaN scan); float rows pass the NaN-aware
    # validation: both must reach the same kernels with the same rows.
    X, *_ = make_binary(n_samples=200)
    a = BernoulliMixture(3, init_params=init_params, random_state=0).fit(X.astype(bool))
    b = BernoulliMixture(3, init_params=init_params, random_state=0).fit(X)
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.weights_, b.weights_)
    assert a.lower_bounds_ == b.lower_bounds_
    assert_array_equal(a.score_samples(X), b.score_samples(X.astype(bool)))


@pytest.mark.parametrize("init_params", INITS)
def test_every_init_works_with_nan(data, init_params):
    bm = BernoulliMixture(3, init_params=init_params, random_state=0).fit(data)
    assert np.all(np.isfinite(bm.means_)) and np.all(np.isfinite(bm.lower_bounds_))
    assert bm.converged_


def test_binarize_keeps_nan_missing():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 6))
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    binary = np.where(np.isnan(X), np.nan, X > 0.3)
    a = BernoulliMixture(2, binarize=0.3, random_state=0).fit(X)
    b = BernoulliMixture(2, binarize=None, random_state=0).fit(binary)
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.predict_proba(X), b.predict_proba(binary))


# -- sources ----------------------------------------------------------------------------------
def test_chunked_sources_match_in_memory(data, tmp_path):
    w0, m0 = start(3, data.shape[1])
    full = fit_from(data, w0, m0, 5, alpha=0.1)
    path = tmp_path / "rows.npy"
    np.save(path, data)
    chunks = [data[i : i + 70] for i in range(0, data.shape[0], 70)]
    sources = {
        "chunk_size": (data, {"chunk_size": 37}),
        "npy": (str(path), {"chunk_size": 64}),
        "iterable": (lambda: iter(chunks), {}),
    }
    for name, (source, options) in sources.items():
        got = fit_from(source, w0, m0, 5, alpha=0.1, **options)
        assert_allclose(got.means_, full.means_, rtol=0, atol=1e-12, err_msg=name)
        assert_allclose(got.lower_bounds_, full.lower_bounds_, rtol=1e-12, err_msg=name)


def test_dask_matches_in_memory(data):
    da = pytest.importorskip("dask.array")
    w0, m0 = start(3, data.shape[1])
    full = fit_from(data, w0, m0, 5, alpha=0.1)
    got = fit_from(da.from_array(data, chunks=(70, -1)), w0, m0, 5, alpha=0.1)
    assert_allclose(got.means_, full.means_, rtol=0, atol=1e-12)
    lazy = got.score_samples(da.from_array(data, chunks=(70, -1))).compute()
    assert_allclose(lazy, full.score_samples(data), atol=1e-10)


def test_partial_fit_with_nan(data):
    bm = BernoulliMixture(3, random_state=0)
    for start_row in range(0, data.shape[0], 100):
        bm.partial_fit(data[start_row : start_row + 100])
    assert np.all(np.isfinite(bm.means_)) and np.isfinite(bm.score(data))
    assert np.isfinite(bm.bic(data)) and np.isfinite(bm.aic(data))


# -- bad input --------------------------------------------------------------------------------
def test_sparse_nan_is_refused(data):
    X = sp.csr_matrix(np.nan_to_num(data))
    X.data[0] = np.nan
    with pytest.raises(ValueError, match="sparse input has no missing values"):
        BernoulliMixture(2).fit(X)
    fitted = BernoulliMixture(2, random_state=0).fit(np.nan_to_num(data))
    with pytest.raises(ValueError, match="sparse input has no missing values"):
        fitted.predict(X)


def test_unobserved_columns_and_infinity_are_refused(data):
    X = data.copy()
    X[:, [2, 4]] = np.nan
    with pytest.raises(ValueError, match=r"2 columns with no observed value.*columns 2, 4"):
        BernoulliMixture(2).fit(X)
    with pytest.raises(ValueError, match="no observed value: every entry is NaN"):
        BernoulliMixture(2).fit(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="no observed value"):
        BernoulliMixture(2, chunk_size=50).fit(lambda: iter([X[:150], X[150:]]))
    X = data.copy()
    X[3, 3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        BernoulliMixture(2).fit(X)
    with pytest.raises(ValueError, match="infinity"):
        BernoulliMixture(2).fit(lambda: iter([X[:150], X[150:]]))
