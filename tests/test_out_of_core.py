"""Out-of-core sources, exact chunked EM and online (stepwise) EM."""

import subprocess
import sys
import textwrap
import warnings

import h5py
import numpy as np
import pytest
import zarr
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _mixture_rows(n_samples, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 6.0], [-6.0, 6.0, 0.0]])
    labels = rng.integers(0, 3, n_samples)
    X = rng.standard_normal((n_samples, 3)) * rng.uniform(0.5, 1.5, 3) + centres[labels]
    return X


def _assert_same_model(a, b, rtol=1e-10):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=1e-12)
    assert a.n_iter_ == b.n_iter_
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-12)


@pytest.fixture(scope="module")
def rows():
    return _mixture_rows(1500)


@pytest.fixture(scope="module")
def npy_path(rows, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "rows.npy"
    np.save(path, rows)
    return path


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
@pytest.mark.parametrize("chunk_size", [7, 500, 1499, None])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_memmap_fit_equals_in_memory(rows, npy_path, covariance_type, init_params, chunk_size):
    weights = np.random.default_rng(1).integers(0, 3, len(rows)).astype(float)
    params = dict(
        covariance_type=covariance_type, init_params=init_params, random_state=0, tol=1e-8
    )
    in_memory = GaussianMixture(3, **params).fit(rows, sample_weight=weights)
    mapped = np.load(npy_path, mmap_mode="r")
    chunked = GaussianMixture(3, chunk_size=chunk_size, **params).fit(
        mapped, sample_weight=weights
    )
    _assert_same_model(chunked, in_memory)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_row_chunks_equal_in_memory(covariance_type, tmp_path):
    X = _mixture_rows(120, seed=3)
    path = tmp_path / "small.npy"
    np.save(path, X)
    params = dict(covariance_type=covariance_type, init_params="k-means++", random_state=0)
    in_memory = GaussianMixture(3, tol=1e-8, **params).fit(X)
    chunked = GaussianMixture(3, tol=1e-8, chunk_size=1, **params).fit(path)
    _assert_same_model(chunked, in_memory)


def test_in_memory_array_with_chunk_size_equals_one_chunk(rows):
    whole = GaussianMixture(3, random_state=0, tol=1e-8).fit(rows)
    chunked = GaussianMixture(3, random_state=0, tol=1e-8, chunk_size=123).fit(rows)
    _assert_same_model(chunked, whole)


def test_float32_memmap_stays_float32(rows, tmp_path):
    path = tmp_path / "rows32.npy"
    np.save(path, rows.astype(np.float32))
    model = GaussianMixture(3, random_state=0, chunk_size=400).fit(path)
    reference = GaussianMixture(3, random_state=0).fit(rows.astype(np.float32))
    assert model.means_.dtype == np.float32
    # float32 blocks: the chunks' block sums differ from the whole array's by float32
    # rounding, relative to the means' scale (some means are near zero).
    scale = np.abs(reference.means_).max()
    np.testing.assert_allclose(model.means_, reference.means_, rtol=1e-6, atol=1e-6 * scale)


def test_hdf5_and_zarr_sources(rows, tmp_path):
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(rows)
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f["rows"] = rows
    with h5py.File(tmp_path / "rows.h5", "r") as f:
        _assert_same_model(
            GaussianMixture(3, random_state=0, tol=1e-8, chunk_size=400).fit(f["rows"]),
            reference,
        )
    # A path to an HDF5 file with a single 2-D dataset works too.
    _assert_same_model(
        GaussianMixture(3, random_state=0, tol=1e-8, chunk_size=400).fit(tmp_path / "rows.h5"),
        reference,
    )
    z = zarr.open_array(
        str(tmp_path / "rows.zarr"), mode="w", shape=rows.shape, chunks=(256, 3), dtype="f8"
    )
    z[:] = rows
    _assert_same_model(
        GaussianMixture(3, random_state=0, tol=1e-8, chunk_size=300).fit(z), reference
    )


def test_iterable_and_callable_sources(rows):
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(rows)
    chunks = [rows[i : i + 256] for i in range(0, len(rows), 256)]
    _assert_same_model(GaussianMixture(3, random_state=0, tol=1e-8).fit(chunks), reference)

    def read():
        return (rows[i : i + 100] for i in range(0, len(rows), 100))

    _assert_same_model(GaussianMixture(3, random_state=0, tol=1e-8).fit(read), reference)


def test_iterable_with_weights_per_chunk(rows):
    weights = np.random.default_rng(2).uniform(0, 2, len(rows))
    reference = GaussianMixture(3, random_state=0, tol=1e-8).fit(rows, sample_weight=weights)
    pairs = [(rows[i : i + 300], weights[i : i + 300]) for i in range(0, len(rows), 300)]
    _assert_same_model(GaussianMixture(3, random_state=0, tol=1e-8).fit(pairs), reference)


def test_one_shot_generator_needs_reiterable_source(rows):
    generator = (rows[i : i + 100] for i in range(0, len(rows), 100))
    with pytest.raises(ValueError, match="one-shot iterator"):
        GaussianMixture(3, random_state=0).fit(generator)


def test_one_shot_generator_is_fine_for_one_online_epoch(rows):
    generator = (rows[i : i + 100] for i in range(0, len(rows), 100))
    model = GaussianMixture(3, random_state=0).fit(generator, mode="online", batch_size=100)
    assert model.n_iter_ == 15
    assert np.isfinite(model.lower_bound_)


def test_source_errors(rows, tmp_path):
    with pytest.raises(FileNotFoundError, match="No such data file"):
        GaussianMixture(2).fit(tmp_path / "missing.npy")
    bad = rows.copy()
    bad[700, 1] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(ValueError, match="infinity"):
        GaussianMixture(2, chunk_size=100).fit(tmp_path / "inf.npy")
    ragged = [rows[:100], rows[100:200, :2]]
    with pytest.raises(ValueError, match="3 columns"):
        GaussianMixture(2).fit(ragged)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit([rows[:3]])
    with pytest.raises(ValueError, match="chunk_size"):
        GaussianMixture(2, chunk_size=0).fit(rows)


def test_predict_after_out_of_core_fit(rows, npy_path):
    model = GaussianMixture(3, random_state=0, chunk_size=200)
    labels = model.fit_predict(npy_path)
    assert model.n_features_in_ == 3
    np.testing.assert_array_equal(labels, model.predict(rows))


def test_callback_logs_and_stops(rows):
    seen = []

    def callback(iteration, lower_bound):
        seen.append((iteration, lower_bound))
        return iteration == 2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GaussianMixture(
            3, random_state=0, tol=0.0, max_iter=50, init_params="random", callback=callback
        ).fit(rows)
    assert [i for i, _ in seen] == [1, 2]
    assert model.n_iter_ == 2 and not model.converged_
    assert seen[-1][1] == model.lower_bound_


def test_progress_bar_reports_rows_and_log_likelihood(rows, npy_path, capsys):
    GaussianMixture(3, random_state=0, chunk_size=500, progress=True).fit(npy_path)
    err = capsys.readouterr().err
    assert "rows/s" in err and "mean log-lik" in err
    GaussianMixture(3, random_state=0).fit(rows)
    assert capsys.readouterr().err == ""


def test_partial_fit_reaches_batch_likelihood_in_two_epochs():
    X = _mixture_rows(20_000, seed=5)
    batch = GaussianMixture(3, random_state=0).fit(X)
    online = GaussianMixture(3, random_state=0)
    rng = np.random.default_rng(0)
    for _ in range(2):
        order = rng.permutation(len(X))
        for start in range(0, len(X), 500):
            online.partial_fit(X[order[start : start + 500]])
    target = batch.score(X)
    assert online.n_iter_ == 80
    assert abs(online.score(X) - target) <= 0.005 * abs(target)


def test_fit_online_mode_matches_batch_likelihood():
    X = _mixture_rows(20_000, seed=6)
    X = X[np.random.default_rng(1).permutation(len(X))]
    target = GaussianMixture(3, random_state=0).fit(X).score(X)
    online = GaussianMixture(3, random_state=0).fit(X, mode="online", batch_size=500, n_epochs=2)
    assert len(online.lower_bounds_) == 2
    assert abs(online.score(X) - target) <= 0.005 * abs(target)


@pytest.mark.parametrize("decay", [0.5, 0.3, 1.2])
def test_decay_out_of_range_is_an_error(rows, decay):
    with pytest.raises(ValueError, match="decay"):
        GaussianMixture(3, decay=decay).partial_fit(rows)
    with pytest.raises(ValueError, match="decay"):
        GaussianMixture(3, decay=decay).fit(rows, mode="online")


def test_online_mode_argument_errors(rows):
    with pytest.raises(ValueError, match="mode"):
        GaussianMixture(3).fit(rows, mode="sometimes")
    with pytest.raises(ValueError, match="n_epochs"):
        GaussianMixture(3).fit(rows, mode="online", n_epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        GaussianMixture(3).fit(rows, mode="online", batch_size=-1)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    import numpy as np
    from fastem import GaussianMixture

    def rss_anon_kib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])

    path, chunk_size = sys.argv[1], int(sys.argv[2])
    # Compile (or load) the kernels and settle allocations before the baseline.
    GaussianMixture(4, init_params="random_from_data", max_iter=2, random_state=0).fit(
        np.load(path, mmap_mode="r")[:5000].copy()
    )
    baseline = rss_anon_kib()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon_kib())
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    GaussianMixture(
        4, init_params="kmeans", max_iter=3, tol=0.0, random_state=0, chunk_size=chunk_size
    ).fit(path)
    done.set()
    thread.join()
    print(baseline, peak[0])
    """
)


def test_out_of_core_fit_keeps_private_memory_near_chunk_size(tmp_path):
    """A fit over a 256 MB file with 4 MB chunks must not make a private copy of it."""
    n_rows, n_features = 2_000_000, 16
    path = tmp_path / "big.npy"
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n_rows, n_features))
    rng = np.random.default_rng(0)
    for start in range(0, n_rows, 250_000):
        block = rng.standard_normal((250_000, n_features))
        block[:, 0] += 8.0 * rng.integers(0, 4, 250_000)
        data[start : start + 250_000] = block
    data.flush()
    del data
    file_mib = n_rows * n_features * 8 / 2**20
    chunk_rows = 32_768  # 4 MiB of rows
    script = tmp_path / "memory.py"
    script.write_text(MEMORY_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(path), str(chunk_rows)],
        capture_output=True,
        text=True,
        check=True,
    )
    baseline_kib, peak_kib = map(int, result.stdout.split())
    growth_mib = (peak_kib - baseline_kib) / 1024
    # Two chunks (prefetch) plus the k-means++ sample (131,072 rows x 16 x 8 B = 16 MiB)
    # and per-chunk label arrays: tens of MiB, against a 244 MiB file.
    assert growth_mib < 64, (
        f"private memory grew by {growth_mib:.0f} MiB for a {file_mib:.0f} MiB file"
    )
