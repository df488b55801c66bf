"""Shared helpers of the benchmarks: sizes, data, timing, the machine's GEMM peak."""

import os
import platform
import statistics
import time

import numpy as np

FULL = os.environ.get("FASTEM_BENCH_FULL", "") not in ("", "0")

#: Every case's measured numbers, printed as one table at the end of the session.
RESULTS = []


def size(full, smoke):
    """The full size when ``FASTEM_BENCH_FULL=1``, else a smoke size that runs in seconds."""
    return full if FULL else smoke


def blobs(n_samples, n_features, n_components, dtype=np.float64, seed=0):
    """A well-separated mixture of anisotropic Gaussian blobs (generated, never stored)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(n_components, n_features))
    labels = rng.integers(0, n_components, size=n_samples)
    X = rng.standard_normal((n_samples, n_features))
    X *= rng.uniform(0.5, 2.0, size=n_features)
    X += centres[labels]
    return X.astype(dtype)


def median_time(func, rounds):
    """Median wall-clock seconds of ``rounds`` calls of ``func``."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seconds_per_iteration(make_estimator, X, n_iter, rounds):
    """Marginal cost of one EM iteration: (fit(1 + n_iter) - fit(1)) / n_iter.

    Differencing removes what a fit pays once (input validation, a final
    E-step in scikit-learn), so both libraries are compared on the EM loop.
    """
    one = median_time(lambda: make_estimator(1).fit(X), rounds)
    many = median_time(lambda: make_estimator(1 + n_iter).fit(X), rounds)
    return max(many - one, 1e-12) / n_iter


def gemm_peak_gflops(n=3000, rounds=3):
    """The machine's float64 matrix-multiply peak with NumPy's BLAS (all threads, best round)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    a @ b
    return 2 * n**3 / min(median_time(lambda: a @ b, 1) for _ in range(rounds)) / 1e9


def machine():
    """One line naming the processor and core count."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"
