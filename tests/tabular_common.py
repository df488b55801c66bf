"""Tables of mixed kinds for the TabularMixture tests: one generator, start parameters."""

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from fastem import TabularMixture

#: Column order of the test tables: kinds interleaved, so that the encoding's
#: reordering into kind blocks is exercised.
KINDS = {
    "g1": "gaussian",
    "b1": "bernoulli",
    "c1": "categorical",
    "p1": "poisson",
    "g2": "gaussian",
    "c2": "categorical",
    "b2": "bernoulli",
}
N_LEVELS = (3, 4)


def make_table(n=400, seed=0, missing=0.0, dtype=np.float64, K=2):
    """A pandas table drawn from a K-class model; also its cells by kind (NaN missing).

    Returns
    -------
    frame : pandas.DataFrame
        float gaussian columns, nullable boolean bernoulli columns, category
        columns (string levels), nullable Int64 counts; ``missing`` of every
        column's cells missing (NaN, pd.NA).
    cells : tuple of (G, B, C, P)
        The same cells as float64 arrays per kind (codes for categorical).
    labels : ndarray
    """
    rng = np.random.default_rng(seed)
    z = rng.integers(0, K, n)
    G = np.column_stack([rng.normal(3.0 * z, 1.0 + z), rng.normal(-2.0 * z + 10.0, 0.5)])
    B = np.column_stack(
        [rng.uniform(size=n) < 0.2 + 0.6 * (z % 2), rng.uniform(size=n) < 0.5]
    ).astype(float)
    C = np.column_stack(
        [(z + rng.integers(0, 2, n)) % N_LEVELS[0], rng.integers(0, N_LEVELS[1], n)]
    ).astype(float)
    P = rng.poisson(1.0 + 4.0 * (z % 2))[:, None].astype(float)
    for cells in (G, B, C, P):
        cells[rng.uniform(size=cells.shape) < missing] = np.nan
    G = G.astype(dtype).astype(np.float64)
    levels = [list("xyz"), ["lo", "mid", "hi", "top"]]

    def categories(codes, names):
        out = pd.Categorical.from_codes(np.where(np.isnan(codes), -1, codes).astype(int), names)
        return out

    frame = pd.DataFrame(
        {
            "g1": G[:, 0].astype(dtype),
            "b1": pd.array(np.where(np.isnan(B[:, 0]), None, B[:, 0] > 0.5), dtype="boolean"),
            "c1": categories(C[:, 0], levels[0]),
            "p1": pd.array(np.where(np.isnan(P[:, 0]), None, P[:, 0]), dtype="Int64"),
            "g2": G[:, 1].astype(dtype),
            "c2": categories(C[:, 1], levels[1]),
            "b2": pd.array(np.where(np.isnan(B[:, 1]), None, B[:, 1] > 0.5), dtype="boolean"),
        }
    )
    return frame, (G, B, C, P), z


def start_params(K, seed=1, full=False):
    """Start parameters for the test tables (reference layout); ``full``: with covariances."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 1.5, K)
    levels = [rng.dirichlet(np.ones(L), K) for L in N_LEVELS]
    params = {
        "weights": w / w.sum(),
        "means": rng.normal([1.0, 9.0], 1.0, (K, 2)),
        "variances": rng.uniform(0.5, 3.0, (K, 2)),
        "probs": rng.uniform(0.2, 0.8, (K, 2)),
        "levels": levels,
        "rates": rng.uniform(0.5, 5.0, (K, 1)),
    }
    if full:
        sd = np.sqrt(params["variances"])
        corr = rng.uniform(-0.7, 0.7, K)
        params["covariances"] = np.array(
            [[[a * a, c * a * b], [c * a * b, b * b]] for (a, b), c in zip(sd, corr, strict=True)]
        )
    return params


def set_model_params(model, params):
    model.weights_ = np.array(params["weights"])
    model.means_ = np.array(params["means"])
    model.variances_ = np.array(params["variances"])
    model.probs_ = np.array(params["probs"])
    model.level_probs_ = np.hstack(params["levels"])
    model.rates_ = np.array(params["rates"])
    model.covariances_ = np.array(params.get("covariances", params["variances"]))


def model_params(model):
    cuts = np.cumsum(N_LEVELS)[:-1]
    return {
        "weights": model.weights_,
        "means": model.means_,
        "variances": model.variances_,
        "probs": model.probs_,
        "levels": np.split(model.level_probs_, cuts, axis=1),
        "rates": model.rates_,
    } | ({"covariances": model.covariances_} if model.covariances_.ndim == 3 else {})


def fit_from(X, params, n_iter, sample_weight=None, **kwargs):
    """``n_iter`` EM iterations from ``params`` (a warm start), tol=0."""
    K = params["weights"].shape[0]
    model = TabularMixture(K, max_iter=1, tol=0.0, random_state=0, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, sample_weight=sample_weight)
        set_model_params(model, params)
        model.set_params(warm_start=True, max_iter=n_iter)
        model.fit(X, sample_weight=sample_weight)
    return model
