"""Bad input gets a clear ValueError that names the problem, never a Numba traceback."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import reference as ref
from fastem import GaussianMixture
from synthetic import make_blobs


@pytest.fixture(scope="module")
def X():
    return make_blobs(n_samples=60, n_features=2, n_components=2, seed=0)[0]


def _with(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("value", "match"), [(np.inf, "infinity"), (-np.inf, "infinity")])
def test_non_finite_X(X, value, match, dtype):
    # (NaN is a missing value: tests/test_missing_fit.py.)
    bad = _with(X, 5, 1, value).astype(dtype)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(bad)
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit_predict(bad)
    fitted = GaussianMixture(2, random_state=0).fit(X.astype(dtype))
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match=match):
            getattr(fitted, method)(bad)


def test_wrong_dimensions(X):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        GaussianMixture(2).fit(X[:, 0])
    with pytest.raises(ValueError, match="Found array with dim 3"):
        GaussianMixture(2).fit(X[None])
    with pytest.raises(ValueError, match="0 sample"):
        GaussianMixture(1).fit(X[:0])
    with pytest.raises(ValueError, match="0 feature"):
        GaussianMixture(1).fit(X[:, :0])


def test_fewer_samples_than_components(X):
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(X[:4])
    # Rows of weight 0 do not count.
    w = np.zeros(len(X))
    w[:2] = 1.0
    with pytest.raises(ValueError, match="positive weight"):
        GaussianMixture(3).fit(X, sample_weight=w)


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (lambda n: -np.ones(n), "[Nn]egative"),
        (lambda n: np.r_[1.0, -1e-3, np.ones(n - 2)], "[Nn]egative"),
        (lambda n: np.zeros(n), "non-zero|positive"),
        (lambda n: np.ones(n - 1), r"sample_weight\.shape"),
        (lambda n: np.ones(n + 1), r"sample_weight\.shape"),
        (lambda n: np.ones((n, 2)), "1D|1 or 2|shape"),
        (lambda n: np.r_[np.nan, np.ones(n - 1)], "NaN"),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], "infinity"),
    ],
)
def test_bad_sample_weight(X, weights, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X, sample_weight=weights(len(X)))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": 1.5}, "n_components"),
        ({"covariance_type": "bogus"}, "covariance_type"),
        ({"tol": -1e-3}, "'tol'"),
        ({"reg_covar": -1e-6}, "reg_covar"),
        ({"max_iter": -1}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"init_params": "bogus"}, "init_params"),
        ({"n_jobs": 0}, "n_jobs"),
        ({"verbose_interval": 0}, "verbose_interval"),
    ],
)
def test_invalid_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**{"n_components": 2, **params}).fit(X)


PRECISION_SHAPES = {
    "full": (2, 2, 2),
    "tied": (2, 2),
    "diag": (2, 2),
    "spherical": (2,),
}


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_initial_parameters_of_the_wrong_shape(X, covariance_type):
    def fit(**init):
        GaussianMixture(2, covariance_type=covariance_type, **init).fit(X)

    with pytest.raises(ValueError, match=r"'weights' should have the shape of \(2,\)"):
        fit(weights_init=[1.0])
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(2, 2\)"):
        fit(means_init=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(2, 2\)"):
        fit(means_init=np.zeros((3, 2)))
    good = PRECISION_SHAPES[covariance_type]
    wrong = (3,) + good[1:]
    match = re.escape(f"precision' should have the shape of {good}")
    with pytest.raises(ValueError, match=match):
        fit(precisions_init=np.ones(wrong))


def test_initial_parameters_not_finite(X):
    with pytest.raises(ValueError, match="NaN or infinity"):
        GaussianMixture(2, means_init=[[0.0, np.nan], [1.0, 1.0]]).fit(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        GaussianMixture(
            2, covariance_type="diag", precisions_init=[[1.0, np.inf], [1.0, 1.0]]
        ).fit(X)


def test_initial_weights_out_of_range(X):
    with pytest.raises(ValueError, match="normalized"):
        GaussianMixture(2, weights_init=[0.2, 0.2]).fit(X)
    with pytest.raises(ValueError, match=r"range \[0, 1\]"):
        GaussianMixture(2, weights_init=[1.5, -0.5]).fit(X)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_precisions_init_not_positive_definite(X, covariance_type):
    bad = {
        # Symmetric with a negative eigenvalue (component 1 only).
        "full": np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]),
        "tied": np.array([[1.0, 2.0], [2.0, 1.0]]),
        "diag": np.array([[1.0, 1.0], [1.0, 0.0]]),
        "spherical": np.array([1.0, -1.0]),
    }[covariance_type]
    match = "positive-definite" if covariance_type in ("full", "tied") else "positive"
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, covariance_type=covariance_type, precisions_init=bad).fit(X)
    if covariance_type in ("full", "tied"):
        asymmetric = np.array([[2.0, 1.0], [0.0, 2.0]])
        if covariance_type == "full":
            asymmetric = np.stack([np.eye(2), asymmetric])
        with pytest.raises(ValueError, match="symmetric"):
            GaussianMixture(2, covariance_type=covariance_type, precisions_init=asymmetric).fit(X)


def test_not_fitted(X):
    gm = GaussianMixture(2)
    for method, args in [
        ("predict", (X,)),
        ("predict_proba", (X,)),
        ("score_samples", (X,)),
        ("score", (X,)),
        ("bic", (X,)),
        ("aic", (X,)),
        ("sample", (3,)),
    ]:
        with pytest.raises(NotFittedError):
            getattr(gm, method)(*args)


def test_other_number_of_features_than_at_fit(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    other = np.ones((5, 3))
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(
            ValueError, match="X has 3 features, but GaussianMixture is expecting 2"
        ):
            getattr(gm, method)(other)


def test_sample_needs_a_positive_count(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


# scikit-learn's sentence (fastem's error starts with it verbatim), then fastem's detail.
SINGULAR = (
    r"^Fitting the mixture model failed because some components have ill-defined "
    r"empirical covariance \(for instance caused by singleton or collapsed samples\)\. "
    r"Try to decrease the number of components, increase reg_covar, or scale the input "
    r"data\. (Component \d+|The covariance shared by the components) is not positive "
    r"definite \(reg_covar is now 0\)\."
)
FLOAT64_HINT = "The numerical accuracy can also be improved by passing float64 data"


def _check_singular_error(error, covariance_type, dtype, component=None):
    """The error names the component (or the shared covariance) and advises float64 for float32."""
    message = str(error)
    assert re.match(SINGULAR, message), message
    if covariance_type == "tied":
        assert "The covariance shared by the components is not" in message
        assert not re.search(r"Component \d+", message)
    else:
        named = re.search(r"Component (\d+) is not positive definite", message)
        assert named, message
        if component is not None:
            assert int(named.group(1)) == component, message
    assert (FLOAT64_HINT in message) == (dtype == np.float32), message
    assert ("float64" in message) == (dtype == np.float32), message


def _assert_finite_model(gm, X):
    """Every fitted attribute finite, every covariance positive definite, a finite score."""
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        value = np.asarray(getattr(gm, name), dtype=np.float64)
        assert np.all(np.isfinite(value)), (name, value)
    covariances = np.asarray(gm.covariances_, dtype=np.float64)
    factors = np.asarray(gm.precisions_cholesky_, dtype=np.float64)
    if gm.covariance_type in ("full", "tied"):
        # The model's precisions U U^T are positive definite ...
        assert np.all(np.diagonal(factors, axis1=-2, axis2=-1) > 0), factors
        if gm.covariances_.dtype == np.float64:
            np.linalg.cholesky(covariances)  # raises LinAlgError unless positive definite
        else:
            # ... and so are the float64 covariances they come from; a nearly singular
            # one may round to a singular float32 matrix ([[1.5, -1.5], [-1.5, 1.5]]).
            eigenvalues = np.linalg.eigvalsh(covariances)
            scale = np.abs(covariances).max(axis=(-2, -1))[..., None]
            assert np.all(eigenvalues >= -4 * np.finfo(np.float32).eps * scale), eigenvalues
    else:
        assert np.all(covariances > 0), covariances
        assert np.all(factors > 0), factors
    assert np.all(np.isfinite(gm.score_samples(X)))
    assert np.isfinite(gm.score(X))


def _fit_singular_or_finite(gm, X, covariance_type, dtype):
    """Round-off may leave a tiny positive variance: the singular error or a finite model."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X)
    except ValueError as error:
        _check_singular_error(error, covariance_type, dtype)
        return False
    _assert_finite_model(gm, X)
    return True


def _check_reg_covar_fits(gm, X):
    """The advice works: with reg_covar the same data fits."""
    gm.set_params(reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    _assert_finite_model(gm, X)


# Integer points with an integer mean, each repeated 40 times: every sum of the
# statistics is exact (the 10 * eps that scikit-learn adds to N_k vanishes in
# N_k = 40), so a component on one of the points, or on none, has a covariance
# of exactly zero. With 10 copies of points whose mean is 8/3 the same
# covariances are rounded to tiny values of either sign.
DUPLICATED_POINTS = {
    "exact": np.repeat(np.array([[0.0, 1.0], [3.0, -2.0], [6.0, 4.0]]), 40, axis=0),
    "rounded": np.repeat(np.array([[0.0, 1.0], [3.0, -2.0], [5.0, 5.0]]), 10, axis=0),
}


@pytest.mark.parametrize("points", ["exact", "rounded"])
@pytest.mark.parametrize("init_params", ["kmeans", "random_from_data"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_singular_covariance_from_duplicated_points(covariance_type, dtype, init_params, points):
    """Three distinct points and five components: at least one has no spread at all."""
    X = DUPLICATED_POINTS[points].astype(dtype)
    gm = GaussianMixture(
        5, covariance_type=covariance_type, reg_covar=0.0, init_params=init_params
    )
    # k-means leaves two of the five centres without rows (ties go to the first
    # centre on a point): their covariance is exactly zero, and with exact sums so
    # is the shared one. Seeds drawn from the rows give round-off everywhere.
    exact = init_params == "kmeans" and (covariance_type != "tied" or points == "exact")
    for seed in range(5):
        gm.set_params(random_state=seed)
        if exact:
            with pytest.raises(ValueError, match=SINGULAR) as info:
                gm.fit(X)
            _check_singular_error(info.value, covariance_type, dtype)
        else:
            _fit_singular_or_finite(gm, X, covariance_type, dtype)
    _check_reg_covar_fits(gm, X)


def _collapsing_cluster(exact, dtype):
    """A spread cluster near the origin and a cluster of identical rows at (40, 25).

    ``exact``: the spread rows are multiples of 1/8 and 40 rows of 128 are on the
    point, so the data mean, every row's offset from it and every sum of the
    statistics are exact, and the component on the point gets a covariance of
    exactly zero. Otherwise (20 copies, Gaussian spread) the same covariance is
    rounded to a tiny value of either sign.
    """
    rng = np.random.RandomState(1)
    if exact:
        spread = np.round(rng.normal(size=(88, 2)) * 8.0) / 8.0
        point = np.tile([40.0, 25.0], (40, 1))
    else:
        spread = rng.normal(size=(100, 2))
        point = np.tile([40.0, 25.0], (20, 1))
    return np.vstack([spread, point]).astype(dtype)


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "rounded"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_singular_covariance_from_a_collapsed_cluster(covariance_type, dtype, exact):
    """A cluster of identical rows far from the rest: its component collapses during EM."""
    X = _collapsing_cluster(exact, dtype)
    rng = np.random.RandomState(1)
    rng.normal(size=(100, 2))  # the draws of the original test, for the same precisions
    means = np.array([[0.0, 0.0], [40.5, 24.0]])
    precisions = ref.precisions(ref.random_params(rng, 2, 2, covariance_type)[2], covariance_type)
    gm = GaussianMixture(
        2,
        covariance_type=covariance_type,
        reg_covar=0.0,
        means_init=means,
        precisions_init=precisions,
        weights_init=[0.8, 0.2],
    )
    if covariance_type == "tied":
        # A shared covariance keeps the spread of the other cluster: no singularity.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X)
        _assert_finite_model(gm, X)
        return
    if exact:
        with pytest.raises(ValueError, match=SINGULAR) as info:
            gm.fit(X)
        # The second component is the one on the collapsed cluster.
        _check_singular_error(info.value, covariance_type, dtype, component=1)
    elif _fit_singular_or_finite(gm, X, covariance_type, dtype):
        # Fitted with a tiny variance: still on the collapsed cluster, alone.
        np.testing.assert_allclose(gm.means_[1], [40.0, 25.0], rtol=1e-6)
        np.testing.assert_array_equal(gm.predict(X[-20:]), 1)
    _check_reg_covar_fits(gm, X)


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "rounded"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_singular_covariance_of_collinear_points(covariance_type, dtype, exact):
    """Rows on a line: every variance is positive, the covariance is still singular.

    ``exact``: t in {-7, -1, 1, 7}, so that the covariance is exactly
    ``[[25, 50], [50, 100]]`` and its Cholesky factorisation meets a zero pivot.
    Otherwise (Gaussian t) round-off decides whether the factorisation succeeds.
    """
    rng = np.random.RandomState(2)
    t = np.repeat([-7.0, -1.0, 1.0, 7.0], 50) if exact else rng.normal(size=200)
    X = np.column_stack([t, 2.0 * t + 1.0]).astype(dtype)
    gm = GaussianMixture(1, covariance_type=covariance_type, reg_covar=0.0)
    if exact:
        with pytest.raises(ValueError, match=SINGULAR) as info:
            gm.fit(X)
        _check_singular_error(info.value, covariance_type, dtype, component=0)
    else:
        _fit_singular_or_finite(gm, X, covariance_type, dtype)
    _check_reg_covar_fits(gm, X)


def test_overflowing_data_is_a_clear_error():
    X = make_blobs(n_samples=60, n_features=2, n_components=2, seed=3)[0] * 1e200
    with warnings.catch_warnings():
        # Squares of 1e200 overflow on the way to the error; the error is what counts.
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="infinity|non-finite|overflow|scale"):
            GaussianMixture(2, random_state=0).fit(X)
