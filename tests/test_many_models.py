"""Many Gaussian models in one pass: the stacked E-step and the selector's evaluation.

``GaussianFamily.estep_stats_many`` puts the natural parameters of several
models of one covariance type side by side, so that every block's features
are filled once and one wider product gives all their log-densities. Each
model must get exactly the statistics of its own ``estep_stats`` (every
product path, float32 and float64 rows, with and without weights, NaN
chunks, float32 fallbacks); ``evaluate_many`` must give SciPy's
log-likelihood and entropy of the responsibilities.
"""

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from fastem import _multi
from fastem._settings import override
from fastem._sources import ArraySource
from fastem.families import _float32_blocks as f32
from fastem.families.gaussian import GaussianFamily, GaussianParams, precision_cholesky
from fastem.kernels import gaussian as gk

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PATHS = ["tiled", "tiled4", "loops", "blas"]
N_FEATURES = 4
COMPONENTS = (1, 3, 5, 2)


def _covariances(covariance_type, K, D, rng):
    if covariance_type == "full":
        A = rng.normal(size=(K, D, D))
        return np.einsum("kij,klj->kil", A, A) / D + 0.3 * np.eye(D)
    if covariance_type == "tied":
        A = rng.normal(size=(D, D))
        return A @ A.T / D + 0.3 * np.eye(D)
    if covariance_type == "diag":
        return rng.uniform(0.3, 2.0, size=(K, D))
    return rng.uniform(0.3, 2.0, size=K)


def _params(covariance_type, K, D, rng, zero_weight=False):
    weights = rng.uniform(0.5, 2.0, K)
    if zero_weight and K > 1:
        weights[0] = 0.0  # a component of weight 0: log-weight -inf
    weights /= weights.sum()
    covariances = _covariances(covariance_type, K, D, rng)
    return GaussianParams(
        weights=weights,
        means=rng.normal(3.0, 2.0, size=(K, D)),
        covariances=covariances,
        precisions_cholesky=precision_cholesky(covariances, covariance_type),
    )


def _models(covariance_type, X, path, components=COMPONENTS, seed=0):
    rng = np.random.default_rng(seed)
    shift = np.nanmean(X.astype(np.float64), axis=0)
    with override(matmul_path=path):
        families = [
            GaussianFamily(covariance_type, K, X.shape[1], X.dtype, shift, missing=False)
            for K in components
        ]
    params = [
        _params(covariance_type, K, X.shape[1], rng, zero_weight=(i == 2))
        for i, K in enumerate(components)
    ]
    return families, params


def _rows(dtype=np.float64, n=1500, seed=1):
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(rng.normal(3.0, 2.0, size=(n, N_FEATURES)), dtype=dtype)


def _assert_identical(got, expected):
    assert got.log_likelihood == expected.log_likelihood
    assert got.weight_sum == expected.weight_sum
    assert set(got.arrays) == set(expected.arrays)
    for name in expected.arrays:
        np.testing.assert_array_equal(got.arrays[name], expected.arrays[name], err_msg=name)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_each_model_gets_the_bits_of_its_own_estep(path, covariance_type, dtype, weighted):
    X = _rows(dtype)
    w = np.random.default_rng(2).uniform(0.0, 3.0, len(X)) if weighted else np.empty(0)
    families, params = _models(covariance_type, X, path)
    together = GaussianFamily.estep_stats_many(families, X, w, params)
    assert len(together) == len(families)
    for family, p, got in zip(families, params, together, strict=True):
        _assert_identical(got, family.estep_stats(X, w, p))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_wide_kernel_is_the_narrow_kernels_side_by_side(covariance_type):
    # The kernel itself: one call over every model's columns, against one call per model.
    X = _rows()
    families, params = _models(covariance_type, X, "auto")
    W = [f.natural_weights(p) for f, p in zip(families, params, strict=True)]
    tied = [f._tied_factor(p) for f, p in zip(families, params, strict=True)]
    starts = np.cumsum([0] + [w.shape[1] for w in W], dtype=np.int64)
    f0 = families[0]
    stacked_tied = np.stack(tied) if covariance_type == "tied" else gk.NO_TIED_FACTORS
    common = (f0.kind, f0.block_size, 3, f0.matmul_path, np.empty(0))
    stats, second, ll, entropy = gk.estep_stats_many(
        X, np.empty(0), f0.shift, np.concatenate(W, axis=1), starts, stacked_tied, *common, False
    )
    assert np.all(entropy == 0.0)
    for m, (w, t) in enumerate(zip(W, tied, strict=True)):
        one = gk.estep_stats(X, np.empty(0), f0.shift, w, t, *common)
        np.testing.assert_array_equal(stats[starts[m] : starts[m + 1]], one[0])
        np.testing.assert_array_equal(second, one[1])
        assert ll[m] == one[2]


def _reference(covariance_type, X, w, p):
    """SciPy's ``sum w log p(x)`` and ``-sum w sum_k r log r`` of one model."""
    K = len(p.weights)
    cov = p.covariances
    if covariance_type == "tied":
        cov = np.repeat(cov[None], K, axis=0)
    elif covariance_type == "diag":
        cov = np.stack([np.diag(c) for c in cov])
    elif covariance_type == "spherical":
        cov = np.stack([c * np.eye(X.shape[1]) for c in cov])
    X64 = X.astype(np.float64)
    with np.errstate(divide="ignore"):
        log_weights = np.log(p.weights)
    weighted = np.column_stack(
        [log_weights[k] + multivariate_normal(p.means[k], cov[k]).logpdf(X64) for k in range(K)]
    )
    norm = logsumexp(weighted, axis=1)
    with np.errstate(invalid="ignore"):
        log_resp = weighted - norm[:, None]
        resp = np.exp(log_resp)
        terms = np.where(resp > 0, resp * log_resp, 0.0).sum(axis=1)
    return float(w @ norm), -float(w @ terms)


@pytest.mark.parametrize("path", ["tiled", "tiled4", "loops"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_evaluation_is_scipys_log_likelihood_and_entropy(path, covariance_type, dtype, weighted):
    X = _rows(dtype)
    w = np.random.default_rng(3).uniform(0.0, 3.0, len(X)) if weighted else np.empty(0)
    families, params = _models(covariance_type, X, path)
    results = GaussianFamily.evaluate_many(families, X, w, params)
    for p, (ll, entropy) in zip(params, results, strict=True):
        expected_ll, expected_entropy = _reference(
            covariance_type, X, w if weighted else np.ones(len(X)), p
        )
        # float64 blocks whatever the rows' dtype: the log-likelihood to ~1e-13.
        assert ll == pytest.approx(expected_ll, rel=1e-11)
        assert entropy == pytest.approx(expected_entropy, rel=1e-9, abs=1e-9 * len(X))
        if len(p.weights) == 1:
            assert entropy == 0.0
        else:
            assert entropy > 1.0


def test_evaluation_keeps_the_entropy_far_from_the_origin():
    # Rows at 1e4: log-likelihoods of -1e5 and an entropy of a few hundred; the
    # entropy is summed from terms of size log K, not as a difference of the two.
    X = _rows() + 1e4
    families, params = _models("full", X, "auto", components=(2, 3))
    for p in params:
        p.means += 1e4
    for (ll, entropy), p in zip(
        GaussianFamily.evaluate_many(families, X, np.empty(0), params), params, strict=True
    ):
        expected_ll, expected_entropy = _reference("full", X, np.ones(len(X)), p)
        assert ll == pytest.approx(expected_ll, rel=1e-11)
        assert entropy == pytest.approx(expected_entropy, rel=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunks_with_nan_are_computed_model_by_model(covariance_type):
    X = _rows()
    X[::17, 1] = np.nan
    families, params = _models(covariance_type, X, "auto")
    for family in families:
        family.missing = None  # look at the chunk
    together = GaussianFamily.estep_stats_many(families, X, np.empty(0), params)
    for family, p, got in zip(families, params, together, strict=True):
        _assert_identical(got, family.estep_stats(X, np.empty(0), p))
    # Evaluation leaves such chunks to the caller (the estimator's log_prob).
    assert GaussianFamily.evaluate_many(families, X, np.empty(0), params) == [None] * 4


def test_a_model_whose_float32_statistics_fail_is_recomputed_alone(monkeypatch):
    X = _rows(np.float32)
    families, params = _models("full", X, "auto")
    unresolved = params[1].weights  # the second model's float32 statistics "fail"
    check = f32.statistics_resolved

    def resolved(covariance_type, n_features, moments, second, weights, vech):
        if weights is unresolved:
            return False
        return check(covariance_type, n_features, moments, second, weights, vech)

    monkeypatch.setattr(f32, "statistics_resolved", resolved)
    with override(float32_blocks="always"):
        together = GaussianFamily.estep_stats_many(families, X, np.empty(0), params)
        alone = [f.estep_stats(X, np.empty(0), p) for f, p in zip(families, params, strict=True)]
    for got, expected in zip(together, alone, strict=True):
        _assert_identical(got, expected)
    # Not the float32 statistics: those of float64 blocks.
    args = families[1]._kernel_args(
        X, np.empty(0), params[1], families[1].natural_weights(params[1])
    )
    np.testing.assert_array_equal(
        together[1].arrays["moments"], gk.estep_stats(*args, np.empty(0, np.float64))[0]
    )


def _runs(families, params):
    return [
        _multi.Run(f, p, reg=1e-6, tol=0.0, max_iter=5)
        for f, p in zip(families, params, strict=True)
    ]


def test_runs_advanced_together_equal_each_run_alone():
    X = _rows()
    # Two covariance types: two joint calls per chunk.
    gaussian, gaussian_params = _models("diag", X, "auto")
    gaussian += _models("full", X, "auto", components=(2,))[0]
    gaussian_params += _models("full", X, "auto", components=(2,), seed=5)[1]
    together = _runs(gaussian, gaussian_params)
    _multi.advance(together, ArraySource(X, np.empty(0)))
    for run, f, p in zip(together, gaussian, gaussian_params, strict=True):
        alone = _runs([f], [p])
        _multi.advance(alone, ArraySource(X, np.empty(0)))
        assert run.n_iter == alone[0].n_iter == 5
        assert run.lower_bounds == alone[0].lower_bounds
        for a, b in zip(vars(run.params).values(), vars(alone[0].params).values(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_failing_model_fails_alone(monkeypatch):
    X = _rows()
    families, params = _models("spherical", X, "auto")

    def joint_fails(*args):
        raise ValueError("the joint call failed")

    monkeypatch.setattr(GaussianFamily, "estep_stats_many", staticmethod(joint_fails))
    broken = families[1]

    def fails(X, sample_weight, params):
        raise ValueError("this model's E-step failed")

    broken.estep_stats = fails
    runs = _runs(families, params)
    _multi.advance(runs, ArraySource(X, np.empty(0)))
    assert runs[1].error == "this model's E-step failed" and runs[1].n_iter == 0
    for i in (0, 2, 3):
        assert runs[i].error is None and runs[i].n_iter == 5
        alone = _runs([families[i]], [params[i]])
        _multi.advance(alone, ArraySource(X, np.empty(0)))
        assert runs[i].lower_bounds == alone[0].lower_bounds


class _WithoutMany(GaussianFamily):
    estep_stats_many = None


def test_a_model_failing_on_a_later_chunk_fails_alone():
    # A run whose E-step succeeds on the first chunk and raises on the second: its
    # failure, not the sum of its first statistics with it, is what the pass returns.
    X = _rows()
    families, params = _models("diag", X, "auto")
    broken = families[2]
    calls = []

    def fails_on_the_second_chunk(X_chunk, sample_weight, p):
        calls.append(len(X_chunk))
        if len(calls) % 2 == 0:
            raise ValueError("the second chunk failed")
        return GaussianFamily.estep_stats(broken, X_chunk, sample_weight, p)

    broken.__class__ = _WithoutMany  # alone: the others share one estep_stats_many call
    broken.estep_stats = fails_on_the_second_chunk
    runs = _runs(families, params)
    _multi.advance(runs, ArraySource(X, np.empty(0), chunk_size=800))
    assert runs[2].error == "the second chunk failed" and runs[2].n_iter == 0
    for i in (0, 1, 3):
        alone = _runs([families[i]], [params[i]])
        _multi.advance(alone, ArraySource(X, np.empty(0), chunk_size=800))
        assert runs[i].error is None and runs[i].lower_bounds == alone[0].lower_bounds
