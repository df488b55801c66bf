"""TabularMixture: seconds per EM iteration against StepMix, and Parquet throughput.

Smoke sizes by default; the issue's sizes with ``FASTEM_BENCH_FULL=1``::

    FASTEM_BENCH_FULL=1 pytest bench/bench_tabular.py -s

* T1: N=100,000 rows of 4 gaussian + 4 bernoulli + 4 categorical (5 levels)
  + 2 poisson columns, K=5, complete and with 10 % of the cells missing. One
  fastem EM iteration (fused pass + M-step) against one StepMix iteration
  (``_e_step`` + ``_m_step``, StepMix's own EM step) on the same data from the
  same parameters, in the same process. StepMix has no Poisson model, so the
  ratio is taken on the 12 columns both fit (StepMix's ``continuous``/
  ``binary``/``categorical`` models, their ``_nan`` forms with missing cells);
  fastem's time on all 14 columns is reported beside it.
* T2 (full size only): exact EM over a Parquet file of 20,000,000 such rows
  read by batches; rows/s, and the peak resident memory of a fit on 2,000,000
  and on 20,000,000 rows in fresh processes (bounded memory: the two are
  about equal).
"""

import os
import statistics
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from _common import FULL, RESULTS, median_time, ratio_summary, size
from fastem import TabularMixture
from fastem._threads import kernel_threads

K = 5
N_LEVELS = 5


def table(n, missing=0.0, seed=0):
    """A mixed table from a K-class model (generated, never stored)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, K, n)
    data = {}
    for j in range(4):
        data[f"g{j}"] = rng.normal(z * (j + 1.0), 1.0 + 0.2 * j)
    for j in range(4):
        data[f"b{j}"] = rng.uniform(size=n) < (z + 1.0) / (K + 2.0)
    for j in range(4):
        codes = (z + rng.integers(0, 2, n)) % N_LEVELS
        data[f"c{j}"] = pd.Categorical.from_codes(codes, [f"l{i}" for i in range(N_LEVELS)])
    for j in range(2):
        data[f"p{j}"] = rng.poisson(1.0 + z * (j + 1.0))
    frame = pd.DataFrame(data)
    if missing:
        for name in frame.columns:
            holes = rng.uniform(size=n) < missing
            if frame[name].dtype == bool:
                frame[name] = pd.array(frame[name], dtype="boolean")
            elif frame[name].dtype.kind == "i":
                frame[name] = pd.array(frame[name], dtype="Int64")
            frame.loc[holes, name] = None
    return frame


def fastem_iteration(frame):
    """One EM iteration of a fitted model's family from its parameters (a closure)."""
    model = TabularMixture(K, max_iter=1, random_state=0)
    model.fit(frame)
    X = model._validate_X(frame, reset=False)
    params = model._params_from_attributes()
    family = model._make_family(X.shape[1], X.dtype, np.nanmean(X, axis=0))
    reg = model._reg()
    empty = np.empty(0)

    def iteration():
        with kernel_threads(None):
            stats = family.estep_stats(X, empty, params)
            return family.m_step(stats, reg), stats.mean_log_likelihood

    return model, iteration


def stepmix_iteration(model, frame, missing):
    """One StepMix EM iteration from the fastem model's parameters, on the 12 shared columns."""
    stepmix = pytest.importorskip("stepmix")
    suffix = "_nan" if missing else ""
    G = frame[[f"g{j}" for j in range(4)]].to_numpy(dtype=float)
    B = np.column_stack([frame[f"b{j}"].to_numpy(dtype=float, na_value=np.nan) for j in range(4)])
    C = np.column_stack(
        [
            np.where(frame[f"c{j}"].cat.codes < 0, np.nan, frame[f"c{j}"].cat.codes)
            for j in range(4)
        ]
    ).astype(float)
    X = np.column_stack([G, B, C])
    descriptor = {
        "g": {"model": "continuous" + suffix, "n_columns": 4},
        "b": {"model": "binary" + suffix, "n_columns": 4},
        "c": {"model": "categorical" + suffix, "n_columns": 4},
    }
    params = {
        "weights": model.weights_.copy(),
        "measurement": {
            "g": {"means": model.means_.copy(), "covariances": model.variances_.copy()},
            "b": {"pis": model.probs_.copy()},
            "c": {
                "pis": model.level_probs_.copy(),
                "max_n_outcomes": N_LEVELS,
                "total_outcomes": 4 * N_LEVELS,
            },
        },
        "measurement_in": X.shape[1],
    }
    sm = stepmix.StepMix(
        n_components=K, measurement=descriptor, max_iter=1, progress_bar=0, verbose=0
    )
    sm._initialize_parameters = lambda X, random_state: sm.set_parameters(params)
    sm.fit(X)  # builds the models
    sm.set_parameters(params)

    def iteration():
        log_prob_norm, log_resp = sm._e_step(X)
        sm._m_step(X, np.exp(log_resp))
        return log_prob_norm

    return iteration


def alternating_rounds(funcs, rounds, repeat, pause=0.3):
    """Per name, one median time per round; each round times every function in turn.

    A round runs each function ``repeat`` times (its median counts), one after
    the other, so that a burst of load on a shared machine falls on both sides
    of a ratio instead of on one. Before each function the machine idles for
    ``pause`` seconds and the function runs once untimed: OpenBLAS's threads
    keep spinning for about a tenth of a second after a call (StepMix's NumPy
    products), and on two cores they would slow the next library's threads
    for that long.
    """
    out = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, func in funcs.items():
            time.sleep(pause)
            func()
            out[name].append(median_time(func, repeat[name]))
    return out


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_t1_per_iteration_vs_stepmix(benchmark, missing):
    n = size(100_000, 10_000)
    rounds = size(15, 3)
    frame = table(n, missing)
    model, full_iteration = fastem_iteration(frame)
    shared = frame.drop(columns=["p0", "p1"])
    shared_model, shared_iteration = fastem_iteration(shared)
    sm_iteration = stepmix_iteration(shared_model, shared, missing)
    full_iteration()
    shared_iteration()
    sm_iteration()
    benchmark.pedantic(shared_iteration, rounds=rounds, iterations=1)
    times = alternating_rounds(
        {"fastem": shared_iteration, "full": full_iteration, "stepmix": sm_iteration},
        rounds,
        {"fastem": 9, "full": 9, "stepmix": 1},
    )
    fastem_s = statistics.median(times["fastem"])
    full_s = statistics.median(times["full"])
    stepmix_s = statistics.median(times["stepmix"])
    ratios = ratio_summary(times["fastem"], times["stepmix"])
    case = f"T1 tabular N={n} K={K} missing={missing:.0%} per iteration"
    info = {
        "fastem_s_12_columns": fastem_s,
        "stepmix_s_12_columns": stepmix_s,
        "speedup_vs_stepmix": stepmix_s / fastem_s,
        "speedup_range": f"{ratios['min']:.3g}-{ratios['max']:.3g}",
        "fastem_s_14_columns": full_s,
        "sizes": "full" if FULL else "smoke",
    }
    benchmark.extra_info.update(info)
    print(
        f"\n{case}: "
        + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()
        )
    )
    RESULTS.append(
        {
            "case": case,
            "fastem": fastem_s,
            "against": "StepMix",
            "other": stepmix_s,
            "note": f"12 shared columns; all 14 with Poisson: {full_s:.4g} s",
        }
    )


#: Rows per Parquet row group and per chunk of the out-of-core fit.
ROW_GROUP = size(262144, 8192)

_PARQUET_FIT = textwrap.dedent(
    """
    import resource, sys, time
    from fastem import TabularMixture
    path, n = sys.argv[1], int(sys.argv[2])
    model = TabularMixture({K}, max_iter=3, tol=0.0, random_state=0, chunk_size={ROWS})
    start = time.perf_counter()
    model.fit(path)
    seconds = time.perf_counter() - start
    print(n * 3 / seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
).format(K=K, ROWS=ROW_GROUP)


def _write_parquet(path, n):
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    step = 1_000_000
    for i, start in enumerate(range(0, n, step)):
        part = pa.Table.from_pandas(table(min(step, n - start), 0.1, seed=i), preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, part.schema)
        writer.write_table(part, row_group_size=ROW_GROUP)
    writer.close()


def test_t2_parquet_rows_per_second(tmp_path):
    """Rows/s and peak memory at two sizes ten times apart: the memory must not grow with N."""
    out = {}
    for n in (size(2_000_000, 20_000), size(20_000_000, 200_000)):
        path = tmp_path / f"t{n}.parquet"
        _write_parquet(path, n)
        done = subprocess.run(
            [sys.executable, "-c", _PARQUET_FIT, str(path), str(n)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ,
        )
        rate, rss_kib = done.stdout.split()
        out[n] = (float(rate), int(rss_kib) / 1024)
        path.unlink()
    print(
        "\nT2 Parquet (rows x EM iterations / whole-fit seconds; peak RSS): "
        + ", ".join(f"N={n}: {r / 1e6:.2f} M rows/s, {m:.0f} MiB" for n, (r, m) in out.items())
    )
