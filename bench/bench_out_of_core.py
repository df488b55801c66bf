"""Out-of-core EM: rows/s from a memory-mapped ``.npy`` against the same rows in memory.

Full size (``FASTEM_BENCH_FULL=1``): a 4 GB float32 ``.npy`` of B1-shaped rows
(16 features, K=16 full), generated in a temporary directory and read with a
warm page cache. Also reports the peak private memory (RssAnon) of the
out-of-core fit, and the time online EM takes to come within 0.5 % of the batch
fit's mean log-likelihood.
"""

import threading
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from _common import RESULTS, median_time, size
from fastem import GaussianMixture

N_FEATURES = 16
N_COMPONENTS = 16


def _rss_anon_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _write_rows(path, n_rows, seed=0):
    """B1-shaped float32 rows written block by block (never all in memory)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(N_COMPONENTS, N_FEATURES)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, N_FEATURES))
    step = 1_000_000
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        block = rng.standard_normal((stop - start, N_FEATURES), dtype=np.float32)
        block += centres[rng.integers(0, N_COMPONENTS, stop - start)]
        out[start:stop] = block
    out.flush()
    del out


def _model(max_iter, init, chunk_size=None):
    return GaussianMixture(N_COMPONENTS, tol=0.0, max_iter=max_iter, chunk_size=chunk_size, **init)


def test_memmap_throughput(benchmark, tmp_path):
    n_rows = size(67_108_864, 500_000)  # 4 GiB of float32 rows at full size
    path = tmp_path / "rows.npy"
    _write_rows(path, n_rows)
    mapped = np.load(path, mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = GaussianMixture(
            N_COMPONENTS, max_iter=1, init_params="random_from_data", random_state=0
        ).fit(mapped[:200_000])
        init = dict(
            weights_init=first.weights_,
            means_init=first.means_,
            precisions_init=first.precisions_,
        )
        for _ in range(2):  # warm the page cache (and the kernels)
            _model(1, init).fit(path)
        n_iter = 3
        rounds = size(2, 1)

        def per_iteration(fit):
            one = median_time(lambda: fit(1), rounds)
            many = median_time(lambda: fit(1 + n_iter), rounds)
            return (many - one) / n_iter

        baseline = _rss_anon_mib()
        peak = [baseline]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _rss_anon_mib())
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            mapped_s = per_iteration(lambda m: _model(m, init).fit(path))
        finally:
            done.set()
            sampler.join()
        benchmark.pedantic(lambda: _model(1, init).fit(path), rounds=1, iterations=1)
        in_memory = np.array(mapped)  # the same rows, loaded
        memory_s = per_iteration(lambda m: _model(m, init).fit(in_memory))

    file_mib = n_rows * N_FEATURES * 4 / 2**20
    ratio = memory_s / mapped_s
    benchmark.extra_info.update(
        rows_per_s_memmap=n_rows / mapped_s,
        rows_per_s_in_memory=n_rows / memory_s,
        throughput_ratio=ratio,
        peak_private_mib=peak[0] - baseline,
        file_mib=file_mib,
    )
    RESULTS.append(
        {
            "case": f"B5 .npy memmap N={n_rows} f32 per iteration",
            "fastem": mapped_s,
            "against": "fastem in memory",
            "other": memory_s,
            "note": (
                f"{n_rows / mapped_s:,.0f} rows/s; peak private +{peak[0] - baseline:.0f} MiB "
                f"for a {file_mib:,.0f} MiB file"
            ),
        }
    )


def test_online_time_to_batch_likelihood(benchmark):
    """Seconds of online EM (mini-batches of 10,000 rows at full size) to come within 0.5 %."""
    n_rows = size(2_000_000, 100_000)
    rng = np.random.default_rng(3)
    centres = rng.uniform(-10, 10, size=(N_COMPONENTS, N_FEATURES))
    X = rng.standard_normal((n_rows, N_FEATURES)) + centres[rng.integers(0, N_COMPONENTS, n_rows)]
    start = time.perf_counter()
    batch = GaussianMixture(N_COMPONENTS, random_state=0).fit(X)
    batch_s = time.perf_counter() - start
    target = batch.score(X)

    batch_rows = min(10_000, n_rows // 50)
    reached = {}

    def run_online():
        online = GaussianMixture(N_COMPONENTS, random_state=0)
        begin = time.perf_counter()
        checked = 0.0
        order = np.random.default_rng(0).permutation(n_rows // batch_rows)
        for _ in range(3):
            for b in order:
                online.partial_fit(X[b * batch_rows : (b + 1) * batch_rows])
                if online.n_iter_ % 10 == 0:
                    pause = time.perf_counter()
                    close = abs(online.score(X) - target) <= 0.005 * abs(target)
                    checked += time.perf_counter() - pause
                    if close:
                        reached["s"] = time.perf_counter() - begin - checked
                        reached["epochs"] = online.n_iter_ * batch_rows / n_rows
                        return
        reached["s"] = float("nan")

    benchmark.pedantic(run_online, rounds=1, iterations=1)
    benchmark.extra_info.update(online_s=reached["s"], batch_s=batch_s)
    RESULTS.append(
        {
            "case": f"online EM N={n_rows} to within 0.5% of batch",
            "fastem": reached["s"],
            "against": "fastem batch fit",
            "other": batch_s,
            "note": f"{reached.get('epochs', 0):.2f} epochs",
        }
    )
