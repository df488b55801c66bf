"""BernoulliMixture: seconds per EM iteration against a NumPy EM, and the share of GEMM peak.

Smoke sizes by default (seconds, so CI keeps this code alive); the issue's sizes
with ``FASTEM_BENCH_FULL=1``::

    FASTEM_BENCH_FULL=1 pytest bench/bench_bernoulli.py -s

* B4 dense: N=200,000 binary rows, D=784, K=20, float64 input (which the
  estimator stores once as uint8; every block is widened to float64 and all
  arithmetic is float64). One fastem iteration (fused E-step + statistics,
  M-step) against a vectorised NumPy EM written the
  way a user would (log-densities as ``X @ log(mu).T + (1 - X) @ log(1 - mu).T``,
  statistics as ``R.T @ X``) in the same process on the same data and parameters.
  The kernel does ~4 N D K flops per iteration (``X_b @ W`` and ``X_b^T @ R_b``);
  divided by the time that is its rate, reported as a fraction of the machine's
  float64 matrix-multiply peak (a large NumPy matmul on every core).
* B4 sparse: N=1,000,000, D=100,000, 0.1% density (10^8 ones), K=20, CSR. The
  NumPy/SciPy baseline uses the sparse-friendly form
  ``X @ (log mu - log(1 - mu)).T + sum log(1 - mu)`` (``1 - X`` would densify).

Data are generated here, never stored. Timings are ``benchmark.pedantic`` rounds
of one iteration each; ratios and peak fractions go to ``benchmark.extra_info``
and are printed.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

from _common import FULL, gemm_peak_gflops, median_time, size, wide_gemm_peak_gflops
from fastem import BernoulliMixture
from fastem._threads import kernel_threads
from fastem.families.bernoulli import BernoulliParams
from fastem.families.binary import binary_csr

ALPHA = 1e-10


def _true_means(rng, n_components, n_features, low, high):
    return rng.uniform(low, high, size=(n_components, n_features))


def dense_mixture(n_samples, n_features, n_components, seed=0):
    """Binary rows (float64) from a random Bernoulli mixture, generated in row chunks."""
    rng = np.random.default_rng(seed)
    means = _true_means(rng, n_components, n_features, 0.05, 0.95)
    labels = rng.integers(0, n_components, size=n_samples)
    X = np.empty((n_samples, n_features))
    step = 20_000
    for start in range(0, n_samples, step):
        stop = min(n_samples, start + step)
        X[start:stop] = rng.random((stop - start, n_features)) < means[labels[start:stop]]
    return X


def sparse_mixture(n_samples, n_features, n_components, density, seed=0):
    """CSR 0/1 rows from a sparse mixture: half of a row's ones fall in its component's block."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_components, size=n_samples)
    per_row = rng.poisson(density * n_features, size=n_samples)
    rows = np.repeat(np.arange(n_samples, dtype=np.int64), per_row)
    block = n_features // n_components
    own = rng.random(rows.size) < 0.5
    cols = np.where(
        own,
        labels[rows] * block + rng.integers(0, block, size=rows.size),
        rng.integers(0, n_features, size=rows.size),
    )
    keys = np.unique(rows * n_features + cols)  # sorted, duplicates dropped
    del rows, cols, own
    indptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_features, minlength=n_samples), out=indptr[1:])
    indices = (keys % n_features).astype(np.int32)
    del keys
    return sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(n_samples, n_features))


def initial_parameters(n_components, n_features, seed=1):
    rng = np.random.default_rng(seed)
    return np.full(n_components, 1.0 / n_components), rng.uniform(
        0.25, 0.75, (n_components, n_features)
    )


def numpy_em_iteration(X, weights, means):
    """One EM iteration as a NumPy user writes it for dense binary data."""
    log_p = X @ np.log(means).T + (1.0 - X) @ np.log(1.0 - means).T + np.log(weights)
    log_norm = logsumexp(log_p, axis=1, keepdims=True)
    resp = np.exp(log_p - log_norm)
    n_k = resp.sum(axis=0)
    new_means = (resp.T @ X + ALPHA) / (n_k[:, None] + 2 * ALPHA)
    return n_k / n_k.sum(), new_means, float(log_norm.mean())


def scipy_sparse_em_iteration(X, weights, means):
    """One EM iteration with SciPy sparse products (the form that keeps X sparse)."""
    log_mu, log_1m = np.log(means), np.log1p(-means)
    log_p = X @ (log_mu - log_1m).T + log_1m.sum(axis=1) + np.log(weights)
    log_norm = logsumexp(log_p, axis=1, keepdims=True)
    resp = np.exp(log_p - log_norm)
    n_k = resp.sum(axis=0)
    new_means = (np.asarray((X.T @ resp).T) + ALPHA) / (n_k[:, None] + 2 * ALPHA)
    return n_k / n_k.sum(), new_means, float(log_norm.mean())


def fastem_iteration(X_validated, n_components, weights, means):
    """A closure running one fastem EM iteration (what ``exact_em`` does per iteration)."""
    model = BernoulliMixture(n_components, alpha=ALPHA)
    family = model._make_family(X_validated.shape[1])
    params = BernoulliParams.from_means(weights, means)
    empty = np.empty(0)

    def iteration():
        with kernel_threads(None):
            stats = family.estep_stats(X_validated, empty, params)
            return family.m_step(stats, ALPHA), stats.mean_log_likelihood

    return iteration


def _pedantic_seconds(benchmark, func, rounds):
    """Median seconds of ``rounds`` single calls, recorded by pytest-benchmark."""
    benchmark.pedantic(func, rounds=rounds, iterations=1)
    metadata = getattr(benchmark, "stats", None)
    if metadata is not None and getattr(metadata, "stats", None) is not None:
        return metadata.stats.median
    return median_time(func, rounds)  # --benchmark-disable: time it ourselves


def _report(benchmark, case, info):
    benchmark.extra_info.update(info)
    print(
        f"\n{case}: "
        + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()
        )
    )


def test_b4_dense(benchmark):
    n, d, k = size(200_000, 4_000), 784, 20
    rounds = size(5, 3)
    X = dense_mixture(n, d, k)
    weights, means = initial_parameters(k, d)
    model = BernoulliMixture(k)
    X_validated = model._validate_X(X, reset=True)
    iteration = fastem_iteration(X_validated, k, weights, means)
    params, ll = iteration()  # compile / warm up
    np_weights, np_means, np_ll = numpy_em_iteration(X, weights, means)
    np.testing.assert_allclose(params.means, np_means, atol=1e-9)
    np.testing.assert_allclose(ll, np_ll, rtol=1e-10)

    fastem_s = _pedantic_seconds(benchmark, iteration, rounds)
    numpy_s = median_time(lambda: numpy_em_iteration(X, weights, means), rounds)
    peak = gemm_peak_gflops(size(4000, 1000))
    gflops = 4.0 * n * d * k / fastem_s / 1e9
    _report(
        benchmark,
        f"B4 dense {n}x{d} K={k} float64",
        {
            "fastem_s_per_iter": fastem_s,
            "numpy_s_per_iter": numpy_s,
            "speedup_vs_numpy": numpy_s / fastem_s,
            "kernel_gflops": gflops,
            "gemm_peak_gflops": peak,
            "fraction_of_peak": gflops / peak,
            "avx512_gemm_peak_gflops": wide_gemm_peak_gflops(),
            "sizes": "full" if FULL else "smoke",
        },
    )


def test_b4_dense_float64_rows_in_place(benchmark):
    # What the estimator does not do: multiply float64 rows where they lie
    # instead of its uint8 copy (8x the memory traffic per iteration).
    n, d, k = size(200_000, 4_000), 784, 20
    X = dense_mixture(n, d, k)
    weights, means = initial_parameters(k, d)
    iteration = fastem_iteration(X, k, weights, means)
    iteration()
    seconds = _pedantic_seconds(benchmark, iteration, size(5, 3))
    _report(
        benchmark,
        f"B4 dense {n}x{d} K={k}, kernel on float64 rows",
        {"fastem_s_per_iter": seconds, "kernel_gflops": 4.0 * n * d * k / seconds / 1e9},
    )


def test_b4_sparse(benchmark):
    n, d, k = size(1_000_000, 20_000), size(100_000, 20_000), 20
    X = sparse_mixture(n, d, k, density=0.001)
    weights, means = initial_parameters(k, d)
    X_validated = binary_csr(X)
    iteration = fastem_iteration(X_validated, k, weights, means)
    params, ll = iteration()
    rounds = size(3, 3)
    fastem_s = _pedantic_seconds(benchmark, iteration, rounds)
    sp_weights, sp_means, sp_ll = scipy_sparse_em_iteration(X, weights, means)
    np.testing.assert_allclose(params.means, sp_means, atol=1e-9)
    np.testing.assert_allclose(ll, sp_ll, rtol=1e-9)
    scipy_s = median_time(lambda: scipy_sparse_em_iteration(X, weights, means), rounds)
    _report(
        benchmark,
        f"B4 sparse {n}x{d} nnz={X.nnz} K={k}",
        {
            "fastem_s_per_iter": fastem_s,
            "scipy_s_per_iter": scipy_s,
            "speedup_vs_scipy": scipy_s / fastem_s,
            "ns_per_nonzero": fastem_s / X.nnz * 1e9,
            "csr_mb": (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20,
        },
    )
