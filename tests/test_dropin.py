"""Drop-in behaviour next to scikit-learn: tables as input, its error texts, its edge cases."""

import re
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastem import BernoulliMixture, GaussianMixture
from fastem._seeding import kmeans_plusplus
from fastem.families import BernoulliFamily, GaussianFamily
from fastem.families.gaussian import SINGULAR_MESSAGE

COLUMNS = ["height", "weight", "age"]


def _gaussian_table():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (80, 3)), rng.normal(5, 1, (80, 3))])
    return X, pd.DataFrame(X, columns=COLUMNS)


def _binary_table():
    rng = np.random.RandomState(1)
    X = rng.uniform(size=(160, 3)) < np.repeat([[0.2, 0.8, 0.5], [0.9, 0.1, 0.5]], 80, 0)
    return X.astype(np.int64), pd.DataFrame(X.astype(np.int64), columns=COLUMNS)


ESTIMATORS = [
    pytest.param(lambda: GaussianMixture(2, random_state=0), _gaussian_table, id="gaussian"),
    pytest.param(lambda: BernoulliMixture(2, random_state=0), _binary_table, id="bernoulli"),
]


@pytest.mark.parametrize(("make", "data"), ESTIMATORS)
def test_dataframe_gives_the_array_fit_and_feature_names(make, data):
    X, df = data()
    on_array = make().fit(X)
    on_frame = make().fit(df)
    np.testing.assert_array_equal(on_frame.feature_names_in_, COLUMNS)
    assert not hasattr(on_array, "feature_names_in_")
    np.testing.assert_allclose(on_frame.means_, on_array.means_, rtol=1e-12)
    for method in ("predict", "predict_proba", "score_samples"):
        np.testing.assert_allclose(getattr(on_frame, method)(df), getattr(on_array, method)(X))
    assert on_frame.score(df) == pytest.approx(on_array.score(X), rel=1e-12)
    assert on_frame.bic(df) == pytest.approx(on_array.bic(X), rel=1e-12)
    assert on_frame.aic(df) == pytest.approx(on_array.aic(X), rel=1e-12)
    np.testing.assert_array_equal(make().fit_predict(df), on_array.predict(X))


@pytest.mark.parametrize(("make", "data"), ESTIMATORS)
def test_feature_names_are_checked_as_scikit_learn_checks_them(make, data):
    X, df = data()
    model = make().fit(df)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        model.predict(X)
    renamed = df.rename(columns={"height": "size"})
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(renamed)
    with pytest.raises(ValueError, match="feature names should match"):
        model.score_samples(df[COLUMNS[::-1]])


@pytest.mark.parametrize(("make", "data"), ESTIMATORS)
def test_partial_fit_on_dataframes(make, data):
    X, df = data()
    model = make()
    model.partial_fit(df.iloc[:100])
    model.partial_fit(df.iloc[100:])
    np.testing.assert_array_equal(model.feature_names_in_, COLUMNS)
    reference = make()
    reference.partial_fit(X[:100])
    reference.partial_fit(X[100:])
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-12)


@pytest.mark.parametrize(("make", "data"), ESTIMATORS)
@pytest.mark.parametrize("container", ["series", "list", "tuple"])
def test_sample_weight_containers(make, data, container):
    X, df = data()
    weights = np.random.RandomState(2).randint(1, 4, X.shape[0]).astype(float)
    wrapped = {"series": pd.Series(weights), "list": weights.tolist(), "tuple": tuple(weights)}
    expected = make().fit(X, sample_weight=weights)
    fitted = make().fit(df, sample_weight=wrapped[container])
    np.testing.assert_array_equal(fitted.means_, expected.means_)
    assert fitted.score(df, sample_weight=wrapped[container]) == pytest.approx(
        expected.score(X, sample_weight=weights), rel=1e-12
    )


@pytest.mark.parametrize("kind", ["polars", "pyarrow"])
def test_polars_and_pyarrow_tables_as_scikit_learn_reads_them(kind):
    X, df = _gaussian_table()
    table = pl.DataFrame(df) if kind == "polars" else pa.Table.from_pandas(df)
    ours = GaussianMixture(2, random_state=0).fit(table)
    theirs = SkGaussianMixture(2, random_state=0).fit(table)
    np.testing.assert_array_equal(ours.feature_names_in_, theirs.feature_names_in_)
    on_array = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(ours.means_, on_array.means_)
    np.testing.assert_allclose(ours.score_samples(table), on_array.score_samples(X))


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_singular_covariance_message_contains_scikit_learns_sentence(covariance_type):
    """Identical rows and no regularisation: a zero covariance, in both libraries."""
    X = np.tile([[2.0, -1.0, 0.5]], (30, 1))
    params = dict(n_components=1, covariance_type=covariance_type, reg_covar=0.0)
    with pytest.raises(ValueError) as info:
        GaussianMixture(**params).fit(X)
    message = str(info.value)
    assert message.startswith(SINGULAR_MESSAGE)
    where = "The covariance shared" if covariance_type == "tied" else "Component 0"
    assert where in message and "reg_covar is now 0" in message
    if covariance_type in ("diag", "spherical"):
        return  # scikit-learn's 10 * eps added to N_k leaves it a tiny positive variance.
    # The same sentence scikit-learn raises, so code that matches it keeps working.
    with pytest.raises(ValueError, match=re.escape(SINGULAR_MESSAGE)):
        SkGaussianMixture(**params).fit(X)


def test_collapsing_spherical_component_completes_as_in_scikit_learn():
    """scikit-learn's non-regression test for its issue 18216: no error, tiny variances."""
    rnd = np.random.RandomState(0)
    X = rnd.uniform(size=(30, 3))
    params = dict(
        covariance_type="spherical",
        reg_covar=0,
        means_init=np.array(
            [
                [0.670637869618158, 0.21038256107384043, 0.12892629765485303],
                [0.09394051075844147, 0.5759464955561779, 0.929296197576212],
                [0.5033230372781258, 0.9569852381759425, 0.08654043447295741],
                [0.18578301420435747, 0.5531158970919143, 0.19388943970532435],
                [0.4548589928173794, 0.35182513658825276, 0.568146063202464],
                [0.609279894978321, 0.7929063819678847, 0.9620097270828052],
            ]
        ),
        weights_init=[
            0.03333333333333341,
            0.03333333333333341,
            0.06666666666666674,
            0.06666666666666674,
            0.7000000000000001,
            0.10000000000000007,
        ],
        precisions_init=np.array(
            [
                999999.999604483,
                999999.9990869573,
                553.7603944542167,
                204.78596008931834,
                15.867423501783637,
                85.4595728389735,
            ]
        ),
        max_iter=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(6, **params).fit(X)
        theirs = SkGaussianMixture(6, **params).fit(X)
    assert np.all(ours.covariances_ > 0) and np.all(np.isfinite(ours.precisions_cholesky_))
    # The two collapsed components hold variances of round-off size in both libraries.
    assert np.all(ours.covariances_[:2] < 1e-12) and np.all(theirs.covariances_[:2] < 1e-12)
    np.testing.assert_allclose(ours.covariances_[2:], theirs.covariances_[2:], rtol=1e-9)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_score_is_the_mean_of_score_samples(dtype, covariance_type):
    X = np.random.RandomState(3).normal(size=(5000, 4)).astype(dtype)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert gm.score(X) == gm.score_samples(X).mean()


def _kmeans_plusplus_seed_values(family, X, w, seed):
    indices = kmeans_plusplus(family, X, w, family.n_components, np.random.RandomState(seed))
    return X[indices]


@pytest.mark.parametrize("family_kind", ["gaussian", "bernoulli"])
def test_kmeans_plusplus_seeds_ignore_row_order_and_equal_repeated_rows(family_kind):
    rng = np.random.RandomState(4)
    if family_kind == "gaussian":
        X = rng.normal(size=(40, 5))
        family = GaussianFamily("full", 4, 5)
    else:
        X = (rng.uniform(size=(40, 12)) < 0.4).astype(np.uint8)
        family = BernoulliFamily(4, 12)
    w = rng.randint(0, 4, 40).astype(float)
    for seed in range(5):
        seeds = _kmeans_plusplus_seed_values(family, X, w, seed)
        order = rng.permutation(40)
        shuffled = _kmeans_plusplus_seed_values(family, X[order], w[order], seed)
        repeated = _kmeans_plusplus_seed_values(
            family, np.repeat(X, w.astype(int), axis=0), np.empty(0), seed
        )
        np.testing.assert_array_equal(shuffled, seeds)
        np.testing.assert_array_equal(repeated, seeds)
        assert np.all(w[[np.flatnonzero((X == s).all(axis=1))[0] for s in seeds]] > 0)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_integer_weights_equal_repeated_shuffled_rows_with_the_default_initialisation(
    covariance_type,
):
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    w = rng.randint(0, 5, size=15)
    repeated = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(
        X.repeat(w, axis=0)
    )
    order = rng.permutation(15)
    weighted = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(
        X[order], sample_weight=w[order]
    )
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), atol=1e-9)
