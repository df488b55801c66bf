"""fastem.KMeans against scikit-learn's KMeans and a NumPy Lloyd step, on every source."""

import re
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import KMeans
from matmul_paths import pinned_matmul_path
from synthetic import make_blobs


def _datasets():
    rng = np.random.default_rng(0)
    blobs = make_blobs(n_samples=2000, n_features=3, n_components=4, seed=1)[0]
    noise = rng.uniform(-1, 1, (3000, 5))  # no structure: many iterations, many near-ties
    wide = make_blobs(n_samples=1500, n_features=37, n_components=12, seed=2)[0] + 1e3
    return {"blobs": (blobs, 5), "noise": (noise, 8), "wide": (wide, 12)}


DATASETS = _datasets()


def _initial_centres(X, k, seed=0):
    rng = np.random.default_rng(seed)
    return X[rng.choice(len(X), k, replace=False)].astype(np.float64)


def numpy_lloyd(X, C, w, max_iter, tol):
    """Lloyd's algorithm in NumPy with direct distances and scikit-learn's stopping rules."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if w is None else w
    threshold = tol * X.var(axis=0).mean()
    previous = None
    for i in range(max_iter):
        labels = ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1)
        if previous is not None and np.array_equal(labels, previous):
            return C, labels, i + 1
        new = np.array([np.average(X[labels == j], 0, w[labels == j]) for j in range(len(C))])
        shift = ((new - C) ** 2).sum()
        C, previous = new, labels
        if shift <= threshold:
            break
    return C, ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1), i + 1


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("tol", [1e-4, 0.0])
def test_same_as_sklearn_from_the_same_centres(name, weighted, tol):
    X, k = DATASETS[name]
    C = _initial_centres(X, k)
    w = np.random.default_rng(3).integers(0, 4, len(X)).astype(float) if weighted else None
    ours = KMeans(k, init=C, n_init=1, tol=tol, max_iter=100).fit(X, sample_weight=w)
    theirs = SkKMeans(k, init=C, n_init=1, tol=tol, max_iter=100).fit(X, sample_weight=w)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    scale = np.abs(X).max()
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=1e-12 * scale)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-10)
    assert ours.labels_.dtype == np.int32
    np.testing.assert_array_equal(ours.predict(X), ours.labels_)


@pytest.mark.parametrize("tol", [1e-4, 0.0])
def test_exact_ties_follow_the_direct_distances(tol):
    """Integer points and half-integer centres: exact ties, decided as NumPy's argmin does.

    (scikit-learn ranks by the expanded form on centred data, whose round-off
    decides such ties its own way, so the reference here is NumPy.)
    """
    rng = np.random.default_rng(11)
    X = rng.integers(0, 6, (1500, 2)).astype(np.float64)
    w = rng.integers(1, 4, len(X)).astype(float)
    C = np.array([[1.5, 3.5], [2.5, 3.5], [0.5, 3.5], [5.5, 3.5]])
    km = KMeans(4, init=C, tol=tol).fit(X, sample_weight=w)
    centres, labels, n_iter = numpy_lloyd(X, C, w, 300, tol)
    assert km.n_iter_ == n_iter
    np.testing.assert_array_equal(km.labels_, labels)
    np.testing.assert_allclose(km.cluster_centers_, centres, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", ["loops", "blas", "tiled", "tiled4"])
def test_every_product_path_gives_the_same_fit(path):
    X, k = DATASETS["noise"]
    C = _initial_centres(X, k)
    reference = SkKMeans(k, init=C, n_init=1).fit(X)
    with pinned_matmul_path(path):
        ours = KMeans(k, init=C, n_init=1).fit(X)
    assert ours.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(ours.labels_, reference.labels_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_lloyd_step_against_numpy(dtype):
    """max_iter=1: weighted means of the initial assignment, then a final assignment."""
    X, k = DATASETS["blobs"]
    X = X.astype(dtype)
    rng = np.random.default_rng(4)
    w = rng.uniform(0.0, 2.0, len(X))
    C = _initial_centres(X, k)
    km = KMeans(k, init=C, max_iter=1).fit(X, sample_weight=w)
    X64 = X.astype(np.float64)
    labels = ((X64[:, None] - C[None]) ** 2).sum(-1).argmin(1)
    expected = np.array(
        [np.average(X64[labels == j], axis=0, weights=w[labels == j]) for j in range(k)]
    )
    assert km.cluster_centers_.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(km.cluster_centers_, expected, rtol=rtol)
    d = ((X64[:, None] - expected[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(km.labels_, d.argmin(1))
    assert km.inertia_ == pytest.approx(w @ d.min(1), rel=1e-6 if dtype == np.float32 else 1e-12)
    assert km.n_iter_ == 1


def test_float32_agrees_with_float64_and_sklearn():
    X, k = DATASETS["blobs"]
    C = _initial_centres(X, k)
    f32 = KMeans(k, init=C).fit(X.astype(np.float32))
    f64 = KMeans(k, init=C).fit(X)
    theirs = SkKMeans(k, init=C, n_init=1).fit(X.astype(np.float32))
    np.testing.assert_array_equal(f32.labels_, f64.labels_)
    np.testing.assert_allclose(f32.cluster_centers_, f64.cluster_centers_, rtol=1e-6)
    np.testing.assert_allclose(f32.cluster_centers_, theirs.cluster_centers_, rtol=1e-5)
    assert f32.transform(X.astype(np.float32)).dtype == np.float32
    assert f32.inertia_ == pytest.approx(f64.inertia_, rel=1e-6)


def test_random_init_draws_the_rows_sklearn_draws():
    X, k = DATASETS["blobs"]
    ours = KMeans(k, init="random", random_state=7).fit(X)
    theirs = SkKMeans(k, init="random", random_state=7).fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-10)


def test_kmeans_plusplus_default_fit_is_as_good_as_sklearn():
    X, k = DATASETS["blobs"]
    ours = KMeans(k, random_state=0).fit(X)
    theirs = SkKMeans(k, random_state=0).fit(X)
    assert ours.inertia_ <= 1.05 * theirs.inertia_
    assert ours.n_iter_ <= ours.max_iter and ours.converged_


def test_n_init_keeps_the_lowest_inertia():
    X, k = DATASETS["noise"]
    runs = [KMeans(k, init="random", n_init=1, random_state=s).fit(X).inertia_ for s in range(3)]
    best = KMeans(k, init="random", n_init=5, random_state=0).fit(X)
    assert best.inertia_ <= min(runs[:1]) + 1e-9
    assert best._n_init == 5
    with pytest.warns(RuntimeWarning, match="Explicit initial center position passed"):
        KMeans(k, init=_initial_centres(X, k), n_init=3).fit(X)


def test_integer_weights_equal_repeated_rows():
    X, k = DATASETS["blobs"]
    w = np.random.default_rng(5).integers(0, 4, len(X))
    weighted = KMeans(k, random_state=0).fit(X, sample_weight=w)
    repeated = KMeans(k, random_state=0).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, rtol=1e-10)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=1e-10)
    assert weighted.n_iter_ == repeated.n_iter_


def _sources(X, tmp_path):
    import h5py
    import zarr

    path = tmp_path / "rows.npy"
    np.save(path, X)
    chunks = [X[i : i + 700] for i in range(0, len(X), 700)]
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f["rows"] = X
    z = zarr.open_array(
        str(tmp_path / "rows.zarr"), mode="w", shape=X.shape, chunks=(256, X.shape[1]), dtype="f8"
    )
    z[:] = X
    return {
        "chunk_size": (X, {"chunk_size": 333}),
        "npy-path": (str(path), {"chunk_size": 500}),
        "memmap": (np.load(path, mmap_mode="r"), {}),
        "iterable": (chunks, {}),
        "callable": (lambda: iter(chunks), {}),
        "hdf5-path": (tmp_path / "rows.h5", {"chunk_size": 400}),
        "zarr": (z, {"chunk_size": 300}),
    }


def test_chunked_sources_equal_in_memory(tmp_path):
    X, k = DATASETS["wide"]
    C = _initial_centres(X, k)
    reference = KMeans(k, init=C).fit(X)
    for name, (source, params) in _sources(X, tmp_path).items():
        km = KMeans(k, init=C, **params).fit(source)
        assert km.n_iter_ == reference.n_iter_, name
        np.testing.assert_array_equal(km.labels_, reference.labels_, err_msg=name)
        np.testing.assert_allclose(km.cluster_centers_, reference.cluster_centers_, rtol=1e-12)
        assert km.inertia_ == pytest.approx(reference.inertia_, rel=1e-12), name
        assert km.n_features_in_ == X.shape[1]


def test_float32_stays_float32_out_of_core_and_on_dask(tmp_path):
    import dask.array as da

    X, k = DATASETS["blobs"]
    X32 = X.astype(np.float32)
    C = _initial_centres(X, k)
    reference = KMeans(k, init=C).fit(X32)
    path = tmp_path / "rows32.npy"
    np.save(path, X32)
    Xd = da.from_array(X32, chunks=(600, -1))
    for name, source, params in [("npy", path, {"chunk_size": 500}), ("dask", Xd, {})]:
        km = KMeans(k, init=C, **params).fit(source)
        assert km.cluster_centers_.dtype == np.float32, name
        assert km.n_iter_ == reference.n_iter_, name
        labels = km.labels_.compute() if name == "dask" else km.labels_
        np.testing.assert_array_equal(labels, reference.labels_, err_msg=name)
        np.testing.assert_allclose(km.cluster_centers_, reference.cluster_centers_, rtol=1e-6)
        assert km.inertia_ == pytest.approx(reference.inertia_, rel=1e-6), name
    lazy = km.transform(Xd)
    assert isinstance(lazy, da.Array) and lazy.dtype == np.float32
    distances = lazy.compute()
    assert distances.dtype == np.float32
    np.testing.assert_allclose(distances, reference.transform(X32), rtol=1e-6)


def test_transform_dtype_is_sklearns_also_lazily():
    """float32 distances only for float32 rows and centres; a lazy result says so up front."""
    import dask.array as da

    X, k = DATASETS["blobs"]
    C = _initial_centres(X, k)
    for model_dtype in (np.float32, np.float64):
        ours = KMeans(k, init=C).fit(X.astype(model_dtype))
        theirs = SkKMeans(k, init=C, n_init=1).fit(X.astype(model_dtype))
        for rows_dtype in (np.float32, np.float64):
            rows = X.astype(rows_dtype)
            expected = theirs.transform(rows).dtype
            assert ours.transform(rows).dtype == expected, (model_dtype, rows_dtype)
            lazy = ours.transform(da.from_array(rows, chunks=(700, -1)))
            assert lazy.dtype == expected and lazy.compute().dtype == expected


def test_input_kinds_give_the_float64_fit():
    """DataFrames of ints, bool rows, Fortran order and read-only arrays: the float64 fit."""
    import pandas as pd

    rng = np.random.default_rng(13)
    X = rng.integers(0, 4, (400, 3))
    C = np.array([[0.5, 0.5, 0.5], [2.5, 2.5, 2.5], [0.5, 3.0, 1.0]])
    reference = KMeans(3, init=C).fit(X.astype(np.float64))
    readonly = X.astype(np.float64)
    readonly.setflags(write=False)
    kinds = {
        "int DataFrame": pd.DataFrame(X, columns=["a", "b", "c"]),
        "Fortran": np.asfortranarray(X.astype(np.float64)),
        "read-only": readonly,
        "int32": X.astype(np.int32),
    }
    for name, rows in kinds.items():
        km = KMeans(3, init=C).fit(rows)
        np.testing.assert_array_equal(km.labels_, reference.labels_, err_msg=name)
        np.testing.assert_allclose(km.cluster_centers_, reference.cluster_centers_, rtol=1e-12)
        np.testing.assert_array_equal(km.predict(rows), reference.labels_, err_msg=name)
    bits = X > 1
    km = KMeans(2, init=np.array([[0.0, 0, 0], [1.0, 1, 1]])).fit(bits)
    expected = KMeans(2, init=np.array([[0.0, 0, 0], [1.0, 1, 1]])).fit(bits.astype(float))
    np.testing.assert_array_equal(km.labels_, expected.labels_)
    assert km.cluster_centers_.dtype == np.float64


def test_thread_count_changes_round_off_only():
    from fastem._settings import override

    X, k = DATASETS["noise"]
    C = _initial_centres(X, k)
    with override(min_rows_per_group=100):
        one, two = (KMeans(k, init=C, max_iter=5, n_jobs=n).fit(X) for n in (1, 2))
    assert one.n_iter_ == two.n_iter_
    np.testing.assert_array_equal(one.labels_, two.labels_)
    np.testing.assert_allclose(one.cluster_centers_, two.cluster_centers_, rtol=1e-12)
    assert one.inertia_ == pytest.approx(two.inertia_, rel=1e-12)


def test_weighted_chunks_equal_in_memory():
    X, k = DATASETS["blobs"]
    w = np.random.default_rng(6).uniform(0, 2, len(X))
    C = _initial_centres(X, k)
    reference = KMeans(k, init=C).fit(X, sample_weight=w)
    chunks = [(X[i : i + 300], w[i : i + 300]) for i in range(0, len(X), 300)]
    km = KMeans(k, init=C).fit(chunks)
    np.testing.assert_array_equal(km.labels_, reference.labels_)
    assert km.inertia_ == pytest.approx(reference.inertia_, rel=1e-12)


def test_dask_array_equals_in_memory():
    import dask.array as da

    X, k = DATASETS["blobs"]
    w = np.random.default_rng(7).uniform(0, 2, len(X))
    C = _initial_centres(X, k)
    reference = KMeans(k, init=C, tol=1e-3).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(500, -1))
    km = KMeans(k, init=C, tol=1e-3).fit(Xd, sample_weight=w)
    assert km.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(km.cluster_centers_, reference.cluster_centers_, rtol=1e-12)
    assert km.inertia_ == pytest.approx(reference.inertia_, rel=1e-12)
    lazy = km.predict(Xd)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), reference.labels_)
    np.testing.assert_array_equal(km.labels_.compute(), reference.labels_)
    np.testing.assert_allclose(km.transform(Xd).compute(), reference.transform(X), rtol=1e-12)
    assert km.score(Xd) == pytest.approx(reference.score(X), rel=1e-12)
    weighted = reference.score(X, sample_weight=w)
    assert km.score(Xd, sample_weight=w) == pytest.approx(weighted, rel=1e-12)


def test_empty_cluster_moves_to_the_farthest_row_as_in_sklearn():
    X, k = DATASETS["blobs"]
    C = _initial_centres(X, k)
    C[2] = 1e6  # nearest to no row: empty after the first assignment
    ours = KMeans(k, init=C, max_iter=1).fit(X)
    theirs = SkKMeans(k, init=C, n_init=1, max_iter=1).fit(X)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-12)
    # The relocated centre is the row farthest from its centre, which left its cluster.
    labels = ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1)
    far = ((X - C[labels]) ** 2).sum(1).argmax()
    np.testing.assert_array_equal(ours.cluster_centers_[2], X[far])
    rest = (labels == labels[far]) & (np.arange(len(X)) != far)
    np.testing.assert_allclose(ours.cluster_centers_[labels[far]], X[rest].mean(0), rtol=1e-12)
    full = KMeans(k, init=C).fit(X)
    assert np.unique(full.labels_).size == k


def test_two_empty_clusters_take_the_two_farthest_rows():
    X, k = DATASETS["blobs"]
    C = _initial_centres(X, k)
    C[[1, 3]] = [1e6, -1e6, 1e6], [2e6, 0, 0]
    km = KMeans(k, init=C, max_iter=1).fit(X)
    labels = ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1)
    far = np.argsort(-((X - C[labels]) ** 2).sum(1), kind="stable")[:2]
    np.testing.assert_array_equal(km.cluster_centers_[[1, 3]], X[far])


def test_fewer_distinct_rows_than_clusters_warns():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 20, axis=0)
    with pytest.warns(ConvergenceWarning, match=r"Number of distinct clusters \(3\)"):
        km = KMeans(5, random_state=0).fit(X)
    assert km.inertia_ == 0.0
    theirs = SkKMeans(5, init=km.cluster_centers_, n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X)
    assert theirs.inertia_ == 0.0


def test_zero_weight_rows_are_absent_rows():
    X, k = DATASETS["blobs"]
    w = np.ones(len(X))
    w[::3] = 0.0
    C = _initial_centres(X[w > 0], k)
    with_zeros = KMeans(k, init=C).fit(X, sample_weight=w)
    without = KMeans(k, init=C).fit(X[w > 0])
    np.testing.assert_allclose(with_zeros.cluster_centers_, without.cluster_centers_, rtol=1e-12)
    assert with_zeros.inertia_ == pytest.approx(without.inertia_, rel=1e-12)


def test_partial_fit_is_minibatch_kmeans_without_reassignment():
    X, k = DATASETS["blobs"]
    C = _initial_centres(X, k)
    ours = KMeans(k, init=C)
    theirs = MiniBatchKMeans(k, init=C, n_init=1, reassignment_ratio=0.0, random_state=0)
    w = np.random.default_rng(8).uniform(0.5, 1.5, len(X))
    for start in range(0, len(X), 250):
        batch = slice(start, start + 250)
        ours.partial_fit(X[batch], sample_weight=w[batch])
        theirs.partial_fit(X[batch], sample_weight=w[batch])
        np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10)
    assert ours.n_steps_ == theirs.n_steps_ == 8
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-10)


def test_partial_fit_after_fit_continues_the_running_means():
    X, k = DATASETS["blobs"]
    km = KMeans(k, random_state=0).fit(X[:1000])
    counts = np.bincount(km.labels_, minlength=k).astype(float)
    centres = km.cluster_centers_.copy()
    batch = X[1000:1200]
    km.partial_fit(batch)
    labels = ((batch[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    for j in range(k):
        rows = batch[labels == j]
        expected = (centres[j] * counts[j] + rows.sum(0)) / (counts[j] + len(rows))
        np.testing.assert_allclose(km.cluster_centers_[j], expected, rtol=1e-12)


def test_predict_transform_score_and_friends():
    X, k = DATASETS["blobs"]
    km = KMeans(k, random_state=0)
    labels = km.fit_predict(X)
    np.testing.assert_array_equal(labels, km.labels_)
    distances = KMeans(k, random_state=0).fit_transform(X)
    C = km.cluster_centers_
    np.testing.assert_allclose(
        distances, np.sqrt(((X[:, None] - C[None]) ** 2).sum(-1)), rtol=1e-12
    )
    np.testing.assert_array_equal(distances.argmin(1), labels)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-12)
    w = np.random.default_rng(9).uniform(0, 2, len(X))
    assert km.score(X, sample_weight=w) == pytest.approx(-(w @ (distances**2).min(1)), rel=1e-10)
    assert list(km.get_feature_names_out()) == [f"kmeans{j}" for j in range(k)]
    streamed = KMeans(k, random_state=0).partial_fit(X[:500])
    assert list(streamed.get_feature_names_out()) == [f"kmeans{j}" for j in range(k)]


def test_set_output_pandas():
    import pandas as pd

    X, k = DATASETS["blobs"]
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    km = KMeans(k, random_state=0).set_output(transform="pandas").fit(frame)
    out = km.transform(frame)
    assert list(out.columns) == [f"kmeans{j}" for j in range(k)]
    assert list(km.feature_names_in_) == ["a", "b", "c"]


def test_callback_progress_and_verbose(capsys):
    X, k = DATASETS["noise"]
    C = _initial_centres(X, k)
    seen = []
    km = KMeans(k, init=C, callback=lambda i, inertia: seen.append((i, inertia)), verbose=1)
    km.fit(X)
    assert [i for i, _ in seen] == list(range(1, km.n_iter_ + 1))
    assert all(a >= b - 1e-9 for (_, a), (_, b) in zip(seen, seen[1:], strict=False))
    ours = capsys.readouterr().out
    SkKMeans(k, init=C, n_init=1, verbose=1).fit(X)
    theirs = capsys.readouterr().out
    pattern = re.compile(r"Iteration (\d+), inertia")
    assert pattern.findall(ours) == pattern.findall(theirs)
    assert "Converged at iteration" in ours
    stopped = KMeans(k, init=C, callback=lambda i, inertia: i >= 2).fit(X)
    assert stopped.n_iter_ == 2 and not stopped.converged_
    KMeans(k, init=C, progress=True, max_iter=3).fit(X)
    assert "k-means" in capsys.readouterr().err


def test_elkan_is_lloyd():
    X, k = DATASETS["blobs"]
    a = KMeans(k, random_state=0, algorithm="elkan").fit(X)
    b = KMeans(k, random_state=0).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    with pytest.warns(RuntimeWarning, match="elkan"):
        KMeans(1, algorithm="elkan").fit(X)


def test_save_and_load(tmp_path):
    X, k = DATASETS["blobs"]
    km = KMeans(k, init=_initial_centres(X, k), n_jobs=1).fit(X)
    path = tmp_path / "km.npz"
    km.save(path)
    back = fastem.load(path)
    assert isinstance(back, KMeans)
    np.testing.assert_array_equal(back.cluster_centers_, km.cluster_centers_)
    np.testing.assert_array_equal(back.predict(X), km.labels_)
    np.testing.assert_array_equal(back.init, km.init)
    assert back.inertia_ == km.inertia_ and back.n_iter_ == km.n_iter_
    KMeans(3).save(tmp_path / "unfitted.npz")
    assert fastem.load(tmp_path / "unfitted.npz").get_params() == KMeans(3).get_params()


def test_bad_input_is_rejected_clearly(tmp_path):
    X, k = DATASETS["blobs"]
    with pytest.raises(ValueError, match=r"n_samples=3 should be >= n_clusters=4"):
        KMeans(4).fit(X[:3])
    bad = X.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        KMeans(k).fit(bad)
    bad[5, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        KMeans(k).fit([bad[i : i + 100] for i in range(0, len(bad), 100)])
    with pytest.raises(ValueError, match="does not match the number of clusters"):
        KMeans(k, init=np.zeros((k + 1, 3))).fit(X)
    with pytest.raises(ValueError, match="does not match the number of features"):
        KMeans(k, init=np.zeros((k, 2))).fit(X)
    with pytest.raises(ValueError, match="does not match the number of clusters"):
        KMeans(k, init=lambda X, n, random_state: X[: n - 1]).fit(X)
    with pytest.raises(ValueError, match="2D array"):
        KMeans(k).fit(X[:, 0])
    with pytest.raises(ValueError, match="(?i)negative"):
        KMeans(k).fit(X, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="non-zero|all are 0"):
        KMeans(k).fit(X, sample_weight=np.zeros(len(X)))
    km = KMeans(k, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        km.predict(X[:, :2])
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=5"):
        KMeans(k).fit([X[:2]])
    import dask.array as da

    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        KMeans(k).fit(da.from_array(X[:3], chunks=(2, -1)))
    with pytest.raises(ValueError, match="KMeans is expecting 3 features"):
        km.predict(da.from_array(X[:, :2], chunks=(500, -1))).compute()
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        KMeans(k).partial_fit(X[:3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_rows_give_the_dense_results(dtype):
    import scipy.sparse as sp

    rng = np.random.default_rng(12)
    X = rng.standard_normal((1200, 30)) * (rng.random((1200, 30)) < 0.2)
    X = X.astype(dtype)
    C = _initial_centres(X, 6)
    w = rng.uniform(0, 2, len(X))
    dense = KMeans(6, init=C).fit(X, sample_weight=w)
    sparse = KMeans(6, init=C).fit(sp.csr_matrix(X), sample_weight=w)
    assert sparse.n_iter_ == dense.n_iter_
    np.testing.assert_array_equal(sparse.labels_, dense.labels_)
    np.testing.assert_allclose(sparse.cluster_centers_, dense.cluster_centers_, rtol=1e-6)
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X)), dense.transform(X), rtol=1e-6)
    seeded = KMeans(6, random_state=0).fit(sp.csr_matrix(X))
    assert seeded.inertia_ == pytest.approx(KMeans(6, random_state=0).fit(X).inertia_, rel=1e-6)


def _seeds(X, w, k, init, seed):
    from fastem._lloyd import initial_centers
    from fastem._sources import ArraySource
    from fastem.families.kmeans import KMeansFamily

    family = KMeansFamily(k, X.shape[1], X.dtype, shift=X.mean(axis=0))
    source = ArraySource(X, np.asarray(w, dtype=np.float64))
    return initial_centers(family, source, k, init, np.random.RandomState(seed))


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_seeding_uses_the_sample_weights(init):
    """scikit-learn's test_sample_weight_init, on fastem's seeding (its _init_centroids)."""
    X = make_blobs(n_samples=200, n_features=10, n_components=10, seed=3)[0]
    w = np.random.RandomState(0).uniform(size=len(X))
    weighted = _seeds(X, w, 5, init, 0)
    unweighted = _seeds(X, np.ones(len(X)), 5, init, 0)
    assert not np.allclose(weighted, unweighted)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_rows_of_weight_zero_are_never_seeds(init):
    """scikit-learn's test_sample_weight_zero, on fastem's seeding."""
    X = make_blobs(n_samples=100, n_features=5, n_components=5, seed=4)[0]
    w = np.random.RandomState(0).uniform(size=len(X))
    w[::2] = 0.0
    for seed in range(5):
        seeds = _seeds(X, w, 10, init, seed)
        d = ((X[::2, None] - seeds[None]) ** 2).sum(-1)
        assert not np.any(np.isclose(d, 0.0)), seed
        # Every seed is a row of positive weight.
        assert all(np.any(np.all(X[1::2] == c, axis=1)) for c in seeds), seed
