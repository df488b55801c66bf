"""BernoulliMixture's estimator behaviour: what a fit recovers, prediction and criteria,
sampling, warm starts, restarts, verbose output and callbacks."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import bernoulli_reference as ref
from bernoulli_common import fit_from, start
from fastem import BernoulliMixture
from synthetic import make_binary


def test_sample_and_refit_recover_the_parameters():
    X, *_ = make_binary(n_samples=2000, n_features=15, n_components=3, seed=8)
    truth = BernoulliMixture(3, random_state=0).fit(X)
    n = 30_000
    truth.random_state = 1
    sample, labels = truth.sample(n)
    assert sample.dtype == X.dtype and set(np.unique(sample)) <= {0.0, 1.0}
    assert_array_equal(np.bincount(labels, minlength=3) > 0, True)
    refit = BernoulliMixture(3, random_state=2).fit(sample)
    # Match components by the closest probability vectors.
    cost = ((truth.means_[:, None, :] - refit.means_[None, :, :]) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    mu, mu_hat = truth.means_[rows], refit.means_[cols]
    n_k = truth.weights_[rows] * n
    # The components barely overlap, so their responsibilities are almost 0/1
    # and each estimate is a sample proportion over ~N_k rows: standard error
    # sqrt(mu (1 - mu) / N_k), and sqrt(w (1 - w) / N) for the weights. Five
    # standard errors (normal tail 6e-7, for 48 estimates < 3e-5 in total),
    # plus 1e-3 for the slight overlap, make the test fail only on a real bias.
    se_mu = np.sqrt(mu * (1 - mu) / n_k[:, None])
    assert np.all(np.abs(mu_hat - mu) <= 5 * se_mu + 1e-3)
    w, w_hat = truth.weights_[rows], refit.weights_[cols]
    assert np.all(np.abs(w_hat - w) <= 5 * np.sqrt(w * (1 - w) / n) + 1e-3)


def test_sample_returns_the_training_dtype():
    X, *_ = make_binary(n_samples=100)
    for data, dtype in [
        (X.astype(bool), np.bool_),
        (X.astype(np.uint8), np.uint8),
        (X.astype(np.float32), np.float32),
        (sp.csr_matrix(X.astype(np.int32)), np.int32),
    ]:
        bm = BernoulliMixture(2, random_state=0).fit(data)
        sample, labels = bm.sample(50)
        assert sample.dtype == dtype and sample.shape == (50, X.shape[1])
        assert labels.shape == (50,)
    with pytest.raises(ValueError, match="n_samples"):
        bm.sample(0)


def test_digits_clusters_far_better_than_chance():
    digits = load_digits()
    X = digits.data > 7
    bm = BernoulliMixture(10, random_state=0).fit(X)
    ari = adjusted_rand_score(digits.target, bm.predict(X))
    # Seeds 0-9 give ARI 0.50-0.62 (0.57 with seed 0); chance is 0, and a kernel
    # that gets the scores or the statistics wrong does not reach 0.45 nor the
    # likelihood below (seeds reach -19.26 to -19.33 nats per image).
    assert ari > 0.45
    assert bm.lower_bound_ > -19.6
    assert_allclose(bm.score(X), np.mean(ref.score_samples(X, bm.weights_, bm.means_)))
    assert_array_equal(bm.fit_predict(X), bm.predict(X))


def test_predict_api_and_criteria():
    X, labels, *_ = make_binary()
    bm = BernoulliMixture(3, random_state=0).fit(X)
    proba = bm.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(proba.argmax(axis=1), bm.predict(X))
    assert adjusted_rand_score(labels, bm.predict(X)) > 0.9
    log_l = ref.score_samples(X, bm.weights_, bm.means_).sum()
    n_params = 3 * X.shape[1] + 2
    assert_allclose(bm.bic(X), -2 * log_l + n_params * np.log(X.shape[0]))
    assert_allclose(bm.aic(sp.csr_matrix(X)), -2 * log_l + 2 * n_params)
    assert_allclose(
        bm.score(X, sample_weight=np.arange(X.shape[0])),
        np.average(ref.score_samples(X, bm.weights_, bm.means_), weights=np.arange(X.shape[0])),
    )


def test_warm_start_n_init_and_verbose(capsys):
    X, *_ = make_binary()
    w0, m0 = start(3, X.shape[1])
    bm = fit_from(X, w0, m0, 2, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bm.fit(X)  # continues for two more iterations from the fitted parameters
    weights, means, _ = ref.em(X, w0, m0, 1e-10, 4)
    assert_allclose(bm.means_, means, atol=1e-10)
    # The first of n_init initialisations draws what a single one draws.
    first = BernoulliMixture(3, random_state=0, init_params="random").fit(X)
    best = BernoulliMixture(3, random_state=0, init_params="random", n_init=3, verbose=2).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 2" in out
    bounds = [float(b) for b in re.findall(r"lower bound (-?[0-9.]+)\.", out)]
    assert len(bounds) == 3 and abs(bounds[0] - first.lower_bound_) < 1e-5
    assert best.lower_bound_ >= max(bounds) - 1e-5


def test_callback_stops_early_and_chunk_size_keeps_the_fit():
    X, *_ = make_binary()
    seen = []
    bm = BernoulliMixture(3, random_state=0, callback=lambda i, lb: seen.append(lb) or i == 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bm.fit(X)
    assert bm.n_iter_ == 2 and seen == bm.lower_bounds_
    w0, m0 = start(3, X.shape[1])
    chunked = fit_from(sp.csr_matrix(X), w0, m0, 5, chunk_size=64)
    assert_allclose(chunked.means_, fit_from(X, w0, m0, 5).means_, atol=1e-10)
