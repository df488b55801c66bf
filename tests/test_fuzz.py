"""Property tests of the whole public API on random inputs (hypothesis).

For every public estimator (``fastem.__all__``), random shapes (one row per
component, one feature, wide rows), dtypes (bool, integers, float16/32/64,
object arrays of numbers), layouts (Fortran order, non-contiguous and read-only
views, memory maps, lists of chunks), extreme values (1e+-300, subnormals,
huge offsets, constant columns, duplicated rows, K = the number of distinct
rows), sample weights (zeros, huge, tiny) and parameters at their bounds: the
fit either gives a correct, finite model (finite log-likelihood, weights
summing to 1, positive definite covariances, finite predictions) or raises a
``ValueError``/``TypeError`` with a message, and leaves an unfitted estimator
unfitted. Never a crash in a kernel, a NaN or inf in a fitted attribute, a
numerical ``RuntimeWarning`` or a storm of warnings.

CI runs a bounded, derandomised number of examples; ``bench/bench_fuzz.py``
runs the same properties long (``FASTEM_BENCH_FULL=1``). Failing examples
found so far are the plain ``test_regression_*`` tests at the end.
"""

import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastem
from fastem import BernoulliMixture, GaussianMixture

#: The bounded CI run: fixed examples (derandomised), no example database.
CI = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

_MEMMAPS = Path(tempfile.mkdtemp(prefix="fastem-fuzz-"))

#: How the examples ended (fitted, or the start of the error message): to see what
#: a run explored (``bench/bench_fuzz.py`` prints it).
OUTCOMES = Counter()

SCALES = [1e-300, 1e-150, 1e-10, 1.0, 1e10, 1e100, 1e150, 1e200, 1e300]
OFFSETS = [0.0, 1e6, 1e12, -1e100, 1e300]
DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "object"]
LAYOUTS = ["C", "F", "rows-view", "columns-view", "read-only", "memmap", "chunks"]
WEIGHTS = [None, "ones", "uniform", "zeros", "huge", "tiny", "integers", "all-zero"]


@dataclass
class Case:
    """One drawn input: data, its layout, weights, estimator parameters, fit arguments."""

    values: np.ndarray
    dtype: str
    layout: str
    weights: str
    params: dict
    fit_args: dict = field(default_factory=dict)

    def __repr__(self):
        v = self.values
        with np.errstate(all="ignore"):
            summary = (
                f"{v.shape} min={np.nanmin(v):.3g} max={np.nanmax(v):.3g} "
                f"distinct_rows={len(np.unique(v, axis=0))}"
                if v.size
                else f"{v.shape}"
            )
        return (
            f"Case(values {summary}, dtype={self.dtype}, layout={self.layout}, "
            f"weights={self.weights}, params={self.params}, fit_args={self.fit_args})"
        )

    def data(self):
        """The rows as the estimator gets them (and the rows to predict on)."""
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = self.values.astype(self.dtype)
        if self.layout == "F":
            X = np.asfortranarray(X)
        elif self.layout == "rows-view":
            X = np.repeat(X, 2, axis=0)[::2]
        elif self.layout == "columns-view":
            X = np.repeat(X, 2, axis=1)[:, ::2]
        elif self.layout == "read-only":
            X = X.copy()
            X.setflags(write=False)
        elif self.layout == "memmap" and X.dtype != object:
            path = _MEMMAPS / f"{abs(hash(repr(self)))}.npy"
            np.save(path, X)
            return np.load(path, mmap_mode="r"), X
        elif self.layout == "chunks" and X.dtype != object:
            w = self.sample_weight()
            chunks = [
                X[i : i + 3] if w is None else (X[i : i + 3], w[i : i + 3])
                for i in range(0, X.shape[0], 3)
            ]
            return chunks, X
        return X, X

    def sample_weight(self):
        n = self.values.shape[0]
        rng = np.random.default_rng(n)
        return {
            None: None,
            "ones": np.ones(n),
            "uniform": rng.uniform(0.1, 2.0, n),
            "zeros": np.where(np.arange(n) % 2 == 0, 1.0, 0.0),
            "huge": np.full(n, 1e300),
            "tiny": np.full(n, 1e-300),
            "integers": rng.integers(0, 4, n).astype(float),
            "all-zero": np.zeros(n),
        }[self.weights]


@st.composite
def values(draw, binary=False, missing=True):
    """A float64 table of one of many shapes and value patterns (NaN holes with ``missing``)."""
    X = draw(_complete_values(binary))
    if missing and draw(st.integers(0, 3)) == 0:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        X = X.copy()
        X[rng.random(X.shape) < draw(st.sampled_from([0.1, 0.5, 1.0]))] = np.nan
    return X


#: dtypes that hold NaN (a table with missing values is not cast to integers).
NAN_DTYPES = ["float64", "float32", "float16", "object"]


def _dtype(draw, X, dtypes=DTYPES):
    return draw(st.sampled_from(NAN_DTYPES if np.isnan(X).any() else dtypes))


@st.composite
def _complete_values(draw, binary=False):
    n = draw(st.integers(1, 24))
    d = draw(st.one_of(st.integers(1, 4), st.sampled_from([1, 40])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(
        st.sampled_from(
            ["normal", "blobs", "duplicates", "constant-column", "integers", "subnormal"]
        )
    )
    if binary and draw(st.booleans()):
        return (rng.random((n, d)) < rng.uniform(0.1, 0.9, d)).astype(np.float64)
    scale, offset = draw(st.sampled_from(SCALES)), draw(st.sampled_from(OFFSETS))
    if kind == "normal":
        X = rng.normal(size=(n, d))
    elif kind == "blobs":
        X = rng.normal(size=(n, d)) + 8.0 * rng.integers(0, 3, (n, 1))
    elif kind == "duplicates":
        X = rng.normal(size=(max(1, n // 4), d))[rng.integers(0, max(1, n // 4), n)]
    elif kind == "constant-column":
        X = rng.normal(size=(n, d))
        X[:, 0] = 3.0
    elif kind == "integers":
        X = rng.integers(-3, 4, (n, d)).astype(np.float64)
    else:
        return rng.normal(size=(n, d)) * 5e-320
    with np.errstate(all="ignore"):
        return X * scale + offset


@st.composite
def _common(draw, X):
    distinct = len(np.unique(X, axis=0, equal_nan=True))
    k = draw(st.sampled_from(sorted({1, 2, 3, distinct, X.shape[0], X.shape[0] + 1})))
    params = {
        "n_components": max(1, k),
        "max_iter": draw(st.sampled_from([0, 1, 3, 20])),
        "tol": draw(st.sampled_from([0.0, 1e-3, 1e300])),
        "n_init": draw(st.sampled_from([1, 2])),
        "init_params": draw(
            st.sampled_from(["kmeans", "k-means++", "random", "random_from_data"])
        ),
        "random_state": draw(st.integers(0, 3)),
        "decay": draw(st.sampled_from([0.5000001, 0.7, 1.0])),
        "chunk_size": draw(st.sampled_from([None, None, 1, 7])),
        "warm_start": draw(st.booleans()),
    }
    fit_args = {}
    if draw(st.integers(0, 3)) == 0:
        fit_args = {
            "mode": "online",
            "batch_size": draw(st.sampled_from([1, 3, 50])),
            "n_epochs": draw(st.sampled_from([1, 2])),
        }
    return params, fit_args


@st.composite
def gaussian_cases(draw):
    X = draw(values())
    params, fit_args = draw(_common(X))
    params["covariance_type"] = draw(st.sampled_from(["full", "tied", "diag", "spherical"]))
    params["reg_covar"] = draw(st.sampled_from([0.0, 1e-300, 1e-6, 1e3]))
    return Case(
        X,
        _dtype(draw, X),
        draw(st.sampled_from(LAYOUTS)),
        draw(st.sampled_from(WEIGHTS)),
        params,
        fit_args,
    )


@st.composite
def bernoulli_cases(draw):
    X = draw(values(binary=True))
    params, fit_args = draw(_common(X))
    params["alpha"] = draw(st.sampled_from([0.0, 1e-10, 1.0, 1e10]))
    params["binarize"] = draw(st.sampled_from([0.0, None, 0.5, -1.0]))
    return Case(
        X,
        _dtype(draw, X),
        draw(st.sampled_from(LAYOUTS)),
        draw(st.sampled_from(WEIGHTS)),
        params,
        fit_args,
    )


@st.composite
def kmeans_cases(draw):
    X = draw(values())
    distinct = len(np.unique(X, axis=0, equal_nan=True))
    params = {
        "n_clusters": draw(st.sampled_from(sorted({1, 2, 3, distinct, X.shape[0] + 1}))),
        "init": draw(st.sampled_from(["k-means++", "random"])),
        "n_init": draw(st.sampled_from(["auto", 1, 2])),
        "max_iter": draw(st.sampled_from([1, 5, 50])),
        "tol": draw(st.sampled_from([0.0, 1e-4, 1e300])),
        "random_state": draw(st.integers(0, 3)),
    }
    return Case(
        X,
        _dtype(draw, X),
        draw(st.sampled_from(LAYOUTS)),
        draw(st.sampled_from(WEIGHTS)),
        params,
    )


@st.composite
def selector_cases(draw):
    X = draw(values())
    params = {
        "n_components": draw(st.sampled_from([1, (1, 2), (2, 3)])),
        "covariance_type": draw(st.sampled_from(["full", "diag", ["tied", "spherical"]])),
        "strategy": draw(st.sampled_from(["short-em", "em"])),
        "n_init": draw(st.sampled_from([1, 3])),
        "short_iter": draw(st.sampled_from([1, 5])),
        "criterion": draw(st.sampled_from(["bic", "aic", "icl"])),
        "random_state": draw(st.integers(0, 3)),
    }
    return Case(
        X,
        _dtype(draw, X, ["float64", "float32", "int8"]),
        "C",
        draw(st.sampled_from([None, "uniform", "zeros"])),
        params,
    )


# -- the properties -------------------------------------------------------------------------------
def _fitted(model):
    return {k for k in vars(model) if k.endswith("_") and not k.startswith("_")}


def _finite(name, value):
    value = np.asarray(value, dtype=np.float64)
    assert np.all(np.isfinite(value)), f"{name} holds NaN or inf: {value}"


def check_mixture(model, X, online):
    """A correct, finite mixture, and finite results of every method on ``X``."""
    weights = np.asarray(model.weights_, dtype=np.float64)
    _finite("weights_", weights)
    assert np.all(weights >= 0), weights
    if model.max_iter > 0 or online:
        # (With max_iter=0 the weights are the initial ones, as scikit-learn's: for
        # k-means++ and random_from_data starts they sum to K / N.)
        assert abs(weights.sum() - 1.0) < 1e-5, weights
    _finite("means_", model.means_)
    if model.max_iter > 0 or online:
        _finite("lower_bound_", model.lower_bound_)
    _finite("lower_bounds_", model.lower_bounds_)
    if isinstance(model, GaussianMixture):
        for name in ("covariances_", "precisions_", "precisions_cholesky_"):
            _finite(name, getattr(model, name))
        cov = np.asarray(model.covariances_, dtype=np.float64)
        kind = model.covariance_type
        if kind in ("full", "tied"):
            stack = cov if kind == "full" else cov[None]
            for k, c in enumerate(stack):
                # positive definite: a Cholesky factorisation exists
                try:
                    np.linalg.cholesky(c)
                except np.linalg.LinAlgError:
                    raise AssertionError(f"covariance {k} is not positive definite: {c}") from None
        else:
            assert np.all(cov > 0), cov
    else:
        means = np.asarray(model.means_)
        assert np.all((means >= 0) & (means <= 1)), means
    check_rows(model, X)
    rows, labels = model.sample(3)
    _finite("sample", rows)
    assert labels.shape == (3,)
    for name in ("bic", "aic"):
        value = getattr(model, name)(X)
        assert not np.isnan(value), name


def check_rows(model, X, n_components=None):
    """predict, predict_proba, score_samples and score on ``X``: shapes and finiteness."""
    n = X.shape[0]
    n_components = model.n_components if n_components is None else n_components
    labels = model.predict(X)
    assert labels.shape == (n,) and np.all((labels >= 0) & (labels < n_components))
    proba = model.predict_proba(X)
    _finite("predict_proba", proba)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    log_prob = model.score_samples(X)
    assert log_prob.shape == (n,) and not np.any(np.isnan(log_prob))
    assert not np.any(log_prob == np.inf)
    assert not np.isnan(model.score(X))


def run(fit, check, case):
    """``fit()`` then ``check(model)``; or a ValueError/TypeError with a message.

    Warnings: a few (ConvergenceWarning, a selector's "degenerate" warning) may
    come; a RuntimeWarning (overflow, invalid value) or a storm is a failure.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = fit()
        except (ValueError, TypeError) as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            OUTCOMES[str(exc)[:60]] += 1
            return None
        OUTCOMES["fitted"] += 1
        check(model)
    numerical = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not numerical, [f"{w.category.__name__}: {w.message}" for w in numerical]
    assert len(caught) <= 4, [f"{w.category.__name__}: {w.message}" for w in caught]
    return model


def check_mixture_case(cls, case):
    data, X = case.data()
    weight = None if case.layout == "chunks" else case.sample_weight()
    model = cls(**case.params)

    def fit():
        try:
            return model.fit(data, sample_weight=weight, **case.fit_args)
        except (ValueError, TypeError):
            assert not _fitted(model), f"a failed fit left {_fitted(model)}"
            raise

    fitted = run(fit, lambda m: check_mixture(m, _float_rows(X), bool(case.fit_args)), case)
    if fitted is None:
        return
    # Methods that fit again: fit_predict and one online step on the rows.
    if not case.fit_args:
        labels = run(
            lambda: cls(**case.params).fit_predict(data, sample_weight=weight), _pass, case
        )
        if labels is not None:
            assert labels.shape == (X.shape[0],)
    if fitted.warm_start:  # continues from the fitted model
        run(lambda: fitted.fit(data, sample_weight=weight, **case.fit_args), _pass, case)
    path = _MEMMAPS / "model.npz"
    fitted.set_params(callback=None).save(path)
    loaded = fastem.load(path)
    rows = _float_rows(X)
    np.testing.assert_array_equal(loaded.predict(rows), fitted.predict(rows))
    if X.dtype != object and X.shape[0] >= fitted.n_components and weight is None:
        run(lambda: fitted.partial_fit(X), lambda m: check_mixture(m, _float_rows(X), True), case)


def _pass(_):
    pass


def _float_rows(X):
    return np.asarray(X, dtype=np.float64) if X.dtype == object else X


@CI
@given(gaussian_cases())
def test_gaussian_mixture(case):
    check_mixture_case(GaussianMixture, case)


@CI
@given(bernoulli_cases())
def test_bernoulli_mixture(case):
    check_mixture_case(BernoulliMixture, case)


@CI
@given(kmeans_cases())
def test_kmeans(case):
    check_kmeans_case(case)


def check_kmeans_case(case):
    data, X = case.data()
    weight = None if case.layout == "chunks" else case.sample_weight()
    model = fastem.KMeans(**case.params)

    def check(m):
        centers = np.asarray(m.cluster_centers_, dtype=np.float64)
        _finite("cluster_centers_", centers)
        _finite("inertia_", m.inertia_)
        assert m.inertia_ >= 0
        rows = _float_rows(X)
        labels = m.predict(rows)
        assert np.all((labels >= 0) & (labels < m.n_clusters))
        _finite("transform", m.transform(rows))
        assert not np.isnan(m.score(rows))

    if run(lambda: model.fit(data, sample_weight=weight), check, case) is None:
        return
    rows = _float_rows(X)
    run(lambda: fastem.KMeans(**case.params).fit_transform(rows), _finite_result, case)
    run(lambda: fastem.KMeans(**case.params).fit_predict(rows), _pass, case)
    if X.shape[0] >= model.n_clusters:
        run(lambda: model.partial_fit(rows), check, case)


def _finite_result(result):
    _finite("result", result)


@CI
@given(selector_cases())
def test_mixture_selector(case):
    check_selector_case(case)


def check_selector_case(case):
    data, X = case.data()
    weight = case.sample_weight()
    selector = fastem.MixtureSelector(GaussianMixture(max_iter=20), **case.params)

    def check(s):
        rows = _float_rows(X)
        check_mixture(s.best_estimator_, rows, False)
        check_rows(s, rows, s.best_estimator_.n_components)
        _finite("sample", s.sample(2)[0])
        assert not np.isnan(s.bic(rows)) and not np.isnan(s.aic(rows))

    run(lambda: selector.fit(data, sample_weight=weight), check, case)


@st.composite
def imputer_cases(draw):
    X = draw(values())
    params = {
        "n_components": draw(st.sampled_from([1, 2, 3])),
        "covariance_type": draw(st.sampled_from(["full", "tied", "diag", "spherical"])),
        "max_iter": draw(st.sampled_from([1, 20])),
        "init_params": draw(st.sampled_from(["kmeans", "random_from_data"])),
        "sample_posterior": draw(st.booleans()),
        "random_state": draw(st.integers(0, 3)),
    }
    return Case(X, _dtype(draw, X, ["float64", "float32"]), "C", None, params)


@CI
@given(imputer_cases())
def test_mixture_imputer(case):
    X = case.data()[0]
    missing = np.isnan(np.asarray(X, dtype=np.float64))

    def check(imputer):
        filled = imputer.transform(X)
        assert filled.shape == X.shape
        _finite("transform", filled)
        # Observed values pass through unchanged.
        observed = np.asarray(X, dtype=np.float64)[~missing]
        np.testing.assert_array_equal(np.asarray(filled, dtype=np.float64)[~missing], observed)

    run(lambda: fastem.MixtureImputer(**case.params).fit(X), check, case)


# -- failing examples found by the fuzzing, kept as regression tests ------------------------------
@pytest.mark.parametrize("value", [1e155, 1e300, -1e300])
@pytest.mark.parametrize("layout", ["memory", "chunks"])
def test_regression_zero_weight_row_beyond_the_squares(value, layout):
    """A row of weight 0 with |x| > 1e154: x**2 overflowed, 0 * inf made NaN statistics."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 6.0])
    w = np.ones(60)
    X[7], w[7] = value, 0.0
    reference = GaussianMixture(2, random_state=0).fit(np.delete(X, 7, axis=0))
    data = X if layout == "memory" else [X[:20], X[20:40], X[40:]]
    weights = w if layout == "memory" else None
    if layout == "chunks":
        data = [(X[i : i + 20], w[i : i + 20]) for i in range(0, 60, 20)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GaussianMixture(2, random_state=0).fit(data, sample_weight=weights)
    np.testing.assert_allclose(np.sort(model.means_, axis=0), np.sort(reference.means_, axis=0))
    assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("layout", ["memory", "chunks"])
def test_regression_finite_data_too_large(layout):
    """Finite data around 1e200 was reported as "contains NaN or infinity"."""
    X = np.random.default_rng(0).normal(size=(50, 2)) * 1e200
    data = X if layout == "memory" else [X[:25], X[25:]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"finite values up to .*too large.*Scale the data"):
            GaussianMixture(2).fit(data)
    model = GaussianMixture(2, random_state=0).fit(X / 1e200)
    with pytest.raises(ValueError, match="too large"):
        model.predict(X)


def test_regression_float32_precision_overflow():
    """float32 rows of one value with a tiny reg_covar: a precision of 1e300 became inf."""
    X = np.array([[1.25730221e-301], [-1.32104863e-301]]).astype(np.float32)  # zeros
    for fit_args in ({}, {"mode": "online", "batch_size": 1}):
        model = GaussianMixture(1, reg_covar=1e-300, max_iter=0, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            with pytest.raises(ValueError, match="do not fit in float32.*float64 data"):
                model.fit(X, **fit_args)
        assert not hasattr(model, "weights_")
    model = GaussianMixture(1, reg_covar=1e-30, max_iter=0).fit(X)
    assert np.all(np.isfinite(model.precisions_))


@pytest.mark.parametrize("weight", [1.0, 1e-300])
def test_regression_initial_weights_and_sample(weight):
    """max_iter=0: scikit-learn's (N_k + 10 eps) / N weights exceeded 1 (one component,
    or tiny sample weights, where the eps dominates) and sample() failed."""
    X = np.array([[1.2e-11], [-1.3e-11], [6.4e-11]])
    for k in (1, 3):
        model = GaussianMixture(k, max_iter=0, reg_covar=1e-6, random_state=0)
        model.fit(X, sample_weight=np.full(3, weight))
        assert np.all(model.weights_ <= 1.0) and np.isfinite(model.weights_).all()
        rows, labels = model.sample(5)
        assert np.isfinite(rows).all() and labels.shape == (5,)
        np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_regression_online_first_batch_smaller_than_k():
    """batch_size < n_components: numpy's "Cannot take a larger sample" leaked out."""
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="first mini-batch.*batch_size of at least"):
        GaussianMixture(3, init_params="random_from_data").fit(X, mode="online", batch_size=2)


def test_regression_online_batches_of_weight_zero():
    """A mini-batch whose weights are all 0 normalised its statistics by 0 (NaN)."""
    X = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    w = np.where(np.arange(40) % 2 == 0, 1.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = GaussianMixture(1, random_state=0).fit(
            X, sample_weight=w, mode="online", batch_size=1, n_epochs=2
        )
    assert np.isfinite(model.means_).all() and np.isfinite(model.lower_bounds_).all()
    assert model.n_iter_ == 40  # the 40 rows of weight 1, two epochs
