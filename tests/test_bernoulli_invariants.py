"""BernoulliMixture: properties every fit must have, whatever the threads, blocks,
product path or weights."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

import bernoulli_reference as ref
from bernoulli_common import CONTAINERS, INITS, fit_from, start
from fastem import BernoulliMixture
from fastem._threads import kernel_threads
from fastem.families.bernoulli import BernoulliFamily, BernoulliParams
from fastem.families.binary import binary_csr
from fastem.kernels import bernoulli as bk
from fastem.kernels import bernoulli_csr as bk_csr
from matmul_paths import BERNOULLI_PATHS, pinned_matmul_path
from synthetic import make_binary


# -- threads, blocks and product paths change the summation order only ----------------------
@BERNOULLI_PATHS
def test_kernels_are_independent_of_groups_and_blocks(path, pinned_path):
    X, *_ = make_binary(n_samples=1001, n_features=9)
    X[::17] = 0.0  # rows without any one (empty CSR rows)
    w0, m0 = start(3, 9)
    family = BernoulliFamily(3, 9)  # log_prob of dense rows below, on the pinned path
    assert family.matmul_path == pinned_path
    params = BernoulliParams.from_means(w0, m0)
    csr = binary_csr(sp.csr_matrix(X))
    sw = np.random.default_rng(0).uniform(size=X.shape[0])
    c = params.log_complement + np.log(w0)
    expected = None
    with kernel_threads(None):
        for n_groups in (1, 2, 3, 7, 5000):
            for block in (1, 64, 4096):
                got = bk.dense_stats(
                    X.astype(np.uint8),
                    sw,
                    params.log_odds,
                    c,
                    np.zeros((0, 3)),
                    bk.SOFT,
                    block,
                    n_groups,
                    pinned_path,
                )
                got_csr = bk_csr.csr_stats(
                    csr.indptr,
                    csr.indices,
                    sw,
                    params.log_odds,
                    c,
                    np.zeros((0, 3)),
                    bk.SOFT,
                    n_groups,
                )
                if expected is None:
                    r = ref.responsibilities(X, w0, m0) * sw[:, None]
                    expected = (r.sum(0), X.T @ r, sw @ ref.score_samples(X, w0, m0))
                for out in (got, got_csr):
                    for a, b in zip(out, expected, strict=True):
                        assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        scores = family.log_prob(csr.rows(10, 20), params)
        assert_allclose(scores, family.log_prob(X[10:20], params), atol=1e-12)
        assert_allclose(scores + np.log(w0), ref.log_joint(X[10:20], w0, m0), rtol=1e-12)


def test_dense_fit_is_the_same_on_every_path():
    # The paths differ only in the order of their float64 sums: a whole fit from the
    # same start, and what it predicts, must agree to round-off. K = 5 runs on 8
    # padded components on the tiled path; blocks of 264 rows leave a partial one.
    X, *_ = make_binary(n_samples=700, n_features=23, n_components=5, seed=3)
    sw = np.random.default_rng(4).uniform(0.2, 2.0, X.shape[0])
    w0, m0 = start(5, 23, seed=5)
    fits = []
    for path in ("blas", "tiled"):
        # The fit and the predictions run on the pinned path (checked on the
        # estimator's own family factory inside the pin).
        factory = BernoulliMixture(5)
        with pinned_matmul_path(path, lambda f=factory: f._make_family(23), has_loops=False):
            bm = fit_from(X, w0, m0, 15, sample_weight=sw)
            fits.append((bm, bm.predict_proba(X), bm.score_samples(X)))
    (a, proba_a, score_a), (b, proba_b, score_b) = fits
    assert_allclose(a.means_, b.means_, rtol=1e-10)
    assert_allclose(a.weights_, b.weights_, rtol=1e-10)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    assert a.n_iter_ == b.n_iter_ == 15
    assert_allclose(proba_a, proba_b, rtol=1e-10, atol=1e-12)
    assert_allclose(score_a, score_b, rtol=1e-10)


def test_loops_path_runs_blas_for_bernoulli():
    # Bernoulli has no loop form: pinning "loops" gives BLAS, not an unknown path.
    with pinned_matmul_path("loops", lambda: BernoulliFamily(3, 9), has_loops=False) as path:
        assert path == BernoulliFamily(4, 30).matmul_path


def test_threads_only_change_round_off():
    X, *_ = make_binary(n_samples=3000, n_features=40, n_components=4)
    one = BernoulliMixture(4, random_state=0, n_jobs=1).fit(X)
    two = BernoulliMixture(4, random_state=0, n_jobs=2).fit(sp.csr_matrix(X))
    assert_allclose(one.means_, two.means_, atol=1e-10)


# -- weights mean what they say ---------------------------------------------------------------
@pytest.mark.parametrize("container", ["dense", "csr"])
def test_zero_weight_rows_are_inert(container):
    X, *_ = make_binary(n_samples=300)
    rng = np.random.default_rng(5)
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    sw[rng.random(X.shape[0]) < 0.3] = 0.0
    keep = sw > 0
    to = CONTAINERS[container]
    # Noise rows that would pull the model if they counted.
    X_noisy = X.copy()
    X_noisy[~keep] = 1.0
    for kwargs in ({"init_params": "kmeans"}, {"init_params": "random_from_data"}):
        full = BernoulliMixture(3, random_state=0, **kwargs).fit(to(X_noisy), sample_weight=sw)
        sub = BernoulliMixture(3, random_state=0, **kwargs).fit(
            to(X_noisy[keep]), sample_weight=sw[keep]
        )
        assert_allclose(full.means_, sub.means_, atol=1e-10)
        assert_allclose(full.weights_, sub.weights_, atol=1e-10)
        assert_allclose(full.lower_bounds_, sub.lower_bounds_, rtol=1e-12)


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_integer_weights_equal_duplicated_rows(container):
    X, *_ = make_binary(n_samples=200)
    sw = np.random.default_rng(6).integers(1, 4, X.shape[0])
    to = CONTAINERS[container]
    w0, m0 = start(3, X.shape[1])
    weighted = fit_from(to(X), w0, m0, 10, sample_weight=sw)
    repeated = fit_from(to(np.repeat(X, sw, axis=0)), w0, m0, 10)
    assert_allclose(weighted.means_, repeated.means_, atol=1e-10)
    assert_allclose(weighted.weights_, repeated.weights_, atol=1e-10)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-12)
    # The weighted initialisation draws the same seeds as the duplicated rows.
    weighted = BernoulliMixture(3, random_state=0, init_params="k-means++").fit(
        to(X), sample_weight=sw
    )
    repeated = BernoulliMixture(3, random_state=0, init_params="k-means++").fit(
        to(np.repeat(X, sw, axis=0))
    )
    assert_allclose(weighted.means_, repeated.means_, atol=1e-10)


# -- EM never lowers the likelihood -------------------------------------------------------------
@pytest.mark.parametrize("init_params", INITS)
def test_log_likelihood_never_decreases(init_params):
    X, *_ = make_binary(n_samples=600, n_features=30, n_components=5, seed=7)
    bm = BernoulliMixture(5, init_params=init_params, random_state=0, tol=1e-10, max_iter=500)
    bm.fit(sp.csr_matrix(X) if init_params == "random" else X)
    bounds = np.asarray(bm.lower_bounds_)
    assert bm.converged_
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


# -- dtypes -------------------------------------------------------------------------------------
def test_float32_and_float64_inputs_give_the_same_fit():
    X, *_ = make_binary()
    f64 = BernoulliMixture(3, random_state=0).fit(X)
    f32 = BernoulliMixture(3, random_state=0).fit(X.astype(np.float32))
    # 0/1 are exact in both and the kernels widen every block to float64.
    assert_array_equal(f32.means_, f64.means_)
    assert_array_equal(f32.weights_, f64.weights_)
    assert f32.lower_bound_ == f64.lower_bound_
    for method in ("predict_proba", "score_samples"):
        out = getattr(f32, method)(X.astype(np.float32))
        assert out.dtype == np.float64
        assert_array_equal(out, getattr(f64, method)(X))
