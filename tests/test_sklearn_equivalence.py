"""fastem's GaussianMixture is a drop-in for scikit-learn's: same fits, same answers."""

import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import reference as ref
from fastem import GaussianMixture
from matmul_paths import GAUSSIAN_PATHS
from synthetic import make_blobs

N_COMPONENTS = 3
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


@pytest.fixture(scope="module")
def X(blobs):
    assert blobs.shape[1] == 3
    return blobs


@pytest.fixture(scope="module")
def X_test():
    # Other rows of the same kind, plus a few far from every component.
    X, _ = make_blobs(n_samples=200, n_features=3, n_components=N_COMPONENTS, seed=0)
    far = np.random.RandomState(1).normal(scale=40.0, size=(10, 3))
    return np.vstack([X + 0.3, far])


def _inits(X, covariance_type, seed=0):
    """Explicit initial parameters near (not at) a sensible start."""
    rng = np.random.RandomState(seed)
    means = X[rng.choice(X.shape[0], N_COMPONENTS, replace=False)]
    weights, _, covariances = ref.random_params(rng, N_COMPONENTS, X.shape[1], covariance_type)
    return {
        "weights_init": weights,
        "means_init": means,
        "precisions_init": ref.precisions(covariances, covariance_type),
    }


def _pair(**kwargs):
    # Each gets its own copy of a RandomState instance, as two separate programs would.
    return GaussianMixture(**copy.deepcopy(kwargs)), SkGaussianMixture(**copy.deepcopy(kwargs))


def _fit_both(X, **kwargs):
    ours, theirs = _pair(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X)
        theirs.fit(X)
    return ours, theirs


def _assert_same_model(ours, theirs, rtol):
    for name in FITTED:
        ref.assert_rel_close(getattr(ours, name), getattr(theirs, name), rtol, name)


def _copy_parameters(source, covariance_type, random_state=None):
    """A fastem estimator holding exactly the fitted parameters of ``source``."""
    gm = GaussianMixture(
        source.n_components, covariance_type=covariance_type, random_state=random_state
    )
    for name in (*FITTED, "n_features_in_"):
        setattr(gm, name, getattr(source, name))
    return gm


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_same_fit_from_same_initial_parameters(X, covariance_type):
    ours, theirs = _fit_both(
        X,
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        tol=1e-10,
        max_iter=1000,
        **_inits(X, covariance_type),
    )
    assert theirs.converged_
    _assert_same_model(ours, theirs, 1e-6)
    assert ours.converged_ == theirs.converged_
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-12)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-10)


@GAUSSIAN_PATHS
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_zero_initial_weight_fits_as_sklearn(X, covariance_type, path, pinned_path):
    # A weight of exactly 0 is a log-weight of -inf. 100 rows leave the last block
    # of every path partial, whose padding columns once turned -inf * 0 into NaN.
    # The families of the fit are built under the pin (the fixture) and use its path.
    family = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type)._make_family(
        X.shape[1]
    )
    assert family.matmul_path == pinned_path
    inits = _inits(X, covariance_type)
    inits["weights_init"] = np.array([0.5, 0.5, 0.0])
    ours, theirs = _fit_both(
        X[:100], n_components=N_COMPONENTS, covariance_type=covariance_type, max_iter=5, **inits
    )
    assert np.all(np.isfinite(ours.means_))
    ref.assert_rel_close(ours.weights_[:2], theirs.weights_[:2], 1e-6, "weights_")
    assert ours.weights_[2] < 1e-12 and theirs.weights_[2] < 1e-12
    ref.assert_rel_close(ours.means_[:2], theirs.means_[:2], 1e-6, "means_")
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_default_kmeans_init_reaches_sklearn_optimum(X, covariance_type):
    """fastem's own k-means differs from scikit-learn's, not the optimum it leads to."""
    ours, theirs = _fit_both(
        X, n_components=N_COMPONENTS, covariance_type=covariance_type, tol=1e-10, random_state=0
    )
    order_ours = np.argsort(ours.means_[:, 0])
    order_theirs = np.argsort(theirs.means_[:, 0])
    for name in FITTED:
        a, b = getattr(ours, name), getattr(theirs, name)
        shared = covariance_type == "tied" and name not in ("weights_", "means_")
        if not shared:
            a, b = a[order_ours], b[order_theirs]
        ref.assert_rel_close(a, b, 1e-6, name)
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)


def _assert_same_initialisation(ours, theirs, X):
    """The parameters of the same draws (EM not started)."""
    ref.assert_rel_close(ours.weights_, theirs.weights_, 1e-12, "weights_")
    ref.assert_rel_close(ours.means_, theirs.means_, 1e-12, "means_")
    # A component seeded by one row has covariance reg_covar * I plus round-off of the
    # order of eps times the squared size of the data (scikit-learn's diag formula has
    # it too): measure covariances against that scale, and precisions (~1/reg_covar)
    # relative to themselves.
    ref.assert_rel_close(
        ours.covariances_, theirs.covariances_, 1e-12, "covariances_", scale=np.max(X**2)
    )
    for name in ("precisions_", "precisions_cholesky_"):
        ref.assert_rel_close(getattr(ours, name), getattr(theirs, name), 1e-6, name)


# scikit-learn's tied M-step uses X.T @ X over every row, which assumes that each row's
# responsibilities sum to 1. With 'random_from_data' only the seed rows have any, so its
# initial tied covariance is (X.T @ X - sum_k x_k x_k^T) / K: it depends on where the
# origin lies. fastem takes the scatter of the seeds around their means (reg_covar * I)
# instead; the draws are the same, the initial tied covariance deliberately is not.
SAME_DRAWS = [
    (covariance_type, init_params)
    for covariance_type in ref.COVARIANCE_TYPES
    for init_params in ("random", "random_from_data")
    if (covariance_type, init_params) != ("tied", "random_from_data")
]


@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.parametrize(("covariance_type", "init_params"), SAME_DRAWS)
def test_random_inits_draw_as_sklearn(X, covariance_type, init_params, n_init):
    kwargs = dict(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=n_init,
        tol=1e-10,
        max_iter=1000,
    )
    ours, theirs = _fit_both(X, random_state=42, **kwargs)
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)
    # Each start alone, drawn from one shared generator as scikit-learn's fit draws
    # them. Starts that reach the same optimum (up to the order of the components)
    # tie to the last bits, and round-off alone decides which of them "wins": the
    # model must be the one of a start that ties the best, with that start's
    # iterations.
    generator = np.random.RandomState(42)
    starts = []
    for _ in range(n_init):
        start = SkGaussianMixture(**{**kwargs, "n_init": 1, "random_state": generator})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            starts.append(start.fit(X))
    best = max(start.lower_bound_ for start in starts)
    tied = [s for s in starts if s.lower_bound_ >= best - 1e-12 * abs(best)]
    assert theirs.lower_bound_ == best
    errors = []
    for start in tied:
        try:
            _assert_same_model(ours, start, 1e-6)
            assert ours.n_iter_ == start.n_iter_
            assert ours.converged_ == start.converged_
            break
        except AssertionError as error:
            errors.append(str(error))
    else:
        raise AssertionError(f"the model is none of the {len(tied)} best starts: {errors}")

    # The first draws alone (no EM step) give the same parameters too.
    ours, theirs = _fit_both(X, random_state=np.random.RandomState(7), **{**kwargs, "max_iter": 0})
    _assert_same_initialisation(ours, theirs, X)


def test_tied_random_from_data_seeds_as_sklearn(X):
    kwargs = dict(
        n_components=N_COMPONENTS,
        covariance_type="tied",
        init_params="random_from_data",
        max_iter=0,
        random_state=11,
    )
    ours, theirs = _fit_both(X, **kwargs)
    ref.assert_rel_close(ours.weights_, theirs.weights_, 1e-12, "weights_")
    ref.assert_rel_close(ours.means_, theirs.means_, 1e-12, "means_")
    # The scatter of single seed rows around themselves: reg_covar alone, wherever the
    # data lies (see SAME_DRAWS above).
    for offset in (0.0, 1e3):
        moved = GaussianMixture(**kwargs).fit(X + offset)
        ref.assert_rel_close(moved.means_, ours.means_ + offset, 1e-12, "means_")
        ref.assert_rel_close(
            moved.covariances_, 1e-6 * np.eye(X.shape[1]), 1e-12, scale=np.max((X + offset) ** 2)
        )


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_max_iter_zero(X, covariance_type):
    kwargs = dict(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        init_params="random",
        max_iter=0,
        random_state=3,
    )
    ours, theirs = _pair(**kwargs)
    with warnings.catch_warnings():
        # No ConvergenceWarning: zero iterations ask for the initialisation only.
        warnings.simplefilter("error", ConvergenceWarning)
        ours.fit(X)
        theirs.fit(X)
    _assert_same_model(ours, theirs, 1e-12)
    assert ours.n_iter_ == theirs.n_iter_ == 0
    assert ours.converged_ is theirs.converged_ is False
    assert ours.lower_bound_ == theirs.lower_bound_ == -np.inf
    assert list(ours.lower_bounds_) == list(theirs.lower_bounds_) == []
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))

    # With every initial parameter given, max_iter=0 returns exactly those.
    inits = _inits(X, covariance_type)
    gm = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, max_iter=0, **inits).fit(X)
    np.testing.assert_array_equal(gm.weights_, inits["weights_init"])
    np.testing.assert_array_equal(gm.means_, inits["means_init"])
    np.testing.assert_allclose(gm.precisions_, inits["precisions_init"], rtol=1e-12)


@pytest.mark.parametrize("max_iter", [1, 100])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_fit_predict_equals_fit_then_predict(X, covariance_type, max_iter):
    kwargs = dict(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        max_iter=max_iter,
        random_state=0,
        init_params="random",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = GaussianMixture(**kwargs).fit_predict(X)
        fitted = GaussianMixture(**kwargs).fit(X)
        sk_labels = SkGaussianMixture(**kwargs).fit_predict(X)
    np.testing.assert_array_equal(labels, fitted.predict(X))
    np.testing.assert_array_equal(labels, sk_labels)


def _assert_same_predictions(ours, theirs, X):
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9, atol=0)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-12)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-12)
    assert ours.bic(X) == pytest.approx(theirs.bic(X), rel=1e-12)
    assert ours.aic(X) == pytest.approx(theirs.aic(X), rel=1e-12)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_predictions_from_the_same_parameters(X, X_test, covariance_type):
    theirs = SkGaussianMixture(N_COMPONENTS, covariance_type=covariance_type, random_state=0)
    theirs.fit(X)
    ours = _copy_parameters(theirs, covariance_type)
    _assert_same_predictions(ours, theirs, X_test)
    _assert_same_predictions(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_predictions_of_the_same_fit(X, X_test, covariance_type):
    ours, theirs = _fit_both(
        X,
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        tol=1e-10,
        **_inits(X, covariance_type),
    )
    np.testing.assert_array_equal(ours.predict(X_test), theirs.predict(X_test))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(ours.score_samples(X_test), theirs.score_samples(X_test), rtol=1e-6)
    for method in ("score", "bic", "aic"):
        assert getattr(ours, method)(X) == pytest.approx(getattr(theirs, method)(X), rel=1e-6)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_sample_draws_as_sklearn(X, covariance_type):
    theirs = SkGaussianMixture(N_COMPONENTS, covariance_type=covariance_type, random_state=5)
    theirs.fit(X)
    ours = _copy_parameters(theirs, covariance_type, random_state=5)
    for n_samples in (1, 2, 500):
        X_ours, y_ours = ours.sample(n_samples)
        X_theirs, y_theirs = theirs.sample(n_samples)
        np.testing.assert_array_equal(X_ours, X_theirs)
        np.testing.assert_array_equal(y_ours, y_theirs)
        assert X_ours.dtype == X_theirs.dtype
        assert X_ours.shape == (n_samples, X.shape[1])

    # A RandomState instance is consumed call after call, as in scikit-learn.
    inits = _inits(X, covariance_type)
    ours, theirs = _fit_both(
        X,
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        tol=1e-10,
        **inits,
        random_state=np.random.RandomState(9),
    )
    for _ in range(2):
        X_ours, y_ours = ours.sample(300)
        X_theirs, y_theirs = theirs.sample(300)
        np.testing.assert_array_equal(y_ours, y_theirs)
        np.testing.assert_allclose(X_ours, X_theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_warm_start_continues_like_sklearn(X, covariance_type):
    ours, theirs = _pair(
        n_components=N_COMPONENTS,
        covariance_type=covariance_type,
        warm_start=True,
        max_iter=2,
        tol=1e-8,
        n_init=3,
        **_inits(X, covariance_type),
    )
    history = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(40):
            ours.fit(X)
            theirs.fit(X)
            _assert_same_model(ours, theirs, 1e-6)
            assert ours.n_iter_ == theirs.n_iter_
            assert ours.converged_ == theirs.converged_
            assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-10)
            np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-10)
            history.append(ours.converged_)
            if ours.converged_:
                break
    # It went on across calls and then converged, as scikit-learn did.
    assert len(history) > 1 and history[-1]


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_warm_start_steps_add_up_to_a_cold_fit(X, covariance_type):
    inits = _inits(X, covariance_type)
    kwargs = dict(n_components=N_COMPONENTS, covariance_type=covariance_type, tol=0.0, **inits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = GaussianMixture(warm_start=True, max_iter=1, **kwargs)
        for _ in range(6):
            warm.fit(X)
        cold = GaussianMixture(max_iter=6, **kwargs).fit(X)
        # Without warm_start a second fit starts over.
        again = GaussianMixture(max_iter=6, **kwargs).fit(X).fit(X)
    _assert_same_model(warm, cold, 1e-12)
    _assert_same_model(again, cold, 1e-12)
    assert again.n_iter_ == cold.n_iter_ == 6
