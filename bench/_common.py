"""Shared helpers of the benchmarks: sizes, data, timing, the machine's GEMM peak."""

import functools
import os
import platform
import statistics
import subprocess
import sys
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


def alternating_seconds_per_iteration(makers, X, n_iter, rounds, data=None):
    """Per library, the marginal wall and CPU seconds of one EM iteration, round by round.

    ``makers`` maps a name to ``make_estimator(max_iter)``. Each round times
    every library once, one after the other (``fit(1)`` then ``fit(1 + n_iter)``,
    the difference divided by ``n_iter``), so that on a shared machine a burst of
    load falls on both sides of a ratio instead of on one. CPU seconds are the
    process's (all threads), which a busy neighbour inflates far less than wall
    time. ``data`` maps a name to the rows it fits instead of ``X`` (the same
    values in another dtype, say). Returns ``{name: [(wall_s, cpu_s), ...]}``,
    one pair per round.
    """
    data = data or {}
    out = {name: [] for name in makers}
    for _ in range(rounds):
        for name, make in makers.items():
            pairs = []
            rows = data.get(name, X)
            for max_iter in (1, 1 + n_iter):
                wall, cpu = time.perf_counter(), time.process_time()
                make(max_iter).fit(rows)
                pairs.append((time.perf_counter() - wall, time.process_time() - cpu))
            out[name].append(
                (
                    max(pairs[1][0] - pairs[0][0], 1e-12) / n_iter,
                    max(pairs[1][1] - pairs[0][1], 1e-12) / n_iter,
                )
            )
    return out


def summary(rounds):
    """``{"median", "min", "max"}`` of a list of numbers."""
    return {"median": statistics.median(rounds), "min": min(rounds), "max": max(rounds)}


def ratio_summary(ours, theirs):
    """Median ratio ``theirs / ours`` and its range over rounds paired in time order."""
    ratios = [b / a for a, b in zip(ours, theirs, strict=True)]
    return {
        "median": statistics.median(theirs) / statistics.median(ours),
        "min": min(ratios),
        "max": max(ratios),
    }


@functools.cache
def gemm_peaks(n=3000, rounds=5):
    """NumPy's float64 and float32 matrix-multiply peaks on every core, best of ``rounds``.

    Per dtype: ``gflops`` (wall clock) and ``cpu_gflops`` (flops per CPU second
    of the process: what one core delivers while it runs, which a busy
    neighbour on a shared machine changes far less than the wall clock). The float32 peak is
    twice the float64 one on x86 vector units. OpenBLAS picks its kernels for
    the CPU when it loads; ``OPENBLAS_CORETYPE`` (set on some machines, see
    ``blas_info``) overrides that choice.
    """
    peaks = {}
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        a = rng.standard_normal((n, n)).astype(dtype)
        b = rng.standard_normal((n, n)).astype(dtype)
        c = np.empty((n, n), dtype)
        np.dot(a, b, c)
        walls, cpus = [], []
        for _ in range(rounds):
            wall, cpu = time.perf_counter(), time.process_time()
            np.dot(a, b, c)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        flops = 2.0 * n**3
        peaks[np.dtype(dtype).name] = {
            "gflops": flops / min(walls) / 1e9,
            "cpu_gflops": flops / min(cpus) / 1e9,
        }
    return peaks


def blas_info():
    """NumPy's BLAS: library, version, the kernel family it picked, its threads."""
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info["user_api"] == "blas" and "numpy" in info.get("filepath", ""):
            return {
                "blas": f"{info['internal_api']} {info['version']}",
                "blas_kernels": info.get("architecture"),
                "blas_threads": info.get("num_threads"),
                "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            }
    return {}


def fastem_info(n_features_t=1, n_components=1):
    """What fastem runs here: the CPU's vector width and the kernels' product path."""
    from fastem._settings import settings
    from fastem.families._common import matmul_path
    from fastem.kernels import _gemm
    from fastem.kernels._simd import vector_bits

    names = {
        _gemm.MATMUL_LOOPS: "loops",
        _gemm.MATMUL_BLAS: "blas",
        _gemm.MATMUL_TILED: "tiled",
        _gemm.MATMUL_TILED4: "tiled4",
    }
    return {
        "vector_bits": vector_bits(),
        "matmul_path_setting": settings.matmul_path,
        "matmul_path": names[matmul_path(n_features_t, n_components)],
        "float32_blocks_setting": settings.float32_blocks,
    }


@functools.cache
def gemm_peak_gflops(n=None, rounds=3):
    """The machine's float64 matrix-multiply peak with NumPy's BLAS (all threads, best round).

    Measured once per run and size (it is the machine's, not the case's); the
    default size is 3000 at full size and 1500 in the smoke run, whose peak is
    then a few percent low.
    """
    if n is None:
        n = size(3000, 1500)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    a @ b
    return 2 * n**3 / min(median_time(lambda: a @ b, 1) for _ in range(rounds)) / 1e9


@functools.cache
def wide_gemm_peak_gflops(n=3000, rounds=3):
    """The same peak with OpenBLAS forced onto its AVX-512 kernels, or None.

    NumPy's OpenBLAS picks 256-bit kernels on CPUs it does not recognise (AMD
    Zen 5 among them) although they run 512-bit FMAs at full rate; fastem's
    tiled kernels use them. The kernel type is fixed when OpenBLAS loads, so
    this runs in a child process with ``OPENBLAS_CORETYPE=SkylakeX``.
    """
    from fastem.kernels._simd import wide_vectors

    if not wide_vectors():
        return None
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import sys; sys.path.insert(0, {here!r}); from _common import gemm_peak_gflops; "
        f"print(gemm_peak_gflops({n}, {rounds}))"
    )
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX")
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def peak_note(rate, peak):
    """``rate`` as a share of NumPy's GEMM peak and, where it differs, of the AVX-512 one."""
    note = f"{rate:.0f} GFLOP/s = {rate / peak:.0%} of NumPy's float64 GEMM peak {peak:.0f}"
    wide = wide_gemm_peak_gflops()
    if wide is not None and wide > 1.2 * peak:
        note += f" ({rate / wide:.0%} of {wide:.0f} with OpenBLAS's AVX-512 kernels)"
    return note


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


def shared_start(X, n_components, covariance_type):
    """Parameters both libraries start from: one scikit-learn initialisation.

    A dict of ``weights_init``, ``means_init`` and ``precisions_init`` from
    scikit-learn's ``random_from_data`` start and one EM step on at most
    50,000 rows.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        init = GaussianMixture(
            n_components,
            covariance_type=covariance_type,
            max_iter=1,
            init_params="random_from_data",
            random_state=0,
        ).fit(X[: min(len(X), 50_000)])
    return {
        "weights_init": init.weights_,
        "means_init": init.means_,
        "precisions_init": init.precisions_,
    }
