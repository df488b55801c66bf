"""MixtureImputer: imputation error and time against scikit-learn's imputers, and the kernel.

Smoke sizes by default (seconds); more seeds and the large transform with
``FASTEM_BENCH_FULL=1``::

    FASTEM_BENCH_FULL=1 pytest bench/bench_impute.py -s

* Wine: scikit-learn's bundled wine data (178 x 13), standardised, with 20 %
  of the values removed completely at random; RMSE over the removed values
  and ``fit_transform`` seconds of MixtureImputer (one full Gaussian, and
  three tied components), ``SimpleImputer(strategy="mean")``,
  ``IterativeImputer`` and ``KNNImputer``, averaged over seeds of the mask.
* Transform: a fitted 16-component full mixture in 16 dimensions filling
  rows of which 10 % miss 1-3 values in random patterns (seconds and the
  number of distinct patterns).
"""

import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from _common import FULL, RESULTS, blobs, median_time, size
from fastem import GaussianMixture, MixtureImputer
from fastem.impute import impute, missingness_patterns

IMPUTERS = {
    "MixtureImputer(K=1, full)": lambda: MixtureImputer(random_state=0),
    "MixtureImputer(K=3, tied)": lambda: MixtureImputer(3, covariance_type="tied", random_state=0),
    "SimpleImputer(mean)": lambda: SimpleImputer(strategy="mean"),
    "IterativeImputer": lambda: IterativeImputer(random_state=0, max_iter=30),
    "KNNImputer": lambda: KNNImputer(),
}


def _wine_case(seed):
    X = StandardScaler().fit_transform(load_wine().data)
    mask = np.random.default_rng(seed).uniform(size=X.shape) < 0.2
    return X, mask, np.where(mask, np.nan, X)


def _rmse_and_seconds(make, seeds):
    errors, seconds = [], []
    for seed in seeds:
        X, mask, X_missing = _wine_case(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IterativeImputer's ConvergenceWarning
            start = time.perf_counter()
            out = make().fit_transform(X_missing)
            seconds.append(time.perf_counter() - start)
        errors.append(float(np.sqrt(np.mean((out - X)[mask] ** 2))))
    return statistics.mean(errors), statistics.median(seconds)


def test_wine_imputers(benchmark):
    seeds = range(size(20, 3))
    _rmse_and_seconds(IMPUTERS["MixtureImputer(K=1, full)"], [0])  # compile / warm up
    results = {name: _rmse_and_seconds(make, seeds) for name, make in IMPUTERS.items()}
    X_missing = _wine_case(0)[2]
    benchmark.pedantic(
        lambda: MixtureImputer(random_state=0).fit_transform(X_missing), rounds=3, iterations=1
    )
    print(f"\nwine, 20 % missing, {len(seeds)} masks: mean RMSE, median fit_transform seconds")
    for name, (rmse, seconds) in results.items():
        print(f"  {name:<28} RMSE {rmse:.4f}   {seconds:.4f} s")
        benchmark.extra_info[name] = {"rmse": rmse, "seconds": seconds}
    ours_rmse, ours_s = results["MixtureImputer(K=1, full)"]
    for name in ("SimpleImputer(mean)", "IterativeImputer", "KNNImputer"):
        rmse, seconds = results[name]
        RESULTS.append(
            {
                "case": "impute wine 20% missing, K=1 full",
                "fastem": ours_s,
                "against": name,
                "other": seconds,
                "note": f"RMSE {ours_rmse:.3f} vs {rmse:.3f}",
            }
        )
    assert ours_rmse < results["SimpleImputer(mean)"][0]


def test_transform_many_patterns(benchmark):
    n, d, k = size(1_000_000, 20_000), 16, 16
    X = blobs(n, d, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # five iterations are enough for a timing
        mixture = GaussianMixture(k, max_iter=5, tol=0, random_state=0).fit(X[: size(100_000, n)])
    rng = np.random.default_rng(1)
    X_missing = X.copy()
    rows = np.flatnonzero(rng.uniform(size=n) < 0.1)
    for row, count in zip(rows, rng.integers(1, 4, rows.size), strict=True):
        X_missing[row, rng.choice(d, count, replace=False)] = np.nan
    n_patterns = missingness_patterns(np.isnan(X_missing))[1].size - 1
    impute(mixture, X_missing[:100])  # compile / warm up
    rounds = size(3, 3)
    benchmark.pedantic(lambda: impute(mixture, X_missing), rounds=rounds, iterations=1)
    seconds = median_time(lambda: impute(mixture, X_missing), rounds)
    info = {
        "seconds": seconds,
        "rows": n,
        "incomplete_rows": int(rows.size),
        "patterns": int(n_patterns),
        "sizes": "full" if FULL else "smoke",
    }
    benchmark.extra_info.update(info)
    print(f"\ntransform {n}x{d} K={k} full, 10 % rows missing 1-3 values: {info}")
