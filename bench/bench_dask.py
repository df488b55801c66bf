"""EM on a Dask LocalCluster against the in-process chunked fit of the same rows.

Full size (``FASTEM_BENCH_FULL=1``): 10,000,000 x 16 float32 rows (K=16 full)
in a ``.npy`` file, as a dask array of 16 blocks that each worker reads from
the memory map itself (the rows never travel), on a LocalCluster of two
single-threaded worker processes. The in-process reference is the chunked fit
(``chunk_size`` = the block size) of the same file, with both cores.
"""

import warnings

import dask
import dask.array as da
import distributed
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from _common import RESULTS, median_time, size
from fastem import GaussianMixture

N_FEATURES = 16
N_COMPONENTS = 16
N_BLOCKS = 16


def _read_block(path, start, stop):
    return np.array(np.load(path, mmap_mode="r")[start:stop])


def _dask_rows(path, n_rows):
    step = -(-n_rows // N_BLOCKS)
    blocks = [
        da.from_delayed(
            dask.delayed(_read_block)(str(path), start, min(n_rows, start + step)),
            shape=(min(n_rows, start + step) - start, N_FEATURES),
            dtype=np.float32,
        )
        for start in range(0, n_rows, step)
    ]
    return da.concatenate(blocks), step


def test_cluster_against_in_process(benchmark, tmp_path):
    n_rows = size(10_000_000, 50_000)
    rng = np.random.default_rng(0)
    centres = rng.uniform(-10, 10, size=(N_COMPONENTS, N_FEATURES)).astype(np.float32)
    path = tmp_path / "rows.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, N_FEATURES))
    for start in range(0, n_rows, 1_000_000):
        stop = min(n_rows, start + 1_000_000)
        block = rng.standard_normal((stop - start, N_FEATURES), dtype=np.float32)
        out[start:stop] = block + centres[rng.integers(0, N_COMPONENTS, stop - start)]
    out.flush()
    del out
    X_dask, block_rows = _dask_rows(path, n_rows)
    seed = GaussianMixture(
        N_COMPONENTS, init_params="random_from_data", random_state=0, max_iter=0
    ).fit(np.load(path, mmap_mode="r")[:100_000])
    init = dict(
        weights_init=seed.weights_ / seed.weights_.sum(),
        means_init=seed.means_,
        precisions_init=seed.precisions_,
    )
    n_iter = 3

    def model(max_iter, chunk_size=None):
        return GaussianMixture(
            N_COMPONENTS, tol=0.0, max_iter=max_iter, chunk_size=chunk_size, **init
        )

    def per_iteration(fit, rounds=1):
        one = median_time(lambda: fit(1), rounds)
        many = median_time(lambda: fit(1 + n_iter), rounds)
        return (many - one) / n_iter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model(1, block_rows).fit(path)  # page cache and kernels warm
        local_s = per_iteration(lambda m: model(m, block_rows).fit(path))
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster),
        ):
            model(1).fit(X_dask)  # workers load the kernels
            cluster_s = per_iteration(lambda m: model(m).fit(X_dask))
            benchmark.pedantic(lambda: model(1).fit(X_dask), rounds=1, iterations=1)
    benchmark.extra_info.update(
        cluster_s_per_iter=cluster_s, in_process_s_per_iter=local_s, ratio=cluster_s / local_s
    )
    RESULTS.append(
        {
            "case": f"Dask 2 procs N={n_rows} f32 full per iteration",
            "fastem": cluster_s,
            "against": "fastem in process",
            "other": local_s,
            "note": f"cluster / in-process time = {cluster_s / local_s:.2f}",
        }
    )
