"""Parity with StepMix: the same latent class model from the same start gives the same fit.

StepMix has no Poisson measurement model, so the tables here hold gaussian,
bernoulli and categorical columns; the Poisson kind is checked against the
NumPy reference only (tests/test_tabular_reference.py). Both run the same
EM to convergence (a change of the mean log-likelihood below 1e-13) from
identical parameters; StepMix
clips probabilities to [1e-15, 1 - 1e-15] where fastem (alpha=0) clamps their
logarithms at log(tiny), which changes nothing at the 1e-6 asked for here.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fastem import TabularMixture
from tabular_common import N_LEVELS, make_table, model_params, set_model_params, start_params

stepmix = pytest.importorskip("stepmix")  # in the test extra; never absent in CI

#: Both run to the same fixed point (mean log-likelihood change below TOL).
N_ITER = 3000
TOL = 1e-13


def stepmix_fit(X, p0, missing):
    K = p0["weights"].shape[0]
    suffix = "_nan" if missing else ""
    descriptor = {
        "g": {"model": "continuous" + suffix, "n_columns": 2},
        "b": {"model": "binary" + suffix, "n_columns": 2},
        "c": {"model": "categorical" + suffix, "n_columns": 2},
    }
    L = max(N_LEVELS)
    pis = np.zeros((K, 2 * L))
    for j, (n_levels, probs) in enumerate(zip(N_LEVELS, p0["levels"], strict=True)):
        pis[:, j * L : j * L + n_levels] = probs
    params = {
        "weights": p0["weights"].copy(),
        "measurement": {
            "g": {"means": p0["means"].copy(), "covariances": p0["variances"].copy()},
            "b": {"pis": p0["probs"].copy()},
            "c": {"pis": pis, "max_n_outcomes": L, "total_outcomes": sum(N_LEVELS)},
        },
        "measurement_in": X.shape[1],
    }
    model = stepmix.StepMix(
        n_components=K,
        measurement=descriptor,
        max_iter=N_ITER,
        abs_tol=TOL,
        rel_tol=0.0,
        progress_bar=0,
        verbose=0,
        random_state=0,
    )
    # The same start: StepMix's own initialisation replaced by the given parameters.
    model._initialize_parameters = lambda X, random_state: model.set_parameters(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    return model


def fastem_fit(frame, p0, reg_covar):
    K = p0["weights"].shape[0]
    model = TabularMixture(K, max_iter=1, tol=0.0, alpha=0.0, reg_covar=reg_covar, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(frame)
        set_model_params(model, {**p0, "rates": np.zeros((K, 0))})
        model.set_params(warm_start=True, max_iter=N_ITER, tol=TOL)
        model.fit(frame)
    return model


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_same_fit_as_stepmix(missing):
    frame, (G, B, C, _), _ = make_table(300, seed=3, missing=missing)
    frame = frame.drop(columns=["p1"])
    X = np.column_stack([G, B, C])
    p0 = start_params(2)
    # StepMix's complete-data Gaussian is scikit-learn's (reg_covar=1e-6); its
    # missing-data Gaussian adds nothing to the variances.
    ours = fastem_fit(frame, p0, reg_covar=0.0 if missing else 1e-6)
    theirs = stepmix_fit(X, p0, missing > 0)
    got = model_params(ours)
    want = theirs.get_parameters()
    measurement = want["measurement"]
    assert_allclose(got["weights"], want["weights"], rtol=1e-6)
    assert_allclose(got["means"], measurement["g"]["means"], rtol=1e-6)
    assert_allclose(got["variances"], measurement["g"]["covariances"], rtol=1e-6)
    # A probability on its way to 0 (StepMix clips it at 1e-15) shrinks by a
    # factor each iteration, so one iteration more or less on reaching TOL
    # changes it by its own size: those are compared in absolute terms.
    assert_allclose(got["probs"], measurement["b"]["pis"], rtol=1e-6, atol=1e-10)
    L = max(N_LEVELS)
    for j, n_levels in enumerate(N_LEVELS):
        pis = measurement["c"]["pis"][:, j * L : j * L + n_levels]
        assert_allclose(got["levels"][j], pis, rtol=1e-6, atol=1e-10)
    assert_allclose(ours.score(frame), theirs.score(X), rtol=1e-6)
