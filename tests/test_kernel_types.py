"""Each kernel compiles once per dtype, whatever the flags of the arrays its callers hold.

Numba compiles one specialisation per argument type, and a read-only array is
another type than a writable one: a frozen parameter array or a read-only
memory map would compile a kernel again (seconds per parallel kernel). The
families hand rows and weights to the kernels read-only and every small array
as a fresh copy; these tests call them with every mix of flags and check that
no second specialisation appears.
"""

import itertools

import numpy as np

from fastem._settings import override
from fastem.families import kmeans as fk
from fastem.families.gaussian import GaussianFamily, GaussianParams
from fastem.kernels import gaussian as gk
from fastem.kernels import kmeans as kk


def _frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _flag_mixes(*arrays):
    """Every combination of writable and read-only copies of ``arrays``."""
    for frozen in itertools.product((False, True), repeat=len(arrays)):
        yield [_frozen(a) if f else np.array(a) for a, f in zip(arrays, frozen, strict=True)]


def _compiles_nothing_new(dispatcher, func, *args):
    """Whether ``func(*args)`` leaves ``dispatcher`` with no new specialisation."""
    before = set(dispatcher.signatures)
    func(*args)
    return set(dispatcher.signatures) == before


def test_lloyd_pass_compiles_once_whatever_the_flags():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    w = rng.uniform(0.5, 2.0, 50)
    centers = X[:4].copy()
    shift = X.mean(axis=0)
    fk.lloyd_pass(X, w, centers, shift)  # compiles (or loads) the float64 specialisation
    for Xv, wv, cv, sv in _flag_mixes(X, w, centers, shift):
        assert _compiles_nothing_new(kk.lloyd_pass, fk.lloyd_pass, Xv, wv, cv, sv)


def test_column_moments_compile_once_whatever_the_flags():
    X = np.random.default_rng(1).normal(size=(40, 3))
    for family in (GaussianFamily, fk.KMeansFamily):
        family.column_moments(X, np.empty(0))
        for (Xv,) in _flag_mixes(X):
            assert _compiles_nothing_new(gk.column_moments, family.column_moments, Xv, np.empty(0))


def test_prediction_compiles_once_whatever_the_flags_of_the_parameters():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    for covariance_type, kernel in (
        ("full", gk._log_prob_cholesky_tiled),
        ("diag", gk.log_prob_diagonal),
    ):
        with override(matmul_path="tiled4"):
            family = GaussianFamily(covariance_type, 2, 3, missing=False)
        means = X[:2].copy()
        if covariance_type == "full":
            covariances = np.array([np.eye(3), 2 * np.eye(3)])
            prec_chol = np.array([np.eye(3), np.eye(3) / np.sqrt(2)])
        else:
            covariances = np.ones((2, 3))
            prec_chol = np.ones((2, 3))
        weights = np.array([0.4, 0.6])
        family.log_prob(X, GaussianParams(weights, means, covariances, prec_chol))
        for Xv, mv, uv in _flag_mixes(X, means, prec_chol):
            params = GaussianParams(weights, mv, covariances, uv)
            assert _compiles_nothing_new(kernel, family.log_prob, Xv, params)


def test_bernoulli_passes_compile_once_whatever_the_flags():
    from fastem.families.bernoulli import BernoulliFamily
    from fastem.kernels import bernoulli as bk

    rng = np.random.default_rng(3)
    X = (rng.uniform(size=(40, 5)) < 0.5).astype(np.float64)
    X[::7, 1] = np.nan  # rows with missing entries: taken and augmented inside
    family = BernoulliFamily(2, 5)
    W = rng.normal(size=(5, 2))
    c = np.zeros(2)
    w = rng.uniform(0.5, 2.0, 40)
    family.scores(X, W, c)
    family.stats(X, w, W, c, bk.SOFT)
    for Xv, Wv, wv in _flag_mixes(X, W, w):
        assert _compiles_nothing_new(bk.dense_scores, family.scores, Xv, Wv, c)
        assert _compiles_nothing_new(bk.dense_stats, family.stats, Xv, wv, Wv, c, bk.SOFT)


def _kernel_signatures():
    """Every compiled specialisation of every kernel dispatcher in ``fastem.kernels``."""
    import importlib
    import pkgutil

    import numba.core.registry

    import fastem.kernels

    found = {}
    for info in pkgutil.iter_modules(fastem.kernels.__path__):
        module = importlib.import_module(f"fastem.kernels.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, numba.core.registry.CPUDispatcher):
                found[f"{module.__name__}.{name}"] = frozenset(value.signatures)
    return found


def _freeze_fitted_arrays(estimator):
    """Make the fitted arrays (and those of fitted sub-estimators) read-only, as mmap_mode does."""
    from sklearn.base import BaseEstimator

    for name, value in vars(estimator).items():
        if name.endswith("_") and isinstance(value, np.ndarray):
            setattr(estimator, name, _frozen(value))
        elif name.endswith("_") and isinstance(value, BaseEstimator):
            _freeze_fitted_arrays(value)


def _fitted_models():
    import pandas as pd

    from fastem import (
        BernoulliMixture,
        GaussianMixture,
        KMeans,
        MixtureImputer,
        TabularMixture,
    )

    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 3))
    X_nan = X.copy()
    X_nan[::5, 1] = np.nan
    binary = (rng.uniform(size=(120, 4)) < 0.4).astype(np.float64)
    table = pd.DataFrame(
        {
            "height": rng.normal(size=120),
            "smoker": rng.uniform(size=120) < 0.3,
            "city": pd.Categorical(rng.choice(["a", "b", "c"], size=120)),
            "visits": rng.poisson(2.0, size=120),
        }
    )
    types = {"visits": "poisson"}
    for covariance_type in ("full", "tied", "diag", "spherical"):
        model = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
        yield model.fit(X), X
        yield model, X_nan
    yield BernoulliMixture(2, random_state=0).fit(binary), binary
    yield TabularMixture(2, column_types=types, random_state=0).fit(table), table
    yield TabularMixture(2, covariance_type="full", random_state=0).fit(X), X
    yield MixtureImputer(2, covariance_type="full", random_state=0).fit(X_nan), X_nan
    yield KMeans(2, n_init=1, random_state=0).fit(X), X


def _predict_everything(model, X):
    """The outputs of every method of a fitted model that reads rows with its parameters."""
    outputs = []
    for name in ("predict", "predict_proba", "score_samples", "transform", "score"):
        method = getattr(model, name, None)
        if method is not None:
            outputs.append(np.asarray(method(X)))
    return outputs


def test_a_model_with_read_only_fitted_arrays_compiles_nothing_new():
    # A model unpickled by joblib with mmap_mode="r" (as scikit-learn's
    # check_estimators_pickle does) holds read-only fitted arrays: predicting with
    # it must take the kernels the fit compiled, not compile each once more.
    for model, X in _fitted_models():
        expected = _predict_everything(model, X)
        before = _kernel_signatures()
        _freeze_fitted_arrays(model)
        got = _predict_everything(model, X)
        grown = {
            name: sorted(map(str, sigs - before.get(name, frozenset())))
            for name, sigs in _kernel_signatures().items()
            if sigs != before.get(name, frozenset())
        }
        assert not grown, f"{model!r} compiled again with read-only fitted arrays: {grown}"
        for e, g in zip(expected, got, strict=True):
            np.testing.assert_array_equal(e, g)
