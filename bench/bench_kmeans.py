"""KMeans against scikit-learn (and faiss where it is installed), same process, same centres.

Smoke sizes by default (so CI keeps this code alive); the issue's sizes with
``FASTEM_BENCH_FULL=1``::

    FASTEM_BENCH_FULL=1 pytest bench/bench_kmeans.py -s

* K1-K3, per Lloyd iteration: both libraries start from the same centres
  (``init`` an array, ``n_init=1``, ``tol=0``) on rows without cluster
  structure (uniform in the unit cube), where Lloyd keeps moving for many
  iterations (on separated blobs it converges in two and the difference
  below would measure nothing); the cost of an iteration is the difference
  between a fit of several iterations and a fit of one, divided by the
  iterations in between (each fit's own ``n_iter_``), so what a fit pays
  once (validation, the data moments, the final assignment) cancels.
  Rounds alternate between the libraries and the medians are reported. The
  rate is ``2 N D K`` flops per iteration (the distance product, which fastem
  runs in float32) as a share of the machine's
  float64 GEMM peak (the float32 peak is twice it). faiss's ``Kmeans``
  (float32 only, all rows: ``max_points_per_centroid`` raised) runs beside
  them where it imports.
* K1-K3 and G1, whole default fits (initialisation included), what a user who
  calls ``fit(X)`` sees: ``KMeans(K, random_state=0)`` against scikit-learn's,
  and ``GaussianMixture(16)`` on 300,000 x 16 standard-normal rows (k-means
  initialisation plus EM) against scikit-learn's.
* K4: rows/s of a Lloyd iteration from a float32 ``.npy`` memory map against
  the same rows in memory (4 GiB at full size, warm page cache).
"""

import statistics
import time
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _common import RESULTS, blobs, gemm_peak_gflops, peak_note, size
from fastem import GaussianMixture, KMeans

try:
    import faiss
except ImportError:  # optional: only reported where it installs
    faiss = None

CASES = {
    # name: (n_samples, n_features, n_clusters)
    "K1": (size(1_000_000, 10_000), 16, 16),
    "K2 pixels": (size(2_073_600, 20_000), 3, 8),
    "K3": (size(1_000_000, 4_000), 64, 256),
}


def _seconds(func):
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def _per_iteration(runs, n_iter, rounds):
    """Median seconds per iteration of every runner, rounds alternating between them.

    ``runs`` maps a name to ``fit(max_iter) -> n_iter_`` (the iterations the fit ran).
    """
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fit in runs.items():
            one, _ = _seconds(lambda fit=fit: fit(1))
            many, ran = _seconds(lambda fit=fit: fit(1 + n_iter))
            times[name].append(max(many - one, 1e-12) / max(ran - 1, 1))
    return {name: statistics.median(values) for name, values in times.items()}


def _faiss_runner(X, centres):
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    C32 = np.ascontiguousarray(centres, dtype=np.float32)

    def fit(max_iter):
        km = faiss.Kmeans(
            X.shape[1],
            len(centres),
            niter=max_iter,
            max_points_per_centroid=len(X),
            seed=0,
            verbose=False,
        )
        km.train(X32, init_centroids=C32)
        return max_iter

    return fit


@pytest.mark.parametrize("case", list(CASES))
def test_lloyd_iteration(benchmark, case):
    n_samples, n_features, n_clusters = CASES[case]
    X = np.random.default_rng(0).uniform(size=(n_samples, n_features))
    centres = X[np.random.default_rng(1).choice(n_samples, n_clusters, replace=False)]

    def runner(cls):
        def fit(max_iter):
            km = cls(n_clusters, init=centres, n_init=1, tol=0.0, max_iter=max_iter).fit(X)
            return km.n_iter_

        return fit

    runs = {"fastem": runner(KMeans), "scikit-learn": runner(SkKMeans)}
    if faiss is not None:
        runs["faiss"] = _faiss_runner(X, centres)
    runs["fastem"](2)  # compile or load the kernels outside the timing
    benchmark.pedantic(lambda: runs["fastem"](4), rounds=3, iterations=1)
    seconds = _per_iteration(runs, n_iter=size(4, 3), rounds=size(5, 3))
    assert runs["fastem"](1 + size(4, 3)) == 1 + size(4, 3)  # no early stop: a fair difference
    rate = 2.0 * n_samples * n_features * n_clusters / seconds["fastem"] / 1e9
    note = peak_note(rate, gemm_peak_gflops())
    benchmark.extra_info.update(
        fastem_s_per_iter=seconds["fastem"],
        sklearn_s_per_iter=seconds["scikit-learn"],
        speedup=seconds["scikit-learn"] / seconds["fastem"],
    )
    label = f"{case} N={n_samples} D={n_features} K={n_clusters} per iteration"
    for other in [name for name in runs if name != "fastem"]:
        RESULTS.append(
            {
                "case": label,
                "fastem": seconds["fastem"],
                "against": other,
                "other": seconds[other],
                "note": note if other == "scikit-learn" else "",
            }
        )


@pytest.mark.parametrize("case", list(CASES))
def test_whole_default_fit(benchmark, case):
    n_samples, n_features, n_clusters = CASES[case]
    X = blobs(n_samples, n_features, n_clusters, seed=3)
    KMeans(n_clusters, random_state=0, max_iter=2).fit(X[:5000])  # kernels loaded
    benchmark.pedantic(lambda: KMeans(n_clusters, random_state=0).fit(X), rounds=1, iterations=1)
    times = {"fastem": [], "scikit-learn": []}
    fits = {}
    for _ in range(size(3, 2)):
        for name, cls in (("fastem", KMeans), ("scikit-learn", SkKMeans)):
            seconds, fits[name] = _seconds(lambda cls=cls: cls(n_clusters, random_state=0).fit(X))
            times[name].append(seconds)
    ours, theirs = (statistics.median(times[name]) for name in ("fastem", "scikit-learn"))
    note = (
        f"iterations {fits['fastem'].n_iter_} vs {fits['scikit-learn'].n_iter_}, inertia ratio "
        f"{fits['fastem'].inertia_ / fits['scikit-learn'].inertia_:.4f}"
    )
    benchmark.extra_info.update(fastem_s=ours, sklearn_s=theirs, speedup=theirs / ours)
    RESULTS.append(
        {
            "case": f"{case} N={n_samples} K={n_clusters} whole default fit",
            "fastem": ours,
            "against": "scikit-learn",
            "other": theirs,
            "note": note,
        }
    )


def test_gaussian_mixture_default_fit(benchmark):
    """G1: the issue's example, where the k-means initialisation is most of a mixture's fit."""
    n_samples = size(300_000, 5_000)
    X = np.random.default_rng(0).standard_normal((n_samples, 16))
    GaussianMixture(16, random_state=0, max_iter=2).fit(X[:5000])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        benchmark.pedantic(
            lambda: GaussianMixture(16, random_state=0).fit(X), rounds=1, iterations=1
        )
        times = {"fastem": [], "scikit-learn": []}
        for _ in range(size(2, 1)):
            for name, cls in (("fastem", GaussianMixture), ("scikit-learn", SkGaussianMixture)):
                seconds, _ = _seconds(lambda cls=cls: cls(16, random_state=0).fit(X))
                times[name].append(seconds)
    ours, theirs = (statistics.median(times[name]) for name in ("fastem", "scikit-learn"))
    benchmark.extra_info.update(fastem_s=ours, sklearn_s=theirs, speedup=theirs / ours)
    RESULTS.append(
        {
            "case": f"G1 GaussianMixture(16) N={n_samples} D=16 whole fit",
            "fastem": ours,
            "against": "scikit-learn",
            "other": theirs,
        }
    )


def test_memmap_throughput(benchmark, tmp_path):
    """K4: a Lloyd iteration from a float32 .npy memory map against the same rows in memory."""
    n_rows = size(67_108_864, 400_000)  # 4 GiB of float32 rows at full size
    n_features, n_clusters = 16, 16
    path = tmp_path / "rows.npy"
    rng = np.random.default_rng(0)
    centres = rng.uniform(-10, 10, size=(n_clusters, n_features)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, n_features))
    for start in range(0, n_rows, 1_000_000):
        stop = min(n_rows, start + 1_000_000)
        block = rng.standard_normal((stop - start, n_features), dtype=np.float32)
        out[start:stop] = block + centres[rng.integers(0, n_clusters, stop - start)]
    out.flush()
    del out
    mapped = np.load(path, mmap_mode="r")
    init = np.asarray(mapped[:n_clusters], dtype=np.float64)

    def runner(X):
        def fit(max_iter):
            return KMeans(n_clusters, init=init, tol=0.0, max_iter=max_iter).fit(X).n_iter_

        return fit

    runner(path)(1)  # warm the page cache and the kernels
    benchmark.pedantic(lambda: runner(path)(2), rounds=1, iterations=1)
    runs = {"memmap": runner(path)}
    if n_rows * n_features * 4 < 0.4 * _available_bytes():
        runs["in memory"] = runner(np.array(mapped))
    seconds = _per_iteration(runs, n_iter=3, rounds=size(2, 2))
    rows_per_s = {name: n_rows / s for name, s in seconds.items()}
    benchmark.extra_info.update(rows_per_s=rows_per_s)
    if "in memory" in seconds:
        RESULTS.append(
            {
                "case": f"K4 memmap float32 N={n_rows} D=16 K=16 per iteration",
                "fastem": seconds["memmap"],
                "against": "in memory",
                "other": seconds["in memory"],
                "note": f"{rows_per_s['memmap']:,.0f} rows/s from the map",
            }
        )


def _available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0
