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
@pytest.mark.parametrize(
    ("value", "match"), [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")]
)
def test_non_finite_X(X, value, match, dtype):
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


SINGULAR = r"component( \d+)? has an ill-defined empirical covariance.*increase reg_covar"


@pytest.mark.parametrize("init_params", ["kmeans", "random_from_data"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_singular_covariance_from_duplicated_points(covariance_type, dtype, init_params):
    """Three distinct points and five components: at least one has no spread at all."""
    X = np.repeat(np.array([[0.0, 1.0], [3.0, -2.0], [5.0, 5.0]]), 10, axis=0).astype(dtype)
    gm = GaussianMixture(
        5, covariance_type=covariance_type, reg_covar=0.0, init_params=init_params
    )
    for seed in range(5):
        with pytest.raises(ValueError, match=SINGULAR) as info:
            gm.set_params(random_state=seed).fit(X)
        if covariance_type != "tied":
            assert re.search(r"component \d+ has", str(info.value))
        assert ("float64" in str(info.value)) == (dtype == np.float32)
    # The advice works: with reg_covar the same data fits.
    gm.set_params(reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    assert np.all(np.isfinite(gm.score_samples(X)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_singular_covariance_from_a_collapsed_cluster(covariance_type, dtype):
    """A cluster of identical rows far from the rest: its component collapses during EM."""
    rng = np.random.RandomState(1)
    spread = rng.normal(size=(100, 2))
    point = np.tile([40.0, 25.0], (20, 1))
    X = np.vstack([spread, point]).astype(dtype)
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
        assert np.all(np.isfinite(gm.covariances_))
        return
    with pytest.raises(ValueError, match=SINGULAR) as info:
        gm.fit(X)
    # The second component is the one on the collapsed cluster.
    assert "component 1 has" in str(info.value)
    assert ("float64" in str(info.value)) == (dtype == np.float32)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_singular_covariance_of_collinear_points(covariance_type):
    """Rows on a line: every variance is positive, the covariance is still singular."""
    t = np.random.RandomState(2).normal(size=200)
    X = np.column_stack([t, 2.0 * t + 1.0])
    with pytest.raises(ValueError, match=SINGULAR):
        GaussianMixture(1, covariance_type=covariance_type, reg_covar=0.0).fit(X)


def test_overflowing_data_is_a_clear_error():
    X = make_blobs(n_samples=60, n_features=2, n_components=2, seed=3)[0] * 1e200
    with warnings.catch_warnings():
        # Squares of 1e200 overflow on the way to the error; the error is what counts.
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="infinity|non-finite|overflow|scale"):
            GaussianMixture(2, random_state=0).fit(X)
