"""MixtureSelector: recovery of K and covariance type, criteria, degenerate and failed fits."""

import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastem import BernoulliMixture, GaussianMixture, MixtureSelector
from fastem.selection import degenerate_components
from synthetic import make_binary


def _mixture(n_samples, means, covariances, weights=None, seed=0):
    """Rows from a Gaussian mixture with the given means and (full) covariances."""
    rng = np.random.default_rng(seed)
    K = len(means)
    weights = np.full(K, 1 / K) if weights is None else np.asarray(weights)
    labels = rng.choice(K, size=n_samples, p=weights)
    X = np.empty((n_samples, len(means[0])))
    for k in range(K):
        rows = labels == k
        X[rows] = rng.multivariate_normal(means[k], covariances[k], size=rows.sum())
    return X


def _rotation(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _rotated(angle, scales):
    R = _rotation(angle)
    return R @ np.diag(np.square(scales)) @ R.T


MIXTURES = {
    # name: (rows, true K, true covariance type)
    "separated spherical": (
        _mixture(1500, [[0, 0], [8, 0], [0, 8]], [np.eye(2) * v for v in (0.5, 1.0, 2.0)]),
        3,
        "spherical",
    ),
    "axis-aligned diag": (
        _mixture(
            1500, [[0, 0], [6, 6], [-6, 6]], [np.diag(d) for d in ([4, 0.25], [0.25, 4], [1, 2])]
        ),
        3,
        "diag",
    ),
    "anisotropic tied": (
        _mixture(1500, [[0, 0], [4, 4], [8, 8], [0, 8]], [_rotated(0.6, (2.5, 0.4))] * 4),
        4,
        "tied",
    ),
    "overlapping full": (
        _mixture(2000, [[0, 0], [2.5, 0]], [_rotated(0.5, (1.5, 0.5)), _rotated(-0.7, (1, 0.4))]),
        2,
        "full",
    ),
}


@pytest.mark.parametrize("name", list(MIXTURES))
def test_recovers_true_k_and_covariance_type(name):
    X, k, covariance_type = MIXTURES[name]
    selector = MixtureSelector(GaussianMixture(random_state=0), n_components=range(1, 6))
    selector.fit(X)
    assert selector.best_params_ == {"n_components": k, "covariance_type": covariance_type}
    assert selector.results_["rank"][selector.best_index_] == 1
    assert not selector.results_["degenerate"][selector.best_index_]


def test_recovers_k_of_a_bernoulli_mixture():
    X = make_binary(n_samples=900, n_components=3)[0]
    selector = MixtureSelector(BernoulliMixture(random_state=0), n_components=range(1, 6))
    selector.fit(X)
    assert selector.best_params_ == {"n_components": 3}
    assert list(selector.results_["covariance_type"]) == [None] * 5


def test_results_are_equal_length_arrays_in_grid_order():
    X = MIXTURES["separated spherical"][0]
    selector = MixtureSelector(
        GaussianMixture(random_state=0),
        n_components=[3, 1, 2, 2],
        covariance_type=["diag", "full"],
        n_init=3,
    ).fit(X)
    results = selector.results_
    assert {len(v) for v in results.values()} == {6}
    assert list(results["n_components"]) == [1, 2, 3, 1, 2, 3]
    assert list(results["covariance_type"]) == ["diag"] * 3 + ["full"] * 3
    assert results["params"][4] == {"n_components": 2, "covariance_type": "full"}
    assert sorted(results["rank"]) == list(range(1, 7))
    assert np.all(results["error"] == "")
    assert np.all(results["fit_time"] > 0)
    assert list(results["n_init"]) == [1, 3, 3, 1, 3, 3]
    assert selector.best_score_ == results["bic"][selector.best_index_]
    assert selector.estimators_[selector.best_index_] is selector.best_estimator_


# -- criteria ----------------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_criteria_against_hand_computations(weighted):
    X = MIXTURES["overlapping full"][0][:600]
    w = np.random.default_rng(1).integers(1, 4, len(X)).astype(float) if weighted else None
    selector = MixtureSelector(
        GaussianMixture(random_state=0), n_components=[2], covariance_type="full"
    ).fit(X, sample_weight=w)
    model = selector.best_estimator_
    weights = np.ones(len(X)) if w is None else w
    n = weights.sum()
    ll = float(weights @ model.score_samples(X))
    D, K = 2, 2
    p = K * D * (D + 1) / 2 + K * D + K - 1
    resp = model.predict_proba(X)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -float(weights @ np.where(resp > 0, resp * np.log(resp), 0).sum(axis=1))
    results = selector.results_
    assert results["log_likelihood"][0] == pytest.approx(ll, rel=1e-10)
    assert results["mean_log_likelihood"][0] == pytest.approx(ll / n, rel=1e-10)
    assert results["n_parameters"][0] == p
    assert results["bic"][0] == pytest.approx(-2 * ll + p * math.log(n), rel=1e-10)
    assert results["aic"][0] == pytest.approx(-2 * ll + 2 * p, rel=1e-10)
    assert results["entropy"][0] == pytest.approx(entropy, rel=1e-8)
    assert results["icl"][0] == pytest.approx(results["bic"][0] + 2 * entropy, rel=1e-10)
    assert entropy > 1.0  # overlapping components: the penalty is not negligible
    if not weighted:
        assert results["bic"][0] == pytest.approx(model.bic(X), rel=1e-10)
        assert results["aic"][0] == pytest.approx(model.aic(X), rel=1e-10)


def test_icl_prefers_separated_components_over_bic():
    # Two heavily overlapping components: BIC sees them, ICL's entropy penalty does not.
    X = _mixture(4000, [[0, 0], [1.6, 0]], [np.eye(2), np.eye(2)], seed=3)
    kw = dict(n_components=[1, 2, 3], covariance_type="spherical")
    bic = MixtureSelector(GaussianMixture(random_state=0), **kw).fit(X)
    icl = MixtureSelector(GaussianMixture(random_state=0), criterion="icl", **kw).fit(X)
    assert bic.best_params_["n_components"] == 2
    assert icl.best_params_["n_components"] == 1
    # The same fits (only the chosen one of each is continued to refit_tol).
    np.testing.assert_allclose(icl.results_["bic"], bic.results_["bic"], rtol=1e-4)


# -- ties, failures, degenerate candidates -----------------------------------------------------
def test_ties_go_to_the_earlier_covariance_type():
    # With one component, 'full' and 'tied' are the same model with as many parameters.
    X = _mixture(500, [[0, 0]], [_rotated(0.3, (2, 1))])
    for order in (["tied", "full"], ["full", "tied"]):
        selector = MixtureSelector(
            GaussianMixture(random_state=0), n_components=[1], covariance_type=order
        ).fit(X)
        bic = selector.results_["bic"]
        assert bic[0] == pytest.approx(bic[1], rel=1e-9)
        assert selector.best_params_["covariance_type"] == order[0]


def test_a_failed_candidate_does_not_stop_the_search():
    X = MIXTURES["separated spherical"][0][:40]
    selector = MixtureSelector(
        GaussianMixture(random_state=0), n_components=[1, 3, 50], covariance_type="diag"
    )
    selector.fit(X)
    errors = selector.results_["error"]
    assert errors[2].startswith("Expected n_samples >= n_components")
    assert errors[0] == errors[1] == ""
    assert np.isnan(selector.results_["bic"][2])
    assert selector.results_["rank"][2] == 3
    assert selector.estimators_[2] is None
    assert selector.best_params_["n_components"] in (1, 3)


def test_singular_candidates_fail_and_the_others_are_kept():
    # Four distinct rows, many times each: without reg_covar, K >= 2 full covariances collapse.
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(4, 2)), 25, axis=0)
    selector = MixtureSelector(
        GaussianMixture(reg_covar=0.0, random_state=0),
        n_components=[1, 4, 5],
        covariance_type="full",
        n_init=2,
    ).fit(X)
    errors = selector.results_["error"]
    assert errors[0] == ""
    assert "ill-defined empirical covariance" in errors[2]
    assert selector.best_index_ != 2


def test_every_candidate_failing_raises():
    X = np.repeat(np.arange(6.0).reshape(3, 2), 10, axis=0)
    selector = MixtureSelector(
        GaussianMixture(reg_covar=0.0, random_state=0),
        n_components=[3],
        covariance_type="spherical",
    )
    with pytest.raises(ValueError, match="Every candidate failed"):
        selector.fit(X)


def _with_repeated_rows(seed=0):
    """A Gaussian blob and 25 copies of one rounded measurement inside it."""
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(500, 2)), np.tile([[0.5, -0.5]], (25, 1))])


#: A start that puts the second component on the 25 copies.
COLLAPSING_START = dict(
    weights_init=[0.95, 0.05],
    means_init=[[0, 0], [0.5, -0.5]],
    precisions_init=[np.eye(2), 100 * np.eye(2)],
)


def test_a_collapsed_component_is_degenerate():
    X = _with_repeated_rows()
    model = GaussianMixture(2, **COLLAPSING_START).fit(X)
    assert model.covariances_[1].max() < 1e-5  # at reg_covar: the copies alone
    assert model.bic(X) < GaussianMixture(1).fit(X).bic(X) - 400  # "better" by far
    reason = degenerate_components(model, model._params_from_attributes(), len(X))
    assert "component 1 has a variance of 1e-06 at the reg_covar floor" in reason
    healthy = GaussianMixture(1).fit(X)
    assert degenerate_components(healthy, healthy._params_from_attributes(), len(X)) == ""
    small = GaussianMixture(2, covariance_type="full").fit(X[:30])
    params = small._params_from_attributes()
    params.weights = np.array([1 - 3 / 30, 3 / 30])  # 3 rows for 5.5 parameters
    assert "component 1 carries 3 rows, fewer than its 5.5 parameters" in (
        degenerate_components(small, params, 30)
    )


def test_only_degenerate_candidates_warn_and_are_marked():
    X = _with_repeated_rows()
    selector = MixtureSelector(
        GaussianMixture(**COLLAPSING_START), n_components=[2], covariance_type="full"
    )
    with pytest.warns(UserWarning, match="Every candidate has a degenerate component"):
        selector.fit(X)
    assert selector.results_["degenerate"][0]
    assert "reg_covar floor" in selector.results_["degenerate_reason"][0]


@pytest.mark.parametrize("strategy", ["em", "short-em"])
def test_degenerate_optima_on_rounded_data_never_win(strategy):
    # Rounded measurements: many identical rows, onto which components collapse.
    X = np.round(np.random.default_rng(0).normal(size=(300, 2)) * [0.7, 2.0], 0)
    selector = MixtureSelector(
        GaussianMixture(random_state=0), n_components=range(1, 7), strategy=strategy
    ).fit(X)
    results = selector.results_
    raw = int(np.nanargmin(results["bic"]))
    assert results["degenerate"][raw]  # by BIC alone a collapsed model would win
    assert not results["degenerate"][selector.best_index_]
    valid = ~results["degenerate"] & (results["error"] == "")
    assert results["rank"][valid].max() < results["rank"][~valid].min()
    assert all(results["degenerate_reason"][results["degenerate"]])


# -- the chosen model ---------------------------------------------------------------------
def test_chosen_model_is_continued_to_refit_tol():
    X = MIXTURES["overlapping full"][0]
    selector = MixtureSelector(
        GaussianMixture(random_state=0, tol=1e-2), n_components=[2], covariance_type="full"
    ).fit(X)
    bounds = selector.best_estimator_.lower_bounds_
    assert selector.best_estimator_.converged_
    assert abs(bounds[-1] - bounds[-2]) < 1e-6
    loose = MixtureSelector(
        GaussianMixture(random_state=0, tol=1e-2),
        n_components=[2],
        covariance_type="full",
        refit_tol=None,
    ).fit(X)
    assert (
        abs(loose.best_estimator_.lower_bounds_[-1] - loose.best_estimator_.lower_bounds_[-2])
        > 1e-6
    )
    assert selector.results_["log_likelihood"][0] >= loose.results_["log_likelihood"][0]
    assert selector.results_["n_iter"][0] > loose.results_["n_iter"][0]


def test_delegates_to_the_best_estimator():
    X = MIXTURES["separated spherical"][0]
    selector = MixtureSelector(GaussianMixture(random_state=0), n_components=[2, 3]).fit(X)
    best = selector.best_estimator_
    np.testing.assert_array_equal(selector.predict(X), best.predict(X))
    np.testing.assert_array_equal(selector.predict_proba(X), best.predict_proba(X))
    np.testing.assert_array_equal(selector.score_samples(X), best.score_samples(X))
    assert selector.score(X) == best.score(X)
    assert selector.bic(X) == best.bic(X)
    assert selector.aic(X) == best.aic(X)
    rows, labels = selector.sample(7)
    assert rows.shape == (7, 2) and labels.shape == (7,)
    assert selector.n_features_in_ == 2
    assert best.n_features_in_ == 2 and best.converged_


def test_meta_estimator_clone_params_pipeline():
    X = MIXTURES["separated spherical"][0]
    selector = MixtureSelector(GaussianMixture(reg_covar=1e-4), n_components=[2, 3])
    params = selector.get_params(deep=True)
    assert params["estimator__reg_covar"] == 1e-4
    selector.set_params(estimator__random_state=0, covariance_type="diag")
    copy = clone(selector)
    assert copy.get_params()["estimator__random_state"] == 0
    pipe = make_pipeline(StandardScaler(), copy).fit(X)
    labels = pipe.predict(X)
    assert len(np.unique(labels)) == 3
    assert pipe[-1].best_estimator_.reg_covar == 1e-4
    assert pipe.score(X) == pytest.approx(pipe[-1].score(StandardScaler().fit_transform(X)))


def test_dataframe_feature_names():
    import pandas as pd

    X = pd.DataFrame(MIXTURES["separated spherical"][0], columns=["a", "b"])
    selector = MixtureSelector(GaussianMixture(random_state=0), n_components=[3]).fit(X)
    assert list(selector.feature_names_in_) == ["a", "b"]
    selector.predict(X)


def test_bernoulli_has_no_covariance_types():
    X = make_binary(n_samples=200)[0]
    with pytest.raises(ValueError, match="BernoulliMixture has no covariance types"):
        MixtureSelector(BernoulliMixture(), n_components=[2], covariance_type="full").fit(X)
    for kind in (None, "all"):
        selector = MixtureSelector(
            BernoulliMixture(random_state=0), n_components=[2], covariance_type=kind
        ).fit(X)
        assert selector.best_params_ == {"n_components": 2}


def test_bad_parameters():
    X = MIXTURES["separated spherical"][0]
    with pytest.raises(ValueError, match="n_components"):
        MixtureSelector(n_components=[0, 2]).fit(X)
    with pytest.raises(ValueError, match="covariance_type"):
        MixtureSelector(n_components=[2], covariance_type=["full", "banana"]).fit(X)
    with pytest.raises(ValueError, match="criterion"):
        MixtureSelector(criterion="bayes").fit(X)
    with pytest.raises(ValueError, match="estimator"):
        MixtureSelector(estimator=StandardScaler()).fit(X)


def test_sample_weights_act_as_repeated_rows():
    X = MIXTURES["axis-aligned diag"][0][:400]
    w = np.random.default_rng(0).integers(0, 3, len(X)).astype(float)
    kw = dict(n_components=[1, 2, 3], covariance_type=["diag", "full"], strategy="em")
    weighted = MixtureSelector(GaussianMixture(random_state=0), **kw).fit(X, sample_weight=w)
    repeated = MixtureSelector(GaussianMixture(random_state=0), **kw).fit(
        np.repeat(X, w.astype(int), axis=0)
    )
    assert weighted.best_params_ == repeated.best_params_
    np.testing.assert_allclose(weighted.results_["bic"], repeated.results_["bic"], rtol=1e-6)


def test_short_em_on_a_sample_of_large_data(monkeypatch):
    import fastem._selection.search as search

    monkeypatch.setattr(search, "SHORT_EM_ROWS", 300)
    X, k, covariance_type = MIXTURES["axis-aligned diag"]
    selector = MixtureSelector(
        GaussianMixture(random_state=0), n_components=[2, 3, 4], covariance_type=covariance_type
    ).fit(X)
    assert selector.best_params_["n_components"] == k
    best = selector.best_estimator_
    # The history is the one on every row: the short runs on the sample are not in it.
    assert best.lower_bounds_[-1] == pytest.approx(best.score(X), abs=1e-5)
    assert best.converged_
