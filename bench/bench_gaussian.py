"""GaussianMixture against scikit-learn, same process, same initial parameters.

Smoke sizes by default (so CI keeps this code alive); the issue's sizes with
``FASTEM_BENCH_FULL=1``::

    FASTEM_BENCH_FULL=1 pytest bench/bench_gaussian.py -s

Each case reports seconds per EM iteration (tol=0, fixed iterations, the
marginal cost of an iteration, see ``_common.alternating_seconds_per_iteration``)
for both libraries, timed in alternation, their ratio with its range over the
rounds, and the fit kernel's rate as a fraction of NumPy's GEMM peak of the
same dtype (by wall clock and per CPU second). Everything goes to the
benchmark's ``extra_info`` (with the CPU's vector width, the kernels' product
path, the GEMM peaks and the BLAS), so that saved runs can be compared with
``bench/compare_ratios.py``. ``FASTEM_MATMUL_PATH`` forces a product path.
"""

import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _common import (
    RESULTS,
    alternating_seconds_per_iteration,
    blas_info,
    blobs,
    fastem_info,
    gemm_peaks,
    machine,
    median_time,
    ratio_summary,
    shared_start,
    size,
    summary,
)
from fastem import GaussianMixture

CASES = {
    # name: (n_samples, n_features, n_components, covariance_type, dtype)
    "B1 full f64": (size(1_000_000, 20_000), 16, 16, "full", np.float64),
    "B1 full f32": (size(1_000_000, 20_000), 16, 16, "full", np.float32),
    "B2 diag f64": (size(1_000_000, 20_000), 64, 32, "diag", np.float64),
    "B3 pixels full f64": (size(2_073_600, 40_000), 3, 8, "full", np.float64),
}


def _n_stat(d, covariance_type):
    """Length of the feature vector T(x) (see ``kernels._gaussian_features.n_stat_features``)."""
    return {"full": 1 + d + d * (d + 1) // 2, "diag": 1 + 2 * d}[covariance_type]


def _gemm_flops(n_samples, n_features, n_components, covariance_type):
    """Flops of the two products per iteration (T @ W and R^T @ T)."""
    return 4.0 * n_samples * _n_stat(n_features, covariance_type) * n_components


@pytest.mark.parametrize("case", list(CASES))
def test_em_iteration(benchmark, case):
    n_samples, n_features, n_components, covariance_type, dtype = CASES[case]
    X = blobs(n_samples, n_features, n_components, dtype=dtype)
    init = shared_start(X, n_components, covariance_type)
    n_iter = 3
    rounds = 3

    def make(cls):
        return lambda max_iter: cls(
            n_components, covariance_type=covariance_type, tol=0.0, max_iter=max_iter, **init
        )

    makers = {"fastem": make(GaussianMixture), "sklearn": make(SkGaussianMixture)}
    # float32 rows: fastem on the same values in float64 too (the float32
    # target is a ratio to fastem's own float64 speed).
    data = {}
    if dtype == np.float32:
        makers["fastem float64"] = make(GaussianMixture)
        data["fastem float64"] = X.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in data:
            makers[name](1).fit(data[name])
        make(GaussianMixture)(1).fit(X)  # compile or load the kernels outside the timing
        benchmark.pedantic(
            lambda: make(GaussianMixture)(n_iter).fit(X), rounds=rounds, iterations=1
        )
        # Both libraries in every round, one after the other: on a shared machine
        # single rounds varied 2x, and a burst of load should fall on both sides.
        times = alternating_seconds_per_iteration(makers, X, n_iter, rounds, data)

    ours = [w for w, _ in times["fastem"]]
    theirs = [w for w, _ in times["sklearn"]]
    ours_cpu = [c for _, c in times["fastem"]]
    theirs_cpu = [c for _, c in times["sklearn"]]
    fastem_s = summary(ours)["median"]
    sklearn_s = summary(theirs)["median"]
    flops = _gemm_flops(n_samples, n_features, n_components, covariance_type)
    peak = gemm_peaks()["float32" if dtype == np.float32 else "float64"]
    rate = flops / fastem_s / 1e9
    cpu_rate = flops / summary(ours_cpu)["median"] / 1e9
    info = {
        "case": case,
        "n_samples": n_samples,
        "fastem_s_per_iter": fastem_s,
        "fastem_s_range": [min(ours), max(ours)],
        "fastem_cpu_s_per_iter": summary(ours_cpu)["median"],
        "sklearn_s_per_iter": sklearn_s,
        "sklearn_s_range": [min(theirs), max(theirs)],
        "sklearn_cpu_s_per_iter": summary(theirs_cpu)["median"],
        "speedup": sklearn_s / fastem_s,
        "speedup_range": [ratio_summary(ours, theirs)["min"], ratio_summary(ours, theirs)["max"]],
        "speedup_cpu": summary(theirs_cpu)["median"] / summary(ours_cpu)["median"],
        "gemm_gflops": rate,
        "fraction_of_gemm_peak": rate / peak["gflops"],
        "fraction_of_gemm_peak_cpu": cpu_rate / peak["cpu_gflops"],
        "gemm_peaks": gemm_peaks(),
        **fastem_info(_n_stat(n_features, covariance_type), n_components),
        **blas_info(),
        "machine": machine(),
    }
    if "fastem float64" in times:
        wide = [w for w, _ in times["fastem float64"]]
        info["fastem_float64_s_per_iter"] = summary(wide)["median"]
        info["float32_speedup_over_float64"] = summary(wide)["median"] / fastem_s
        info["float32_speedup_range"] = [
            ratio_summary(ours, wide)["min"],
            ratio_summary(ours, wide)["max"],
        ]
        RESULTS.append(
            {
                "case": f"{case} N={n_samples} per iteration, float32 vs float64 rows",
                "fastem": fastem_s,
                "against": "fastem float64",
                "other": info["fastem_float64_s_per_iter"],
                "note": "paired rounds, ratio {:.2f}-{:.2f}x".format(
                    *info["float32_speedup_range"]
                ),
            }
        )
    benchmark.extra_info.update(info)
    note = (
        f"{rate:.0f} GFLOP/s = {info['fraction_of_gemm_peak']:.0%} of NumPy's "
        f"{'S' if dtype == np.float32 else 'D'}GEMM peak {peak['gflops']:.0f} "
        f"({info['fraction_of_gemm_peak_cpu']:.0%} per CPU second: "
        f"{cpu_rate:.0f} of {peak['cpu_gflops']:.0f}); ratio "
        f"{info['speedup_range'][0]:.1f}-{info['speedup_range'][1]:.1f}x over rounds; "
        f"{info['matmul_path']}"
    )
    RESULTS.append(
        {
            "case": f"{case} N={n_samples} per iteration",
            "fastem": fastem_s,
            "against": "scikit-learn",
            "other": sklearn_s,
            "note": note,
        }
    )


@pytest.mark.parametrize("case", ["B1 full f64", "B2 diag f64", "B3 pixels full f64"])
def test_predict_proba(benchmark, case):
    """Prediction throughput (rows/s) of ``predict_proba`` on the case's rows, both libraries.

    Both models hold the same parameters (one scikit-learn fit on a sample,
    copied into fastem), so both compute the same probabilities.
    """
    n_samples, n_features, n_components, covariance_type, dtype = CASES[case]
    X = blobs(n_samples, n_features, n_components, dtype=dtype)
    init = shared_start(X, n_components, covariance_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGaussianMixture(
            n_components, covariance_type=covariance_type, max_iter=1, **init
        ).fit(X[: min(len(X), 50_000)])
        ours = GaussianMixture(
            n_components,
            covariance_type=covariance_type,
            max_iter=1,
            weights_init=sk.weights_,
            means_init=sk.means_,
            precisions_init=sk.precisions_,
        ).fit(X[:1000])
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        setattr(ours, name, getattr(sk, name))
    np.testing.assert_allclose(ours.predict_proba(X[:1000]), sk.predict_proba(X[:1000]), atol=1e-8)
    benchmark.pedantic(lambda: ours.predict_proba(X), rounds=3, iterations=1)
    walls = {"fastem": [], "sklearn": []}
    for _ in range(3):
        for name, model in (("fastem", ours), ("sklearn", sk)):
            start = time.perf_counter()
            model.predict_proba(X)
            walls[name].append(time.perf_counter() - start)
    fastem_s, sklearn_s = summary(walls["fastem"])["median"], summary(walls["sklearn"])["median"]
    info = {
        "case": case,
        "fastem_rows_per_s": n_samples / fastem_s,
        "sklearn_rows_per_s": n_samples / sklearn_s,
        "rows_per_s_ratio": sklearn_s / fastem_s,
        "rows_per_s_ratio_range": [
            ratio_summary(walls["fastem"], walls["sklearn"])["min"],
            ratio_summary(walls["fastem"], walls["sklearn"])["max"],
        ],
        **fastem_info(n_features**2, n_components),
        "machine": machine(),
    }
    benchmark.extra_info.update(info)
    RESULTS.append(
        {
            "case": f"{case} predict_proba N={n_samples}",
            "fastem": fastem_s,
            "against": "scikit-learn",
            "other": sklearn_s,
            "note": f"{info['fastem_rows_per_s'] / 1e6:.1f} M rows/s against "
            f"{info['sklearn_rows_per_s'] / 1e6:.2f} M rows/s",
        }
    )


def test_small_whole_fit(benchmark):
    """B6: N=10,000, D=2, K=3 full, a whole default fit (k-means init included)."""
    X = blobs(10_000, 2, 3, seed=6)
    GaussianMixture(3, random_state=0).fit(X)  # warm compile cache
    benchmark.pedantic(lambda: GaussianMixture(3, random_state=0).fit(X), rounds=10, iterations=1)
    fastem_s = median_time(lambda: GaussianMixture(3, random_state=0).fit(X), 10)
    sklearn_s = median_time(lambda: SkGaussianMixture(3, random_state=0).fit(X), 10)
    benchmark.extra_info.update(
        fastem_s=fastem_s, sklearn_s=sklearn_s, speedup=sklearn_s / fastem_s
    )
    RESULTS.append(
        {
            "case": "B6 N=10000 D=2 K=3 whole fit",
            "fastem": fastem_s,
            "against": "scikit-learn",
            "other": sklearn_s,
        }
    )
