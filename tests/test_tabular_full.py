"""TabularMixture(covariance_type="full"): one full-covariance block over the gaussian columns.

Against the plain NumPy reference (marginal densities of the observed cells,
conditional expectations in the M-step), and the invariants: monotone
likelihood, K=1 is the maximum-likelihood estimate, chunked == in-memory,
results, sampling, save/load.
"""

import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import fastem
import tabular_reference as ref
from fastem import TabularMixture
from tabular_common import N_LEVELS, fit_from, make_table, model_params, start_params

REG = {"reg_covar": 1e-3, "alpha": 0.25, "covariance_type": "full"}


def assert_params_close(got, want, atol=1e-10):
    for name in ("weights", "means", "variances", "covariances", "probs", "rates"):
        assert_allclose(got[name], want[name], rtol=0, atol=atol, err_msg=name)
    for g, w in zip(got["levels"], want["levels"], strict=True):
        assert_allclose(g, w, rtol=0, atol=atol, err_msg="levels")


@pytest.mark.parametrize("missing, weighted", [(0.0, False), (0.15, True)])
def test_full_em_step_matches_reference(missing, weighted):
    frame, cells, _ = make_table(200, seed=2, missing=missing)
    if missing:
        frame.loc[:9, ["g1", "g2"]] = np.nan  # rows with no gaussian cell at all
        cells[0][:10] = np.nan
    sw = np.random.default_rng(5).uniform(0.2, 3.0, 200) if weighted else None
    p0 = start_params(3, full=True)
    for n_iter in (1, 3):
        model = fit_from(frame, p0, n_iter, sample_weight=sw, **REG)
        params, bounds = p0, []
        for _ in range(n_iter):
            params, ll = ref.em_step(*cells, params, REG["reg_covar"], REG["alpha"], sw)
            bounds.append(ll)
        assert model.covariances_.shape == (3, 2, 2)
        assert_params_close(model_params(model), params)
        assert_allclose(model.lower_bounds_, bounds, rtol=1e-12, atol=1e-10)
    lj = ref.log_joint(*cells, model_params(model))
    assert_allclose(model.score_samples(frame), logsumexp(lj, axis=1), rtol=0, atol=1e-10)
    assert_allclose(
        model.predict_proba(frame), np.exp(lj - logsumexp(lj, axis=1)[:, None]), atol=1e-10
    )


def test_full_likelihood_never_decreases():
    frame, _, _ = make_table(400, seed=6, missing=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = TabularMixture(
            3, covariance_type="full", max_iter=40, tol=0.0, init_params="random", random_state=0
        ).fit(frame)
    bounds = model.lower_bounds_
    assert len(bounds) == 40
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


def test_full_one_component_is_the_mle():
    # Complete gaussian cells: the sample mean and (biased) covariance; the other
    # kinds, with holes, their per-column estimates.
    frame, cells, _ = make_table(250, seed=7, missing=0.2)
    G = np.column_stack(
        [np.random.default_rng(1).normal(size=250), np.random.default_rng(2).normal(size=250)]
    )
    G[:, 1] += 0.8 * G[:, 0]
    frame["g1"], frame["g2"] = G[:, 0], G[:, 1]
    model = TabularMixture(1, covariance_type="full", reg_covar=0.0, alpha=0.0).fit(frame)
    want = ref.per_column_mle(G, *cells[1:], N_LEVELS)
    got = model_params(model)
    assert_allclose(got["means"], G.mean(axis=0)[None], rtol=0, atol=1e-10)
    assert_allclose(got["covariances"][0], np.cov(G.T, bias=True), rtol=0, atol=1e-10)
    for name in ("weights", "probs", "rates"):
        assert_allclose(got[name], want[name], rtol=0, atol=1e-10, err_msg=name)
    for g, w in zip(got["levels"], want["levels"], strict=True):
        assert_allclose(g, w, rtol=0, atol=1e-10)


def test_full_parquet_by_batches_equals_in_memory(tmp_path):
    frame = make_table(300, seed=21, missing=0.1)[0]
    kwargs = {"covariance_type": "full", "random_state": 0, "tol": 1e-8, "max_iter": 30}
    in_memory = TabularMixture(2, **kwargs).fit(frame)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=50)
    chunked = TabularMixture(2, chunk_size=37, **kwargs).fit(path)
    assert chunked.n_iter_ == in_memory.n_iter_
    assert_allclose(chunked.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)
    assert_params_close(model_params(chunked), model_params(in_memory), atol=1e-12)


def test_full_results_sample_and_save(tmp_path):
    frame = make_table(300, seed=11, missing=0.1)[0]
    model = TabularMixture(2, covariance_type="full", random_state=0).fit(frame)
    K = 2
    assert model.covariances_.shape == (K, 2, 2)
    assert_allclose(model.variances_, np.diagonal(model.covariances_, axis1=1, axis2=2))
    profiles = model.profiles_
    assert_allclose(profiles.loc[("g2", "std")].to_numpy(), np.sqrt(model.covariances_[:, 1, 1]))
    assert_allclose(profiles.loc[("g1", "mean")].to_numpy(), model.means_[:, 0])
    # per class: 2 means + 3 covariance entries, 2 bernoulli, (3-1)+(4-1) levels, 1 rate
    k = model._n_parameters()
    assert k == K * (5 + 2 + 5 + 1) + K - 1
    n = frame.shape[0]
    assert_allclose(model.bic(frame), -2 * model.score(frame) * n + k * np.log(n))

    model.save(tmp_path / "m.npz")
    loaded = fastem.load(tmp_path / "m.npz")
    assert loaded.covariance_type == "full"
    assert_allclose(loaded.covariances_, model.covariances_, rtol=0, atol=0)
    assert_allclose(loaded.score_samples(frame), model.score_samples(frame), rtol=0, atol=0)

    truth = np.array([[[1.0, 0.6], [0.6, 0.5]], [[2.0, -0.9], [-0.9, 1.0]]])
    model.covariances_ = truth
    model.means_ = np.array([[0.0, 10.0], [4.0, 6.0]])
    model.weights_ = np.array([0.5, 0.5])
    model.random_state = 3
    drawn, labels = model.sample(20_000)
    for k in range(K):
        rows = drawn.loc[labels == k, ["g1", "g2"]].to_numpy()
        assert_allclose(rows.mean(axis=0), model.means_[k], atol=0.05)
        assert_allclose(np.cov(rows.T), truth[k], atol=0.06)
