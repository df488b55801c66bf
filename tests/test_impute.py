"""MixtureImputer and the conditional kernel, against a plain NumPy/SciPy per-row reference.

Conditional expectations for every covariance type; conditional draws with the
right mean and covariance; scikit-learn composition (Pipeline, DataFrames,
feature names); quality on the wine data against scikit-learn's imputers.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.datasets import load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastem import BernoulliMixture, GaussianMixture, MixtureImputer
from fastem.impute import full_covariances, impute, missingness_patterns

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def reference_fill(X, weights, means, covariances):
    """Conditional expectations of the NaN entries, row by row, by the textbook formulas."""
    out = X.copy()
    for i, row in enumerate(X):
        m = np.isnan(row)
        if not m.any():
            continue
        o = ~m
        log_post = np.log(weights).copy()
        conditional = []
        for k, (mu, S) in enumerate(zip(means, covariances, strict=True)):
            if o.any():
                log_post[k] += multivariate_normal(mu[o], S[np.ix_(o, o)]).logpdf(row[o])
                gain = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T
                conditional.append(mu[m] + gain @ (row[o] - mu[o]))
            else:
                conditional.append(mu[m])
        post = np.exp(log_post - logsumexp(log_post))
        out[i, m] = post @ np.array(conditional)
    return out


def correlated(n=400, seed=0):
    """Rows from two correlated Gaussian clusters in 4 dimensions."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(4, 4))
    first = rng.multivariate_normal(np.zeros(4), A @ A.T + np.eye(4), size=n // 2)
    second = rng.multivariate_normal(np.full(4, 4.0), np.eye(4) + 0.5, size=n - n // 2)
    return np.vstack([first, second])


def with_nan(X, fraction=0.25, seed=1):
    rng = np.random.default_rng(seed)
    X = X.copy()
    X[rng.uniform(size=X.shape) < fraction] = np.nan
    X[0] = np.nan  # every value missing
    return X


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_conditional_expectation_matches_reference(covariance_type):
    X = correlated()
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    Xn = with_nan(X)
    got = impute(gm, Xn)
    covariances = full_covariances(gm)
    expected = reference_fill(Xn, gm.weights_, gm.means_, covariances)
    assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    assert_array_equal(got[~np.isnan(Xn)], Xn[~np.isnan(Xn)])
    assert_allclose(got[0], gm.weights_ @ gm.means_, rtol=1e-12)


def test_full_covariances_of_each_type():
    # The full form inverts to the mixture's own precisions, whatever the type.
    X = correlated(200)
    eye = np.eye(4)
    for kind in COVARIANCE_TYPES:
        gm = GaussianMixture(2, covariance_type=kind, random_state=0).fit(X)
        full = full_covariances(gm)
        assert full.shape == (2, 4, 4) and full.flags.c_contiguous
        p = gm.precisions_
        if kind == "tied":
            p = np.stack([p, p])
        elif kind == "diag":
            p = p[:, :, None] * eye
        elif kind == "spherical":
            p = p[:, None, None] * eye
        assert_allclose(np.linalg.inv(full), p, rtol=1e-10, atol=1e-12)


def test_patterns_group_rows():
    mask = np.array([[0, 1, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0], [1, 1, 0]], dtype=bool)
    order, starts = missingness_patterns(mask)
    groups = [order[a:b].tolist() for a, b in zip(starts[:-1], starts[1:], strict=True)]
    assert sorted(groups) == [[0, 3], [2, 4]]
    order, starts = missingness_patterns(np.zeros((3, 2), dtype=bool))
    assert order.size == 0 and starts.tolist() == [0]


def test_draws_have_the_conditional_moments():
    # One row observed on its first two coordinates, repeated: its draws must
    # have the mixture's conditional mean and covariance.
    X = correlated(600)
    gm = GaussianMixture(2, random_state=0).fit(X)
    n = 20000
    rows = np.tile([1.5, 2.0, np.nan, np.nan], (n, 1))
    draws = impute(gm, rows, sample_posterior=True, random_state=0)[:, 2:]
    S, mu = full_covariances(gm), gm.means_
    o, m = [0, 1], [2, 3]
    log_post = np.log(gm.weights_) + [
        multivariate_normal(mu[k, o], S[k][np.ix_(o, o)]).logpdf(rows[0, o]) for k in range(2)
    ]
    post = np.exp(log_post - logsumexp(log_post))
    means, covs = [], []
    for k in range(2):
        gain = np.linalg.solve(S[k][np.ix_(o, o)], S[k][np.ix_(o, m)]).T
        means.append(mu[k, m] + gain @ (rows[0, o] - mu[k, o]))
        covs.append(S[k][np.ix_(m, m)] - gain @ S[k][np.ix_(o, m)])
    mean = post @ np.array(means)
    cov = sum(p * (c + np.outer(a, a)) for p, c, a in zip(post, covs, means, strict=True))
    cov -= np.outer(mean, mean)
    # Standard errors of the mean and of the covariance from n draws: within 5 of them.
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * se)
    se_cov = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
    assert np.all(np.abs(np.cov(draws.T) - cov) < 5 * se_cov)
    assert_array_equal(impute(gm, rows, sample_posterior=True, random_state=0)[:, 2:], draws)


def test_imputer_fits_the_mixture_on_every_row():
    X = with_nan(correlated())
    imputer = MixtureImputer(2, random_state=0, tol=1e-6).fit(X)
    direct = GaussianMixture(2, random_state=0, tol=1e-6).fit(X)
    assert_allclose(imputer.mixture_.means_, direct.means_, rtol=1e-12)
    assert not np.isnan(imputer.transform(X)).any()
    assert_allclose(imputer.transform(X), impute(direct, X), rtol=1e-12)


def test_sample_posterior_is_reproducible_and_varies():
    X = with_nan(correlated())
    a = MixtureImputer(2, sample_posterior=True, random_state=3).fit(X)
    b = MixtureImputer(2, sample_posterior=True, random_state=3).fit(X)
    first = a.transform(X)
    assert_array_equal(first, b.transform(X))
    second = a.transform(X)
    missing = np.isnan(X)
    assert np.all(first[missing] != second[missing])
    assert_array_equal(first[~missing], X[~missing])


def test_pipeline_and_dataframes():
    import pandas as pd

    X = correlated()
    y = X[:, 0] + X[:, 1]
    Xn = with_nan(X)
    pipe = make_pipeline(MixtureImputer(2, random_state=0), LinearRegression()).fit(Xn, y)
    assert pipe.score(Xn, y) > 0.5
    frame = pd.DataFrame(Xn, columns=["a", "b", "c", "d"], index=np.arange(len(Xn)) + 10)
    imputer = MixtureImputer(2, random_state=0).set_output(transform="pandas")
    out = imputer.fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["a", "b", "c", "d"] and out.index.equals(frame.index)
    assert_array_equal(imputer.get_feature_names_out(), ["a", "b", "c", "d"])
    assert not out.isna().any().any()


def test_float32_stays_float32():
    X = with_nan(correlated()).astype(np.float32)
    out = MixtureImputer(2, random_state=0).fit_transform(X)
    assert out.dtype == np.float32 and not np.isnan(out).any()


def test_bad_models_and_input():
    X = correlated(100)
    with pytest.raises(TypeError, match="needs a fitted GaussianMixture, got BernoulliMixture"):
        impute(BernoulliMixture().fit(X > 0), with_nan(X))
    Xn = with_nan(X)
    Xn[:, 2] = np.nan
    with pytest.raises(ValueError, match="no observed value"):
        MixtureImputer().fit(Xn)
    Xn = with_nan(X)
    Xn[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        MixtureImputer().fit(Xn)
    fitted = MixtureImputer().fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        fitted.transform(X[:, :3])


def wine_rmse(imputer, seed=0):
    """RMSE of ``imputer`` on the standardised wine data with 20 % of the values removed."""
    X = StandardScaler().fit_transform(load_wine().data)
    mask = np.random.default_rng(seed).uniform(size=X.shape) < 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IterativeImputer's ConvergenceWarning
        out = imputer.fit_transform(np.where(mask, np.nan, X))
    return float(np.sqrt(np.mean((out - X)[mask] ** 2)))


def test_wine_beats_mean_imputation():
    mixture = wine_rmse(MixtureImputer(random_state=0))
    mean = wine_rmse(SimpleImputer(strategy="mean"))
    iterative = wine_rmse(IterativeImputer(random_state=0, max_iter=30))
    print(
        f"wine RMSE: MixtureImputer {mixture:.4f}, IterativeImputer {iterative:.4f}, "
        f"SimpleImputer(mean) {mean:.4f}"
    )
    assert mixture < 0.8 * mean
    assert mixture < iterative
