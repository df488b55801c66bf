"""BernoulliMixture: agreement with the NumPy reference, inputs, weights, sklearn protocol."""

import re
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import check_estimator

import bernoulli_reference as ref
from fastem import BernoulliMixture
from fastem._threads import kernel_threads
from fastem.bernoulli import BernoulliFamily, BernoulliParams, binary_csr
from fastem.kernels import bernoulli as bk
from fastem.kernels._gemm import MATMUL_BLAS, MATMUL_TILED
from matmul_paths import BERNOULLI_PATHS, pin_matmul_path

INITS = ["kmeans", "k-means++", "random", "random_from_data"]


def make_binary(n_samples=400, n_features=12, n_components=3, seed=0):
    """Rows from a well-separated Bernoulli mixture: each component owns a block of features."""
    rng = np.random.default_rng(seed)
    means = np.full((n_components, n_features), 0.15)
    for k, block in enumerate(np.array_split(np.arange(n_features), n_components)):
        means[k, block] = 0.85
    means = np.clip(means + rng.uniform(-0.1, 0.1, means.shape), 0.02, 0.98)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = (rng.random((n_samples, n_features)) < means[labels]).astype(np.float64)
    return X, labels, weights, means


def start(n_components, n_features, seed=1):
    """Initial parameters in the interior, shared by fastem and the reference."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(n_components)), rng.uniform(0.2, 0.8, (n_components, n_features))


def fit_from(X, weights, means, n_iter, sample_weight=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BernoulliMixture(
            len(weights), weights_init=weights, means_init=means, max_iter=n_iter, tol=0, **kwargs
        ).fit(X, sample_weight=sample_weight)


CONTAINERS = {
    "dense": lambda X: X,
    "csr": sp.csr_matrix,
    "csc": sp.csc_matrix,
    "csr_array": sp.csr_array,
}


# -- agreement with the reference -------------------------------------------------------
@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("weighted", [False, True])
def test_em_matches_reference(container, weighted):
    X, *_ = make_binary()
    w0, m0 = start(3, X.shape[1])
    sw = np.random.default_rng(2).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    for n_iter in (1, 5):
        bm = fit_from(CONTAINERS[container](X), w0, m0, n_iter, sample_weight=sw, alpha=0.3)
        weights, means, bounds = ref.em(X, w0, m0, 0.3, n_iter, sample_weight=sw)
        assert bm.n_iter_ == n_iter
        assert_allclose(bm.weights_, weights, rtol=0, atol=1e-10)
        assert_allclose(bm.means_, means, rtol=0, atol=1e-10)
        assert_allclose(bm.lower_bounds_, bounds, rtol=1e-12, atol=1e-10)
    assert_allclose(bm.score_samples(X), ref.score_samples(X, bm.weights_, bm.means_), atol=1e-10)
    assert_allclose(
        bm.predict_proba(X), ref.responsibilities(X, bm.weights_, bm.means_), atol=1e-10
    )


def test_tiny_alpha_matches_reference():
    # The default alpha leaves probabilities within 1e-10 of 0 and 1 after a
    # hard-ish first step; logs must stay finite and agree with the formulas.
    X, *_ = make_binary(n_samples=200)
    w0, m0 = start(3, X.shape[1])
    bm = fit_from(X, w0, m0, 3)
    weights, means, bounds = ref.em(X, w0, m0, 1e-10, 3)
    assert_allclose(bm.means_, means, atol=1e-10)
    assert_allclose(bm.weights_, weights, atol=1e-10)
    assert_allclose(bm.lower_bounds_, bounds, rtol=1e-10)
    assert np.all(np.isfinite(bm.score_samples(X)))


@pytest.mark.parametrize("init_params", INITS)
def test_dense_and_sparse_give_the_same_model(init_params):
    X, *_ = make_binary(n_samples=500, n_features=20, n_components=4, seed=3)
    sw = np.random.default_rng(4).integers(0, 4, X.shape[0]).astype(float)
    dense = BernoulliMixture(4, init_params=init_params, random_state=0, tol=1e-8)
    csr = BernoulliMixture(4, init_params=init_params, random_state=0, tol=1e-8)
    dense.fit(X, sample_weight=sw)
    csr.fit(sp.csr_matrix(X), sample_weight=sw)
    assert dense.n_iter_ == csr.n_iter_
    assert_allclose(csr.weights_, dense.weights_, rtol=0, atol=1e-10)
    assert_allclose(csr.means_, dense.means_, rtol=0, atol=1e-10)
    assert_allclose(csr.lower_bounds_, dense.lower_bounds_, rtol=1e-12)
    assert_array_equal(csr.predict(X), dense.predict(sp.csc_matrix(X)))


def test_every_input_kind_gives_the_same_fit():
    X, *_ = make_binary(n_samples=300)
    coo = sp.coo_matrix(X)
    # Ten ones split into duplicated halves (0.5 + 0.5) and an explicit zero:
    # summed and dropped before the 0/1 check.
    half = np.arange(10)
    data = coo.data.copy()
    data[half] = 0.5
    zero_row, zero_col = np.argwhere(X == 0)[0]
    dup = sp.coo_matrix(
        (
            np.r_[data, np.full(10, 0.5), 0.0],
            (np.r_[coo.row, coo.row[half], zero_row], np.r_[coo.col, coo.col[half], zero_col]),
        ),
        shape=X.shape,
    )
    csr64 = sp.csr_matrix(X)
    csr64.indices = csr64.indices.astype(np.int64)
    csr64.indptr = csr64.indptr.astype(np.int64)
    explicit_zeros = sp.csr_matrix(X)
    explicit_zeros.data[::7] = 0.0
    X_explicit = explicit_zeros.toarray()
    inputs = {
        "bool": X.astype(bool),
        "uint8": X.astype(np.uint8),
        "int64": X.astype(np.int64),
        "float32": X.astype(np.float32),
        "fortran": np.asfortranarray(X),
        "list": X.astype(int).tolist(),
        "csr": sp.csr_matrix(X.astype(bool)),
        "csr int64 indices": csr64,
        "csc": sp.csc_matrix(X.astype(np.float32)),
        "coo": coo,
        "lil": sp.lil_matrix(X),
        "coo duplicates": dup,
    }
    expected = BernoulliMixture(3, random_state=0).fit(X)
    for name, data in inputs.items():
        bm = BernoulliMixture(3, random_state=0).fit(data)
        assert_allclose(bm.means_, expected.means_, atol=1e-10, err_msg=name)
        assert_allclose(bm.weights_, expected.weights_, atol=1e-10, err_msg=name)
        assert bm.means_.dtype == np.float64
    bm = BernoulliMixture(3, random_state=0).fit(explicit_zeros)
    ref_model = BernoulliMixture(3, random_state=0).fit(X_explicit)
    assert_allclose(bm.means_, ref_model.means_, atol=1e-10)


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


# -- sample weights --------------------------------------------------------------------
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


# -- EM behaviour -----------------------------------------------------------------------
@pytest.mark.parametrize("init_params", INITS)
def test_log_likelihood_never_decreases(init_params):
    X, *_ = make_binary(n_samples=600, n_features=30, n_components=5, seed=7)
    bm = BernoulliMixture(5, init_params=init_params, random_state=0, tol=1e-10, max_iter=500)
    bm.fit(sp.csr_matrix(X) if init_params == "random" else X)
    bounds = np.asarray(bm.lower_bounds_)
    assert bm.converged_
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def test_sample_and_refit_recover_the_parameters():
    X, *_ = make_binary(n_samples=2000, n_features=15, n_components=3, seed=8)
    truth = BernoulliMixture(3, random_state=0).fit(X)
    n = 30_000
    truth.random_state = 1
    sample, labels = truth.sample(n)
    assert sample.dtype == X.dtype and set(np.unique(sample)) <= {0.0, 1.0}
    assert_array_equal(np.bincount(labels, minlength=3) > 0, True)
    refit = BernoulliMixture(3, random_state=2).fit(sample)
    # Match components by the closest probability vectors.
    cost = ((truth.means_[:, None, :] - refit.means_[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    mu, mu_hat = truth.means_[rows], refit.means_[cols]
    n_k = truth.weights_[rows] * n
    # The components barely overlap, so their responsibilities are almost 0/1
    # and each estimate is a sample proportion over ~N_k rows: standard error
    # sqrt(mu (1 - mu) / N_k), and sqrt(w (1 - w) / N) for the weights. Five
    # standard errors (normal tail 6e-7, for 48 estimates < 3e-5 in total),
    # plus 1e-3 for the slight overlap, make the test fail only on a real bias.
    se_mu = np.sqrt(mu * (1 - mu) / n_k[:, None])
    assert np.all(np.abs(mu_hat - mu) <= 5 * se_mu + 1e-3)
    w, w_hat = truth.weights_[rows], refit.weights_[cols]
    assert np.all(np.abs(w_hat - w) <= 5 * np.sqrt(w * (1 - w) / n) + 1e-3)


def test_sample_returns_the_training_dtype():
    X, *_ = make_binary(n_samples=100)
    for data, dtype in [
        (X.astype(bool), np.bool_),
        (X.astype(np.uint8), np.uint8),
        (X.astype(np.float32), np.float32),
        (sp.csr_matrix(X.astype(np.int32)), np.int32),
    ]:
        bm = BernoulliMixture(2, random_state=0).fit(data)
        sample, labels = bm.sample(50)
        assert sample.dtype == dtype and sample.shape == (50, X.shape[1])
        assert labels.shape == (50,)
    with pytest.raises(ValueError, match="n_samples"):
        bm.sample(0)


def test_digits_clusters_far_better_than_chance():
    digits = load_digits()
    X = digits.data > 7
    bm = BernoulliMixture(10, random_state=0).fit(X)
    ari = adjusted_rand_score(digits.target, bm.predict(X))
    # Seeds 0-9 give ARI 0.50-0.62 (0.57 with seed 0); chance is 0, and a kernel
    # that gets the scores or the statistics wrong does not reach 0.45 nor the
    # likelihood below (seeds reach -19.26 to -19.33 nats per image).
    assert ari > 0.45
    assert bm.lower_bound_ > -19.6
    assert_allclose(bm.score(X), np.mean(ref.score_samples(X, bm.weights_, bm.means_)))
    assert_array_equal(bm.fit_predict(X), bm.predict(X))


def test_predict_api_and_criteria():
    X, labels, *_ = make_binary()
    bm = BernoulliMixture(3, random_state=0).fit(X)
    proba = bm.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(proba.argmax(axis=1), bm.predict(X))
    assert adjusted_rand_score(labels, bm.predict(X)) > 0.9
    log_l = ref.score_samples(X, bm.weights_, bm.means_).sum()
    n_params = 3 * X.shape[1] + 2
    assert_allclose(bm.bic(X), -2 * log_l + n_params * np.log(X.shape[0]))
    assert_allclose(bm.aic(sp.csr_matrix(X)), -2 * log_l + 2 * n_params)
    assert_allclose(
        bm.score(X, sample_weight=np.arange(X.shape[0])),
        np.average(ref.score_samples(X, bm.weights_, bm.means_), weights=np.arange(X.shape[0])),
    )


def test_warm_start_n_init_and_verbose(capsys):
    X, *_ = make_binary()
    w0, m0 = start(3, X.shape[1])
    bm = fit_from(X, w0, m0, 2, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bm.fit(X)  # continues for two more iterations from the fitted parameters
    weights, means, _ = ref.em(X, w0, m0, 1e-10, 4)
    assert_allclose(bm.means_, means, atol=1e-10)
    # The first of n_init initialisations draws what a single one draws.
    first = BernoulliMixture(3, random_state=0, init_params="random").fit(X)
    best = BernoulliMixture(3, random_state=0, init_params="random", n_init=3, verbose=2).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 2" in out
    bounds = [float(b) for b in re.findall(r"lower bound (-?[0-9.]+)\.", out)]
    assert len(bounds) == 3 and abs(bounds[0] - first.lower_bound_) < 1e-5
    assert best.lower_bound_ >= max(bounds) - 1e-5


def test_callback_stops_early_and_chunk_size_keeps_the_fit():
    X, *_ = make_binary()
    seen = []
    bm = BernoulliMixture(3, random_state=0, callback=lambda i, lb: seen.append(lb) or i == 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bm.fit(X)
    assert bm.n_iter_ == 2 and seen == bm.lower_bounds_
    w0, m0 = start(3, X.shape[1])
    chunked = fit_from(sp.csr_matrix(X), w0, m0, 5, chunk_size=64)
    assert_allclose(chunked.means_, fit_from(X, w0, m0, 5).means_, atol=1e-10)


def test_threads_only_change_round_off():
    X, *_ = make_binary(n_samples=3000, n_features=40, n_components=4)
    one = BernoulliMixture(4, random_state=0, n_jobs=1).fit(X)
    two = BernoulliMixture(4, random_state=0, n_jobs=2).fit(sp.csr_matrix(X))
    assert_allclose(one.means_, two.means_, atol=1e-10)


# -- sources beyond in-memory arrays ------------------------------------------------------
@pytest.mark.parametrize("init_params", INITS)
def test_out_of_core_sources_match_in_memory(tmp_path, init_params):
    X, *_ = make_binary(n_samples=600)
    expected = BernoulliMixture(3, random_state=0, init_params=init_params).fit(X)
    path = tmp_path / "rows.npy"
    np.save(path, X.astype(bool))
    chunks = [X[i : i + 150].astype(np.uint8) for i in range(0, 600, 150)]
    for source in (str(path), lambda: iter(chunks)):
        bm = BernoulliMixture(3, random_state=0, init_params=init_params).fit(source)
        assert_allclose(bm.means_, expected.means_, atol=1e-8)
        assert bm.n_features_in_ == X.shape[1]
    assert bm.sample(2)[0].dtype == np.uint8
    bad = [c.astype(float) for c in chunks]
    bad[2][5, 3] = 0.5
    with pytest.raises(ValueError, match="neither 0 nor 1"):
        BernoulliMixture(3).fit(lambda: iter(bad))


def test_online_em_on_dense_and_sparse_batches():
    X, labels, *_ = make_binary(n_samples=4000)
    bm = BernoulliMixture(3, random_state=0)
    for _ in range(2):
        for start in range(0, 4000, 500):
            bm.partial_fit(sp.csr_matrix(X[start : start + 500]))
    online = BernoulliMixture(3, random_state=0).fit(
        X.astype(bool), mode="online", batch_size=500, n_epochs=3
    )
    exact = BernoulliMixture(3, random_state=0).fit(X)
    # Stepwise EM ends within its step noise of the batch optimum (-6.0233 here).
    for model in (bm, online):
        assert adjusted_rand_score(labels, model.predict(X)) > 0.9
        assert model.score(X) > exact.score(X) - 0.02


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_seeding_on_a_sample_of_rows(monkeypatch, init_params):
    # Above SEEDING_SAMPLE_ROWS rows, seeds are drawn from a uniform sample;
    # dense rows and CSR rows (gathered by BinaryCSR.take_rows) draw alike.
    import fastem.bernoulli as fb

    monkeypatch.setattr(fb, "SEEDING_SAMPLE_ROWS", 50)
    X, *_ = make_binary(n_samples=400)
    dense = BernoulliMixture(3, random_state=0, init_params=init_params).fit(X)
    csr = BernoulliMixture(3, random_state=0, init_params=init_params).fit(sp.csr_matrix(X))
    assert_allclose(csr.means_, dense.means_, atol=1e-10)
    rows = binary_csr(sp.csr_matrix(X)).take_rows([5, 0, 399, 5])
    assert_array_equal(BernoulliFamily.dense_rows(rows, np.arange(4)), X[[5, 0, 399, 5]])


def test_dask_arrays_fit_like_in_memory():
    import dask.array as da  # the test extra installs Dask

    X, *_ = make_binary(n_samples=600)
    w0, m0 = start(3, X.shape[1])
    expected = fit_from(X, w0, m0, 5)
    got = fit_from(da.from_array(X.astype(np.uint8), chunks=(150, -1)), w0, m0, 5)
    assert_allclose(got.means_, expected.means_, atol=1e-10)
    assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=1e-12)
    kmeans = BernoulliMixture(3, random_state=0).fit(da.from_array(X, chunks=(200, -1)))
    assert kmeans.converged_ and kmeans.lower_bound_ > expected.lower_bound_ - 0.1


# -- kernels ---------------------------------------------------------------------------
@BERNOULLI_PATHS
def test_kernels_are_independent_of_groups_and_blocks(path):
    X, *_ = make_binary(n_samples=1001, n_features=9)
    X[::17] = 0.0  # rows without any one (empty CSR rows)
    w0, m0 = start(3, 9)
    family = BernoulliFamily(3, 9)
    family.matmul_path = path  # log_prob of dense rows below
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
                    path,
                )
                got_csr = bk.csr_stats(
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


# uint8 is what the estimator passes (widened per block for BLAS); float64 rows are
# multiplied in place. float32 would take uint8's branch, at one more compilation.
@BERNOULLI_PATHS
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_dense_kernel_modes_match_numpy(path, dtype):
    # K = 9 pads to 16 components on the tiled path (a full 8-wide tile and a padded
    # one); blocks of 50 rows over 2 groups leave a partial last block in each.
    rng = np.random.default_rng(7)
    n, D, K = 301, 13, 9
    X = (rng.random((n, D)) < 0.4).astype(dtype)
    X64 = X.astype(np.float64)
    W = rng.normal(size=(D, K))
    c = rng.normal(size=K)
    sw = rng.uniform(0.5, 2.0, n)
    resp = rng.dirichlet(np.ones(K), size=n)
    S = X64 @ W + c
    lse = logsumexp(S, axis=1)
    hard = np.eye(K)[S.argmax(axis=1)]
    cases = {
        bk.SOFT: (np.exp(S - lse[:, None]), sw @ lse),
        bk.HARD: (hard, sw @ S.max(axis=1)),
        bk.GIVEN: (resp, 0.0),
    }
    with kernel_threads(None):
        for mode, (r, expected_total) in cases.items():
            given = resp if mode == bk.GIVEN else np.zeros((0, K))
            counts, sums, total = bk.dense_stats(X, sw, W, c, given, mode, 50, 2, path)
            r = r * sw[:, None]
            assert_allclose(counts, r.sum(0), rtol=1e-12, err_msg=str(mode))
            assert_allclose(sums, X64.T @ r, rtol=1e-12, atol=1e-12, err_msg=str(mode))
            assert total == pytest.approx(expected_total, rel=1e-12)
        scores = bk.dense_scores(X, W, c, 50, 2, path)
    assert scores.shape == (n, K)
    assert_allclose(scores, S, rtol=1e-13, atol=1e-13)


def test_dense_fit_is_the_same_on_every_path(monkeypatch):
    # The paths differ only in the order of their float64 sums: a whole fit from the
    # same start, and what it predicts, must agree to round-off. K = 5 runs on 8
    # padded components on the tiled path; blocks of 264 rows leave a partial one.
    X, *_ = make_binary(n_samples=700, n_features=23, n_components=5, seed=3)
    sw = np.random.default_rng(4).uniform(0.2, 2.0, X.shape[0])
    w0, m0 = start(5, 23, seed=5)
    fits = []
    for path in (MATMUL_BLAS, MATMUL_TILED):
        with monkeypatch.context() as patch:
            families = pin_matmul_path(patch, BernoulliMixture, path)
            bm = fit_from(X, w0, m0, 15, sample_weight=sw)
            fits.append((bm, bm.predict_proba(X), bm.score_samples(X)))
        # The fit and the predictions ran on the pinned path.
        assert len(families) >= 3 and all(f.matmul_path == path for f in families)
    (a, proba_a, score_a), (b, proba_b, score_b) = fits
    assert_allclose(a.means_, b.means_, rtol=1e-10)
    assert_allclose(a.weights_, b.weights_, rtol=1e-10)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-10)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    assert a.n_iter_ == b.n_iter_ == 15
    assert_allclose(proba_a, proba_b, rtol=1e-10, atol=1e-12)
    assert_allclose(score_a, score_b, rtol=1e-10)


def test_csr_kernel_blocks_of_rows():
    # With K=520 a CSR group handles 1,024 rows at a time (CSR_BLOCK_BYTES):
    # 2,500 rows in one group take three blocks, which must add up exactly.
    rng = np.random.default_rng(1)
    X = (rng.random((2500, 5)) < 0.4).astype(np.float64)
    K = 520
    weights = rng.dirichlet(np.ones(K))
    means = rng.uniform(0.1, 0.9, (K, 5))
    params = BernoulliParams.from_means(weights, means)
    c = params.log_complement + np.log(weights)
    csr = binary_csr(sp.csr_matrix(X))
    sw = rng.uniform(size=2500)
    with kernel_threads(1):
        got = bk.csr_stats(
            csr.indptr, csr.indices, sw, params.log_odds, c, np.zeros((0, K)), bk.SOFT, 1
        )
    r = ref.responsibilities(X, weights, means) * sw[:, None]
    expected = (r.sum(0), X.T @ r, sw @ ref.score_samples(X, weights, means))
    for a, b in zip(got, expected, strict=True):
        assert_allclose(a, b, rtol=1e-11, atol=1e-13)


# -- memory --------------------------------------------------------------------------------
def test_sparse_fit_never_densifies():
    # 200,000 x 100,000 with 2e6 ones: dense it would be 160 GB in float64
    # (20 GB even in uint8); the CSR is 24 MB.
    rng = np.random.default_rng(0)
    n, d, nnz = 200_000, 100_000, 2_000_000
    flat = np.unique(rng.integers(0, n * d, size=nnz))
    X = sp.csr_matrix((np.ones(flat.size), (flat // d, flat % d)), shape=(n, d))
    csr_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    bm = BernoulliMixture(4, random_state=0, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        BernoulliMixture(4, max_iter=1).fit(X[:1000])  # load the kernels first
        tracemalloc.start()
        try:
            bm.fit(X)
            bm.predict(X[:1000])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # A fit keeps the user's CSR as it is (an int64 copy of the row offsets
    # only) and otherwise holds O(N) vectors and a few (K, D) parameter arrays
    # (3.2 MB each here): measured 1.1x the CSR. tracemalloc sees NumPy's
    # allocations; the kernels' own are (D, K) per thread and (rows, K).
    assert peak < 1.5 * csr_bytes, (peak, csr_bytes)
    assert peak < n * d * 8 / 1000
    assert bm.means_.shape == (4, d)


# -- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda X: X + 0.5 * (X == 0), r"\(row 0, column 0\)"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, 2, X), "value 2"),
        (lambda X: sp.csr_matrix(np.where(X == 1, 3.0, 0.0)), "entries are neither 0 nor 1"),
        (lambda X: sp.csc_matrix(-X), "Negative values in data"),
    ],
)
def test_non_binary_input_is_rejected(make, message):
    X = np.zeros((6, 4))
    X[1:, 2] = 1.0
    X[0, 1] = 1.0
    with pytest.raises(ValueError, match=message):
        BernoulliMixture(2).fit(make(X))


def test_non_binary_error_names_count_and_first_position():
    X = np.zeros((50, 6), dtype=np.int64)
    X[30, 4] = 5
    X[40, 1] = -1
    X[41, 0] = 2
    msg = re.escape("3 entries are neither 0 nor 1, the first at (row 30, column 4) with value 5")
    with pytest.raises(ValueError, match=msg):
        BernoulliMixture(2).fit(X)
    with pytest.raises(ValueError, match=msg):
        BernoulliMixture(2).fit(sp.csc_matrix(X))
    # Duplicated COO entries are summed before the check: 1 + 1 = 2 is not binary.
    dup = sp.coo_matrix((np.ones(3), ([0, 0, 1], [1, 1, 2])), shape=(4, 3))
    with pytest.raises(
        ValueError, match=re.escape("1 entry is neither 0 nor 1, the first at (row 0, column 1)")
    ):
        BernoulliMixture(2).fit(dup)
    fitted = BernoulliMixture(2, random_state=0).fit(np.eye(6)[:, :6])
    with pytest.raises(ValueError, match="neither 0 nor 1"):
        fitted.predict(np.full((2, 6), 0.25))


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_inf_are_rejected(container, value):
    X = np.eye(5)
    X[2, 3] = value
    with pytest.raises(ValueError, match="NaN|infinity"):
        BernoulliMixture(2).fit(container(X))


def test_shape_and_parameter_errors():
    X = np.eye(6)
    with pytest.raises(ValueError, match="2D array"):
        BernoulliMixture(2).fit(np.ones(6))
    with pytest.raises(ValueError, match="dim 3"):
        BernoulliMixture(2).fit(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        BernoulliMixture(7).fit(X)
    for alpha in (0, -1.0, np.nan, np.inf, "small"):
        with pytest.raises(ValueError, match="alpha"):
            BernoulliMixture(2, alpha=alpha).fit(X)
    with pytest.raises(ValueError, match="Negative values"):
        BernoulliMixture(2).fit(X, sample_weight=-np.ones(6))
    with pytest.raises(ValueError, match="at least one (positive|non-zero)"):
        BernoulliMixture(2).fit(X, sample_weight=np.zeros(6))
    with pytest.raises(ValueError, match="positive weight"):
        BernoulliMixture(3).fit(X, sample_weight=np.r_[1.0, 1.0, np.zeros(4)])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        BernoulliMixture(2, means_init=np.vstack([np.full(6, 0.5), np.eye(6)[0]])).fit(X)
    with pytest.raises(ValueError, match="shape"):
        BernoulliMixture(2, means_init=np.full((2, 5), 0.5)).fit(X)
    with pytest.raises(ValueError, match="normalized"):
        BernoulliMixture(2, weights_init=[0.5, 0.6]).fit(X)


def test_not_fitted_and_wrong_features():
    X = np.eye(6)
    bm = BernoulliMixture(2)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(NotFittedError):
            getattr(bm, method)(X)
    with pytest.raises(NotFittedError):
        bm.sample(3)
    bm.fit(X)
    assert bm.n_features_in_ == 6
    for bad in (np.eye(5), sp.csr_matrix(np.eye(7))):
        with pytest.raises(ValueError, match="features"):
            bm.predict(bad)


# -- scikit-learn's estimator checks ------------------------------------------------------
# scikit-learn 1.9 has no "binary input only" tag (InputTags offers positive_only,
# categorical, ...; none makes the checks generate 0/1 data), so most checks feed
# continuous data, which BernoulliMixture rejects by design. They are expected to
# fail here, for that reason only (asserted below), and are run again, all of them,
# on BinarisingBernoulliMixture, which maps the checks' data to 0/1 first.
_CONTINUOUS = (
    "feeds continuous data; BernoulliMixture accepts only 0/1 (no scikit-learn tag "
    "makes the checks generate binary data). Run on binarised data instead."
)
_CONTINUOUS_CHECKS = [
    "check_fit_score_takes_y",
    "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self",
    "check_readonly_memmap_input",
    "check_n_features_in_after_fitting",
    "check_estimators_dtypes",
    "check_sample_weights_not_an_array",
    "check_sample_weights_list",
    "check_all_zero_sample_weights_error",
    "check_sample_weights_shape",
    "check_sample_weights_not_overwritten",
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
    "check_dtype_object",
    "check_pipeline_consistency",
    "check_estimators_nan_inf",
    "check_estimator_sparse_tag",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_fit2d_1feature",
    "check_dict_unchanged",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_n_features_in",
    "check_fit2d_predict1d",
]
# A bug of the check itself: after fitting and predicting on every sparse format
# (which passes), it reads tags.classifier_tags.multi_class, assuming that an
# estimator with predict_proba is a classifier; a density estimator has None there.
_SPARSE_CONTAINER = (
    "scikit-learn 1.9's check reads classifier_tags.multi_class of any estimator with "
    "predict_proba; None for a density estimator (AttributeError after the sparse "
    "fit/predict passed)."
)
_SPARSE_CONTAINER_CHECKS = ["check_estimator_sparse_array", "check_estimator_sparse_matrix"]


def _bits(a):
    """0/1 from continuous values, elementwise; negatives, NaN and inf are kept to be rejected."""
    if a.dtype == np.bool_:
        return a
    if a.dtype.kind in "iu":
        return np.where(a < 0, a, a % 2).astype(a.dtype)
    with np.errstate(invalid="ignore"):
        keep = ~(np.isfinite(a) & (a >= 0))
        bits = np.floor(4 * np.where(keep, 0, a)) % 2
    return np.where(keep, a, bits).astype(a.dtype)


def _binarise(X):
    if sp.issparse(X):
        X = X.copy()
        X.data = _bits(X.data)
        return X
    try:
        a = np.asarray(X)
        if a.dtype.kind == "O":
            a = a.astype(np.float64)
    except (TypeError, ValueError):
        return X  # e.g. a dict in an object array: left for the validation to reject
    return _bits(a) if a.dtype.kind in "biuf" else X


class BinarisingBernoulliMixture(BernoulliMixture):
    """Test-only: maps the continuous data of scikit-learn's checks to 0/1 before fitting."""

    def _validate_X(self, X, reset):
        return super()._validate_X(_binarise(X), reset)

    def _check_chunk(self, rows):  # chunks of out-of-core sources (e.g. memory maps)
        return super()._check_chunk(_binarise(rows))


def _run_checks(estimator, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return check_estimator(estimator, expected_failed_checks=expected, on_fail=None)


def test_check_estimator():
    expected = dict.fromkeys(_CONTINUOUS_CHECKS, _CONTINUOUS)
    results = _run_checks(BernoulliMixture(), expected)
    assert results
    for result in results:
        name, exc = result["check_name"], result["exception"]
        assert result["status"] != "failed", (name, exc)
        if result["status"] == "xfail":
            text = f"{exc} {exc.__cause__}"
            assert "needs binary data" in text, (name, text)


def test_check_estimator_on_binary_data():
    expected = dict.fromkeys(_SPARSE_CONTAINER_CHECKS, _SPARSE_CONTAINER)
    results = _run_checks(BinarisingBernoulliMixture(), expected)
    assert len(results) > 40
    for result in results:
        name, exc = result["check_name"], result["exception"]
        assert result["status"] != "failed", (name, exc)
        if result["status"] == "xfail":
            assert isinstance(exc.__cause__, AttributeError), (name, exc)
            assert "multi_class" in str(exc.__cause__)
