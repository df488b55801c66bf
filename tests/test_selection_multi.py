"""Candidates and restarts in the same passes: the same models as fitted alone, fewer passes."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastem import BernoulliMixture, GaussianMixture, MixtureSelector
from fastem._settings import override
from synthetic import CountingChunks, make_binary, make_blobs

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


@pytest.fixture(scope="module")
def rows():
    return make_blobs(n_samples=900, n_features=3, n_components=3, separation=4.0, seed=2)[0]


@pytest.fixture(scope="module")
def weights(rows):
    return np.random.default_rng(1).integers(0, 3, len(rows)).astype(float)


def _assert_same(together, alone, exact):
    names = ["weights_", "means_"]
    if hasattr(alone, "covariances_"):
        names += ["covariances_", "precisions_cholesky_"]
    for name in names:
        a, b = getattr(together, name), getattr(alone, name)
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=name)
    assert together.n_iter_ == alone.n_iter_
    assert together.converged_ == alone.converged_
    assert together.lower_bound_ == pytest.approx(alone.lower_bound_, rel=1e-12)


def _alone(base, params, X, w):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**{**base.get_params(), **params}).fit(X, sample_weight=w)


def _assert_same_as_a_best_start(together, base, params, X, w):
    """``together`` is, up to round-off, the fit of one of the starts that tie the best.

    Other chunks than the in-memory fit's change the last bits of every bound, and
    starts that reach the same optimum (in another order of the components) tie to
    those bits: round-off alone decides which of them is kept. Each start is fitted
    alone, drawn from one shared generator as ``fit`` draws its ``n_init`` starts.
    """
    generator = np.random.RandomState(base.random_state)
    starts = [
        _alone(base, {**params, "n_init": 1, "random_state": generator}, X, w)
        for _ in range(base.n_init)
    ]
    best = max(start.lower_bound_ for start in starts)
    tied = [start for start in starts if start.lower_bound_ >= best - 1e-10 * abs(best)]
    errors = []
    for start in tied:
        try:
            _assert_same(together, start, exact=False)
            return
        except AssertionError as error:
            errors.append(str(error))
    raise AssertionError(f"the model is none of the {len(tied)} best starts: {errors}")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_together_equals_alone_in_memory(rows, weights, covariance_type, n_init):
    base = GaussianMixture(random_state=0, n_init=n_init, tol=1e-4)
    selector = MixtureSelector(
        base,
        n_components=[1, 2, 3, 5],
        covariance_type=covariance_type,
        strategy="em",
        refit_tol=None,
    ).fit(rows, sample_weight=weights)
    for params, together in zip(selector.results_["params"], selector.estimators_, strict=True):
        # In memory the chunks and their order are the same: identical to the last bit.
        _assert_same(together, _alone(base, params, rows, weights), exact=True)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
@pytest.mark.parametrize("source", ["chunks", "memmap"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_together_equals_alone_out_of_core(rows, weights, tmp_path, init_params, source):
    # A seeding sample smaller than the data: restarts draw their own samples.
    with override(seeding_sample_rows=400):
        base = GaussianMixture(random_state=3, n_init=2, init_params=init_params, chunk_size=200)
        selector = MixtureSelector(base, n_components=[2, 4], strategy="em", refit_tol=None)
        if source == "chunks":
            selector.fit(CountingChunks(rows, weights))
        else:
            path = tmp_path / "rows.npy"
            np.save(path, rows)
            selector.fit(np.load(path, mmap_mode="r"), sample_weight=weights)
        for params, together in zip(
            selector.results_["params"], selector.estimators_, strict=True
        ):
            # Other chunks than the in-memory fit's: equal up to round-off.
            _assert_same_as_a_best_start(together, base, params, rows, weights)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:Every candidate has a degenerate component")
def test_together_equals_alone_with_empty_kmeans_clusters():
    # Four distinct rows (and three others) for K up to 8: k-means++ seeds
    # repeat a row and k-means relocates the empty clusters.
    rng = np.random.default_rng(4)
    X = np.repeat(rng.normal(size=(4, 2)), [40, 30, 20, 10], axis=0)
    X = np.vstack([X, 3 * rng.normal(size=(3, 2))])
    base = GaussianMixture(random_state=0, n_init=2, reg_covar=1e-3)
    selector = MixtureSelector(
        base, n_components=[5, 6, 8], covariance_type="diag", strategy="em", refit_tol=None
    ).fit(CountingChunks(X, chunk=17))
    for params, together in zip(selector.results_["params"], selector.estimators_, strict=True):
        # Alone on the same chunks: the relocations of empty clusters meet the same
        # exactly tied distances (repeated rows) in the same order.
        _assert_same(together, _alone(base, params, CountingChunks(X, chunk=17), None), exact=True)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_bernoulli_together_equals_alone():
    X = make_binary(n_samples=500)[0]
    base = BernoulliMixture(random_state=0, n_init=2)
    selector = MixtureSelector(base, n_components=[1, 2, 3, 4], strategy="em", refit_tol=None).fit(
        X
    )
    for params, together in zip(selector.results_["params"], selector.estimators_, strict=True):
        alone = BernoulliMixture(**{**base.get_params(), **params}).fit(X)
        _assert_same(together, alone, exact=True)


def test_best_is_the_alone_fit_continued_to_refit_tol(rows):
    base = GaussianMixture(random_state=0)
    selector = MixtureSelector(
        base, n_components=[1, 2, 3, 4], covariance_type="full", strategy="em"
    ).fit(rows)
    k = selector.best_params_["n_components"]
    alone = GaussianMixture(k, random_state=0, tol=1e-6, max_iter=1100).fit(rows)
    _assert_same(selector.best_estimator_, alone, exact=True)


# -- passes over the data ------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_passes_are_the_longest_run_plus_initialisation(rows):
    source = CountingChunks(rows)
    base = GaussianMixture(random_state=0, init_params="k-means++")
    selector = MixtureSelector(base, n_components=range(1, 6), strategy="em", refit_tol=None)
    selector.fit(source)
    assert source.passes == selector.n_passes_
    longest = int(selector.results_["n_iter"].max())
    # One pass validates the rows and finds their centre, one gathers the
    # k-means++ seeding sample, then EM, then one pass evaluates every candidate.
    assert selector.n_passes_ == 1 + 1 + longest + 1
    alone = 0
    for params in selector.results_["params"]:
        counting = CountingChunks(rows)
        GaussianMixture(**{**base.get_params(), **params}).fit(counting)
        alone += counting.passes
    assert alone > 3 * selector.n_passes_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_kmeans_initialisation_shares_its_passes(rows):
    source = CountingChunks(rows)
    base = GaussianMixture(random_state=0)
    selector = MixtureSelector(base, n_components=range(1, 6), strategy="em", n_init=2)
    selector.fit(source)
    assert source.passes == selector.n_passes_
    separate = []
    for params in selector.results_["params"]:
        counting = CountingChunks(rows)
        GaussianMixture(**{**base.get_params(), **params}).fit(counting)
        separate.append(counting.passes)
    # Every separate fit repeats the validation and the k-means of its own: the
    # shared search reads the data about as often as the slowest of them.
    assert selector.n_passes_ < max(separate) + 40
    assert selector.n_passes_ < sum(separate) / 4


def test_default_strategy_passes_are_counted(rows, weights):
    source = CountingChunks(rows, weights)
    selector = MixtureSelector(GaussianMixture(random_state=0), n_components=range(1, 5))
    selector.fit(source)
    assert source.passes == selector.n_passes_
    # 30 starts per candidate cost no more passes: the short runs read the sample in memory.
    assert selector.n_passes_ < 120


def test_every_source_gives_the_same_selection(rows, tmp_path):
    kw = dict(n_components=[2, 3], covariance_type=["full", "diag"])
    reference = MixtureSelector(GaussianMixture(random_state=0), **kw).fit(rows)
    path = tmp_path / "rows.npy"
    np.save(path, rows)
    inputs = {
        "memmap": np.load(path, mmap_mode="r"),
        "path": str(path),
        "chunks": CountingChunks(rows),
        "list": [rows[:300], rows[300:]],
    }
    da = pytest.importorskip("dask.array")
    inputs["dask"] = da.from_array(rows, chunks=(300, 3))
    for name, X in inputs.items():
        selector = MixtureSelector(GaussianMixture(random_state=0), **kw).fit(X)
        assert selector.best_params_ == reference.best_params_, name
        np.testing.assert_allclose(
            selector.results_["bic"], reference.results_["bic"], rtol=1e-7, err_msg=name
        )
        assert selector.n_features_in_ == 3
        selector.predict(rows[:5])
