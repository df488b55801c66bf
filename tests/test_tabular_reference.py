"""TabularMixture against the plain NumPy reference: EM steps, scores, K=1, monotonicity."""

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

import tabular_reference as ref
from fastem import TabularMixture
from fastem._settings import override
from fastem.kernels.tabular import categorical_groups
from tabular_common import (
    KINDS,
    N_LEVELS,
    fit_from,
    make_table,
    model_params,
    set_model_params,
    start_params,
)

REG = {"reg_covar": 1e-3, "alpha": 0.25}


def assert_params_close(got, want, atol=1e-10):
    for name in ("weights", "means", "variances", "probs", "rates"):
        assert_allclose(got[name], want[name], rtol=0, atol=atol, err_msg=name)
    for g, w in zip(got["levels"], want["levels"], strict=True):
        assert_allclose(g, w, rtol=0, atol=atol, err_msg="levels")


@pytest.mark.parametrize(
    "dtype, missing, weighted, table_bytes",
    [
        (np.float64, 0.0, False, None),
        (np.float64, 0.15, True, None),
        (np.float32, 0.15, False, None),
        (np.float32, 0.0, True, None),
        # Every categorical column alone instead of one joint code.
        (np.float64, 0.15, True, 1),
        (np.float32, 0.15, False, 1),
    ],
)
def test_em_step_matches_reference(dtype, missing, weighted, table_bytes):
    frame, cells, _ = make_table(300, seed=2, missing=missing, dtype=dtype)
    sw = np.random.default_rng(5).uniform(0.2, 3.0, 300) if weighted else None
    p0 = start_params(3)
    table = {} if table_bytes is None else {"categorical_table_bytes": table_bytes}
    for n_iter in (1, 3):
        with override(**table):
            model = fit_from(frame, p0, n_iter, sample_weight=sw, **REG)
        params, bounds = p0, []
        for _ in range(n_iter):
            params, ll = ref.em_step(*cells, params, REG["reg_covar"], REG["alpha"], sw)
            bounds.append(ll)
        assert model.column_types_ == KINDS
        assert_params_close(model_params(model), params)
        assert_allclose(model.lower_bounds_, bounds, rtol=1e-12, atol=1e-10)
    lj = ref.log_joint(*cells, model_params(model))
    with override(**table):
        scores, proba = model.score_samples(frame), model.predict_proba(frame)
    assert_allclose(scores, logsumexp(lj, axis=1), rtol=0, atol=1e-10)
    assert_allclose(proba, np.exp(lj - logsumexp(lj, axis=1)[:, None]), atol=1e-10)


@pytest.mark.parametrize("missing", [0.0, 0.15])
def test_counts_past_the_log_factorial_table(missing):
    # log x! is looked up below 1024 and computed above: both kinds of count share blocks.
    frame, (G, B, C, P), _ = make_table(300, seed=3, missing=missing)
    big = np.random.default_rng(7).uniform(size=(300, 1)) < 0.3
    P = np.where(big, P + 1500.0, P)
    frame = frame.assign(p1=pd.array([None if np.isnan(v) else int(v) for v in P[:, 0]], "Int64"))
    p0 = start_params(3)
    model = fit_from(frame, p0, 1, **REG)
    params, ll = ref.em_step(G, B, C, P, p0, REG["reg_covar"], REG["alpha"], None)
    assert_params_close(model_params(model), params)
    assert_allclose(model.lower_bounds_, [ll], rtol=1e-12)


@pytest.mark.parametrize(
    "n_levels, table_bytes, groups",
    [
        # A cap of 20 joint states (K=2): 4 x 5 fit, 6 x 3 fit.
        ([3, 4, 5, 2], 8 * 2 * 20, [0, 2, 4]),
        ([3, 4, 5, 2], 1, [0, 1, 2, 3, 4]),
        ([3, 4, 5, 2], 1 << 20, [0, 4]),
        # A column with more states than the cap stands alone.
        ([50, 3, 2], 8 * 2 * 20, [0, 1, 3]),
        ([], 1 << 20, [0]),
    ],
)
def test_categorical_groups(n_levels, table_bytes, groups):
    got = categorical_groups(np.array(n_levels, dtype=np.int64), 2, table_bytes)
    assert got.dtype == np.int64
    assert got.tolist() == groups


def test_weights_equal_repetition():
    frame, cells, _ = make_table(120, seed=4, missing=0.1)
    counts = np.random.default_rng(0).integers(0, 3, 120)
    p0 = start_params(2)
    weighted = fit_from(frame, p0, 3, sample_weight=counts.astype(float))
    repeated = fit_from(frame.loc[np.repeat(np.arange(120), counts)], p0, 3)
    assert_params_close(model_params(weighted), model_params(repeated), atol=1e-10)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-12)


def test_likelihood_never_decreases():
    frame, _, _ = make_table(500, seed=6, missing=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = TabularMixture(3, max_iter=40, tol=0.0, init_params="random", random_state=0)
        model.fit(frame)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12 * np.abs(model.lower_bounds_[1:]))


def test_one_component_is_the_per_column_mle():
    frame, cells, _ = make_table(250, seed=7, missing=0.2)
    model = TabularMixture(1, reg_covar=0.0, alpha=0.0).fit(frame)
    assert_params_close(model_params(model), ref.per_column_mle(*cells, N_LEVELS), atol=1e-10)


def test_sample_then_refit_recovers_parameters():
    frame, _, _ = make_table(300, seed=8)
    truth = TabularMixture(2, random_state=0).fit(frame)
    p = start_params(2, seed=9)
    p["means"] = np.array([[0.0, 10.0], [4.0, 6.0]])
    p["variances"] = np.array([[1.0, 0.25], [2.0, 0.5]])
    p["probs"] = np.array([[0.1, 0.7], [0.9, 0.3]])
    p["weights"] = np.array([0.4, 0.6])
    set_model_params(truth, p)
    truth.random_state = 3
    drawn, labels = truth.sample(40_000)
    assert list(drawn.columns) == list(KINDS)
    assert drawn["c1"].dtype == "category" and list(drawn["c1"].cat.categories) == list("xyz")
    assert drawn["b1"].dtype == "boolean" or drawn["b1"].dtype == bool
    refit = TabularMixture(2, random_state=0, n_init=2).fit(drawn)
    order = np.argsort(refit.means_[:, 0])
    got = model_params(refit)
    assert_allclose(refit.weights_[order], p["weights"], atol=0.02)
    assert_allclose(got["means"][order], p["means"], atol=0.05)
    assert_allclose(got["variances"][order], p["variances"], rtol=0.05)
    assert_allclose(got["probs"][order], p["probs"], atol=0.02)
    assert_allclose(got["rates"][order], p["rates"], rtol=0.05)
    for g, w in zip(got["levels"], p["levels"], strict=True):
        assert_allclose(g[order], w, atol=0.03)


def test_partial_fit_is_stepwise_em():
    # Online EM from known parameters on two batches: the first batch's statistics
    # replace the running ones (one EM step on it); the second's are blended in with
    # step rho = 3 ** -decay, so the parameters are the M-step of the first batch's
    # responsibilities (under p0) weighted (1 - rho) / W1 and the second's (under the
    # first step's parameters) weighted rho / W2.
    frame, cells, _ = make_table(300, seed=12, missing=0.1)
    first, second = frame.iloc[:140], frame.iloc[140:]
    cells1 = [c[:140] for c in cells]
    cells2 = [c[140:] for c in cells]
    p0 = start_params(2)
    decay = 0.6
    # alpha=0: online EM's M-step reads statistics normalised to unit weight, where a
    # pseudo-count alpha would weigh as alpha times the batch.
    reg = {"reg_covar": REG["reg_covar"], "alpha": 0.0}
    model = TabularMixture(2, decay=decay, **reg).fit(frame.iloc[:20])
    set_model_params(model, p0)
    model.set_params(warm_start=True)
    model.partial_fit(first)
    p1, ll1 = ref.em_step(*cells1, p0, reg["reg_covar"], 0.0)
    assert_params_close(model_params(model), p1)
    assert_allclose(model.lower_bound_, ll1, rtol=1e-12)
    model.partial_fit(second)
    r1, _ = ref.responsibilities(*cells1, p0)
    r2, ll2 = ref.responsibilities(*cells2, p1)
    rho = 3.0**-decay
    r = np.vstack([r1 * (1 - rho) / 140, r2 * rho / 160])
    both = [np.vstack([a, b]) for a, b in zip(cells1, cells2, strict=True)]
    p2 = ref.m_step(*both, r, p0, reg["reg_covar"], 0.0)
    assert_params_close(model_params(model), p2)
    assert_allclose(model.lower_bounds_, [ll1, ll2], rtol=1e-12)
    assert model.n_iter_ == 2 and model.column_types_ == KINDS
