"""TabularMixture: inputs, column-type inference, results, save/load and bad input."""

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import TabularMixture
from tabular_common import KINDS, make_table, model_params


@pytest.fixture(scope="module")
def table():
    return make_table(200, seed=11, missing=0.1)[0]


@pytest.fixture(scope="module")
def fitted(table):
    return TabularMixture(2, random_state=0).fit(table)


def assert_same_fit(a, b):
    for name, value in model_params(a).items():
        other = model_params(b)[name]
        if isinstance(value, list):
            for x, y in zip(value, other, strict=True):
                assert_allclose(x, y, rtol=1e-12, atol=1e-12)
        else:
            assert_allclose(value, other, rtol=1e-12, atol=1e-12)


# -- inputs -------------------------------------------------------------------------------------
def test_pyarrow_gives_the_pandas_fit(table, fitted):
    other = pa.Table.from_pandas(table)
    model = TabularMixture(2, random_state=0).fit(other)
    assert model.column_types_ == KINDS
    assert_same_fit(model, fitted)
    assert_allclose(model.predict_proba(other), fitted.predict_proba(table), atol=1e-12)


def test_polars_gives_the_pandas_model(table, fitted):
    # Polars keeps a categorical's levels in its own order, so the start (and the
    # labels) may differ: the model, seen through its likelihood, may not.
    other = pl.from_pandas(table)
    model = TabularMixture(2, random_state=0).fit(other)
    assert model.column_types_ == KINDS
    assert_allclose(model.lower_bound_, fitted.lower_bound_, rtol=1e-10)
    assert_allclose(model.score_samples(other), fitted.score_samples(table), rtol=1e-9)
    assert_allclose(np.sort(model.weights_), np.sort(fitted.weights_), rtol=1e-9)


def test_numpy_with_column_types_list():
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.normal(size=60), rng.integers(0, 2, 60), rng.integers(0, 4, 60), rng.poisson(2, 60)]
    ).astype(float)
    X[3, 1] = np.nan
    kinds = ["gaussian", "bernoulli", "categorical", "poisson"]
    model = TabularMixture(2, column_types=kinds, random_state=0).fit(X)
    assert model.column_types_ == dict(enumerate(kinds))
    assert not hasattr(model, "feature_names_in_")
    drawn, labels = model.sample(7)
    assert drawn.shape == (7, 4) and labels.shape == (7,)
    assert set(np.unique(drawn[:, 2])) <= {0.0, 1.0, 2.0, 3.0}


def test_auto_inference_rules():
    frame = pd.DataFrame(
        {
            "f": [0.5, 1.5, 2.5, 3.5, 0.1, 0.2],
            "flag": [True, False, True, True, False, False],
            "zero_one": [0, 1, 1, 0, 1, 0],
            "two": [1, 2, 2, 1, 1, 2],
            "count": [0, 3, 5, 2, 1, 0],
            "signed": [-1, 3, 5, 2, 1, 0],
            "word": ["a", "b", "c", "a", "b", None],
            "cat": pd.Categorical(["u", "v", "u", "v", "u", "v"]),
        }
    )
    model = TabularMixture(1).fit(frame)
    assert model.column_types_ == {
        "f": "gaussian",
        "flag": "bernoulli",
        "zero_one": "bernoulli",
        "two": "bernoulli",
        "count": "poisson",
        "signed": "gaussian",
        "word": "categorical",
        "cat": "categorical",
    }
    override = TabularMixture(1, column_types={"count": "categorical", "f": "gaussian"}).fit(frame)
    assert override.column_types_["count"] == "categorical"
    profile = override.describe()
    assert_allclose(profile.loc[("count", "P(0)"), "class 0"], 2 / 6, atol=1e-8)
    assert_allclose(profile.loc[("two", "P(2)"), "class 0"], 0.5, atol=1e-8)
    assert_allclose(profile.loc[("word", "P(a)"), "class 0"], 2 / 5, atol=1e-8)
    assert_allclose(profile.loc[("f", "mean"), "class 0"], frame["f"].mean())


def test_profiles_and_results(table, fitted):
    profiles = fitted.profiles_
    assert list(profiles.columns) == ["class 0", "class 1"]
    assert_allclose(profiles.loc[("weight", "")].to_numpy(), fitted.weights_)
    for column in ("c1", "c2", "b1", "b2"):
        assert_allclose(profiles.loc[column].sum().to_numpy(), 1.0, atol=1e-12)
    n = table.shape[0]
    assert fitted.predict(table).shape == (n,)
    assert_allclose(fitted.predict_proba(table).sum(axis=1), 1.0)
    assert_allclose(fitted.score(table), fitted.score_samples(table).mean())
    k = fitted._n_parameters()
    # 2 gaussian x 2 + 2 bernoulli + (3 - 1) + (4 - 1) levels + 1 rate, per class; 1 weight
    assert k == 2 * (4 + 2 + 5 + 1) + 1
    assert_allclose(fitted.bic(table), -2 * fitted.score(table) * n + k * np.log(n))
    assert_allclose(fitted.aic(table), -2 * fitted.score(table) * n + 2 * k)


def test_sample_keeps_names_dtypes_and_categories(table, fitted):
    drawn, labels = fitted.sample(50)
    assert list(drawn.columns) == list(table.columns)
    assert drawn["c2"].dtype == "category"
    assert list(drawn["c2"].cat.categories) == list(table["c2"].cat.categories)
    assert drawn["g1"].dtype == np.float64
    assert drawn["p1"].dtype.kind in "iu" or str(drawn["p1"].dtype) == "Int64"
    assert set(drawn["b1"].unique()) <= {True, False}
    assert np.bincount(labels, minlength=2).sum() == 50


def test_save_load_round_trip(tmp_path, table):
    model = TabularMixture(2, column_types={"p1": "categorical"}, random_state=0, max_iter=20).fit(
        table
    )
    model.save(tmp_path / "m.npz")
    loaded = fastem.load(tmp_path / "m.npz")
    assert loaded.column_types_ == model.column_types_
    assert_allclose(loaded.predict_proba(table), model.predict_proba(table), atol=0)
    assert_array_equal(loaded.sample(20)[0]["c1"], model.sample(20)[0]["c1"])
    refit = loaded.fit(table)
    assert refit.column_types_["p1"] == "categorical"


def test_n_init_and_warm_start(table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single = TabularMixture(3, random_state=1, max_iter=5).fit(table)
        best = TabularMixture(3, random_state=1, max_iter=5, n_init=3).fit(table)
        assert best.lower_bound_ >= single.lower_bound_ - 1e-12
        warm = TabularMixture(3, random_state=1, max_iter=5, warm_start=True).fit(table)
        first = warm.lower_bounds_[-1]
        warm.fit(table)
        assert warm.lower_bounds_[0] >= first - 1e-12


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random", "random_from_data"])
def test_initialisations_fit(table, init):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = TabularMixture(2, init_params=init, random_state=0, max_iter=30).fit(table)
    assert np.isfinite(model.lower_bound_)


def test_unknown_levels(table, fitted):
    other = table.copy()
    other["c1"] = other["c1"].cat.add_categories(["new"])
    other.loc[0, "c1"] = "new"
    with pytest.raises(ValueError, match="Column 'c1'.*not among the levels.*'new'"):
        fitted.predict(other)
    lenient = fitted.set_params(handle_unknown="missing")
    try:
        as_missing = table.copy()
        as_missing.loc[0, "c1"] = np.nan
        assert_allclose(lenient.score_samples(other), lenient.score_samples(as_missing))
    finally:
        fitted.set_params(handle_unknown="error")


def test_categories_in_any_order_encode_as_their_values(table, fitted):
    # Category columns are encoded through their codes: other category orders, unused
    # categories and plain object columns of the same values must give the same rows.
    reordered = table.copy()
    reordered["c1"] = reordered["c1"].cat.reorder_categories(
        list(reordered["c1"].cat.categories[::-1])
    )
    reordered["c2"] = reordered["c2"].cat.add_categories(["unused"])
    as_objects = table.copy()
    for name in ("c1", "c2"):
        as_objects[name] = as_objects[name].astype(object)
    want = fitted.score_samples(table)
    assert_allclose(fitted.score_samples(reordered), want, rtol=0, atol=0)
    assert_allclose(fitted.score_samples(as_objects), want, rtol=0, atol=0)


# -- bad input ------------------------------------------------------------------------------------
def test_unknown_kind_names_the_column(table):
    with pytest.raises(ValueError, match="Column 'g1' has the unknown kind 'normal'"):
        TabularMixture(column_types={"g1": "normal"}).fit(table)
    with pytest.raises(ValueError, match="names column 'nope'"):
        TabularMixture(column_types={"nope": "gaussian"}).fit(table)


@pytest.mark.parametrize(
    "values, message",
    [([0, 1, -2, 3], "poisson but holds negative values"), ([0, 1.5, 2, 3], "non-integer value")],
)
def test_bad_counts_name_the_column(values, message):
    frame = pd.DataFrame({"n": values, "x": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(ValueError, match=f"Column 'n'.*{message}"):
        TabularMixture(column_types={"n": "poisson"}).fit(frame)


def test_categorical_with_one_level():
    frame = pd.DataFrame({"c": ["a", "a", "a"], "x": [0.1, 0.2, 0.3]})
    with pytest.raises(ValueError, match="Column 'c' is categorical with 1 level"):
        TabularMixture().fit(frame)


def test_columns_changed_between_fit_and_predict(table, fitted):
    with pytest.raises(ValueError, match="c2"):
        fitted.predict(table.drop(columns=["c2"]))
    with pytest.raises(ValueError, match="g1"):
        fitted.predict(table.rename(columns={"g1": "G1"}))
    broken = table.copy()
    broken["p1"] = -broken["p1"]
    with pytest.raises(ValueError, match="Column 'p1'.*negative"):
        fitted.predict(broken)


def test_column_never_observed_and_failed_fit_leaves_model(table, fitted):
    before = {k: v for k, v in vars(fitted).items()}
    empty = table.copy()
    empty["g2"] = np.nan
    with pytest.raises(ValueError, match="'g2' has no observed value"):
        fitted.fit(empty)
    assert vars(fitted).keys() == before.keys()
    assert_array_equal(fitted.weights_, before["weights_"])


def test_infinity_names_the_column(table):
    bad = table.copy()
    bad.loc[3, "g1"] = np.inf
    with pytest.raises(ValueError, match="Column 'g1' holds infinity"):
        TabularMixture().fit(bad)


def test_checkpointed_fit_equals_plain_fit(tmp_path, table):
    kwargs = {"column_types": {"p1": "categorical"}, "random_state": 0, "max_iter": 15}
    plain = TabularMixture(2, **kwargs).fit(table)
    checked = TabularMixture(2, **kwargs).fit(table, checkpoint=tmp_path / "fit.ckpt")
    assert_same_fit(checked, plain)
    assert checked.lower_bounds_ == plain.lower_bounds_


def test_numpy_object_array_with_text_levels():
    X = np.array(
        [[1.5, "a", 1], [2.5, "b", 0], [0.3, "a", 1], [1.1, None, 0], [0.9, "c", 1]], dtype=object
    )
    kinds = ["gaussian", "categorical", "bernoulli"]
    model = TabularMixture(1, column_types=kinds).fit(X)
    profile = model.describe()["class 0"]
    assert_allclose(profile[(1, "P(a)")], 0.5, atol=1e-8)  # the None cell is missing
    assert_allclose(profile[(0, "mean")], np.mean([1.5, 2.5, 0.3, 1.1, 0.9]))
    drawn, _ = model.sample(4)
    assert drawn.dtype == object and set(drawn[:, 1]) <= {"a", "b", "c"}
    with pytest.raises(ValueError, match="Column 1 \\(categorical\\).*'zz'"):
        model.predict(np.array([[1.0, "zz", 1]], dtype=object))
