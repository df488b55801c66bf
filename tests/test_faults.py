"""Faults in the middle of a fit: unreadable or malformed chunks, interrupts, full disks.

A fault ends the fit with an error that names the chunk and its rows, and the
estimator keeps the state it had before the call (its previous fit, or none),
never a half-updated one. ``save`` never damages an existing model file.
"""

import errno
import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import BernoulliMixture, GaussianMixture, _checkpoint
from fastem._sources import ChunkError, ChunkReadError
from synthetic import make_binary, make_blobs

X = make_blobs(n_samples=400, n_features=2, n_components=2, seed=4)[0]
BINARY = make_binary(n_samples=400, n_features=6, n_components=2, seed=4)[0]


@pytest.fixture(autouse=True)
def _unhooked():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
    _checkpoint.set_test_hook(None)


def snapshot(model):
    """Every instance attribute, arrays copied (to compare before and after a call)."""
    return {k: (np.copy(v) if isinstance(v, np.ndarray) else v) for k, v in vars(model).items()}


def assert_unchanged(model, before):
    after = vars(model)
    assert after.keys() == before.keys(), set(after) ^ set(before)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            assert after[name].tobytes() == value.tobytes(), name
        elif isinstance(value, list):
            assert after[name] == value, name


def chunked(rows, size, fault=None):
    """A re-iterable source of ``rows`` in chunks; ``fault(index, chunk)`` may replace one."""

    def chunks():
        for index, start in enumerate(range(0, rows.shape[0], size)):
            chunk = rows[start : start + size]
            yield chunk if fault is None else fault(index, chunk)

    return chunks


def _io_error(index, chunk):
    if index == 5:
        raise OSError(errno.EIO, "Input/output error")
    return chunk


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize("mode", ["exact", "online"])
def test_unreadable_chunk(fitted, mode):
    model = GaussianMixture(2, random_state=0)
    if fitted:
        model.fit(X)
    before = snapshot(model)
    with pytest.raises(ChunkReadError, match=r"Reading chunk 5 \(from row 250\) failed") as info:
        model.fit(chunked(X, 50, _io_error), mode=mode, batch_size=20)
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    assert info.value.errno == errno.EIO
    assert (info.value.chunk, info.value.rows) == (5, (250, None))
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    "fault, match",
    [
        (lambda i, c: c[:, :1] if i == 3 else c, r"Chunk 3 \(rows 150 to 199\): .*2 columns"),
        (lambda i, c: c.astype(str) if i == 3 else c, r"Chunk 3 \(rows 150 to 199\): .*dtype"),
        (lambda i, c: c.astype(complex) if i == 3 else c, r"Chunk 3 .*real numbers"),
        (lambda i, c: c[0] if i == 3 else c, r"Chunk 3 \(from row 150\): Every chunk must"),
        (lambda i, c: (c, np.ones(3)) if i == 3 else c, r"Chunk 3 .*50 rows came with \(3,\)"),
        (lambda i, c: (c, -np.ones(50)) if i == 3 else c, r"Chunk 3 .*non-negative"),
        (lambda i, c: (c, c, c) if i == 3 else c, r"Reading chunk 3 .*a pair"),
    ],
    ids=["width", "strings", "complex", "1-D", "weights-length", "weights-negative", "tuple"],
)
def test_malformed_chunk(fault, match):
    model = GaussianMixture(2, random_state=0).fit(X)
    before = snapshot(model)
    with pytest.raises(ChunkError, match=match):
        model.fit(chunked(X, 50, fault))
    assert_unchanged(model, before)


@pytest.mark.parametrize(
    ("estimator", "value", "match"),
    [
        (GaussianMixture, np.inf, "infinity"),
        (BernoulliMixture, np.inf, "infinity"),
        # NaN is a missing value for the mixtures, not for k-means.
        (fastem.KMeans, np.nan, "NaN"),
    ],
    ids=["gaussian-inf", "bernoulli-inf", "kmeans-nan"],
)
def test_non_finite_in_chunk_734_of_1000(estimator, value, match, tmp_path):
    rows = (BINARY if estimator is BernoulliMixture else X).astype(np.float64)
    rows = np.repeat(rows, 10, axis=0)[:4000]
    rows[734 * 4 + 2, 1] = value
    path = tmp_path / "rows.npy"
    np.save(path, rows)
    model = estimator(2, chunk_size=4, random_state=0)
    with pytest.raises(
        ChunkError, match=rf"Chunk 734 of 1000 \(rows 2936 to 2939\): Input X contains .*{match}"
    ) as info:
        model.fit(path)
    assert (info.value.chunk, info.value.rows) == (734, (2936, 2940))
    assert not hasattr(model, "n_features_in_")
    assert not hasattr(model, "weights_") and not hasattr(model, "cluster_centers_")


def test_source_that_changes_between_passes():
    passes = []

    def source():
        passes.append(1)
        n = X.shape[0] if len(passes) < 3 else X.shape[0] - 50
        return iter([X[i : min(n, i + 100)] for i in range(0, n, 100)])

    model = GaussianMixture(2, random_state=0, max_iter=5)
    with pytest.raises(ChunkError, match="350 rows in this pass and 400 in the first"):
        model.fit(source)
    assert not hasattr(model, "weights_")

    def wider():
        passes.append(1)
        cols = 2 if len(passes) < 6 else 3
        return iter([np.ascontiguousarray(np.tile(X, 2)[:, :cols])])

    with pytest.raises(ChunkError, match=r"Chunk 0 \(rows 0 to 399\).*2 columns"):
        GaussianMixture(2, random_state=0, max_iter=5, tol=0).fit(wider)


def test_truncated_files(tmp_path):
    path = tmp_path / "rows.npy"
    np.save(path, X)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 1000)
    model = GaussianMixture(2)
    with pytest.raises(ValueError, match="is truncated"):
        model.fit(path)
    # A truncated file read by the user's own chunk reader.
    parts = []
    for i in range(4):
        part = tmp_path / f"part{i}.npy"
        np.save(part, X[i * 100 : (i + 1) * 100])
        parts.append(part)
    with open(parts[2], "r+b") as f:
        f.truncate(300)
    with pytest.raises(ChunkError, match=r"Reading chunk 2 \(from row 200\) failed"):
        model.fit(lambda: (np.load(p) for p in parts))
    assert not hasattr(model, "weights_")


def test_one_shot_iterator_error_is_kept():
    with pytest.raises(ValueError, match="one-shot iterator"):
        GaussianMixture(2).fit(iter([X[:200], X[200:]]))


@pytest.mark.parametrize(
    "make, fit_args",
    [
        (lambda: GaussianMixture(2, n_init=2, random_state=0, tol=0, max_iter=8), {}),
        (lambda: GaussianMixture(2, random_state=0), {"mode": "online", "batch_size": 20}),
        (lambda: BernoulliMixture(2, random_state=0, tol=0, max_iter=8), {}),
    ],
    ids=["exact", "online", "bernoulli"],
)
@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
def test_keyboard_interrupt_leaves_the_estimator_as_before(make, fit_args, fitted):
    rows = BINARY if "Bernoulli" in repr(make()) else X
    model = make()
    if fitted:
        model.fit(rows[::2], **fit_args)
    before = snapshot(model)
    _checkpoint.set_test_hook("estep", 7, "interrupt")
    with pytest.raises(KeyboardInterrupt):
        model.fit(rows, **fit_args)
    assert_unchanged(model, before)


def test_partial_fit_is_transactional():
    model = GaussianMixture(2, random_state=0).partial_fit(X[:100])
    model.partial_fit(X[100:200])
    before = snapshot(model)
    online_before = dict(model._online)
    _checkpoint.set_test_hook("estep", 1, "interrupt")
    with pytest.raises(KeyboardInterrupt):
        model.partial_fit(X[200:300])
    assert_unchanged(model, before)
    assert model._online["t"] == online_before["t"] == 2
    assert model.lower_bounds_ == before["lower_bounds_"]
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(np.ones((10, 3)))
    assert_unchanged(model, before)


def test_failed_em_keeps_the_previous_fit():
    model = GaussianMixture(2, random_state=0, reg_covar=0.0).fit(X)
    before = snapshot(model)
    collapsed = np.repeat(X[:2], 50, axis=0)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        model.fit(collapsed)
    assert_unchanged(model, before)


# -- saving -----------------------------------------------------------------------------------
def _model():
    return GaussianMixture(2, random_state=0).fit(X)


# As root the directory's mode does not stop the write (and a child process cannot
# drop to another user where the interpreter lives in root's home): the same error
# path is then covered by test_save_errors_leave_the_existing_file's EACCES case.
@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_save_into_a_read_only_directory(tmp_path):
    path = tmp_path / "model.npz"
    _model().save(path)
    saved = path.read_bytes()
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="cannot write the model file"):
            GaussianMixture(3).save(path)
    finally:
        tmp_path.chmod(0o755)
    assert path.read_bytes() == saved


@pytest.mark.parametrize(
    "code, kind, reason",
    [
        (errno.ENOSPC, OSError, "no space left"),
        (errno.EROFS, OSError, "the file system is read-only"),
        (errno.EACCES, PermissionError, "permission denied"),
    ],
)
@pytest.mark.parametrize("where", ["open", "write", "fsync"])
def test_save_errors_leave_the_existing_file(tmp_path, monkeypatch, code, kind, reason, where):
    path = tmp_path / "model.npz"
    _model().save(path)
    saved = path.read_bytes()
    error = kind(code, os.strerror(code))

    def fail(*args, **kwargs):
        raise error

    if where == "open":
        monkeypatch.setattr(os, "open", fail)
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", fail)
    else:
        original = np.savez_compressed

        def partial_write(f, **arrays):
            original(f, **arrays)
            f.truncate(100)
            raise error

        monkeypatch.setattr(np, "savez_compressed", partial_write)
    with pytest.raises(kind, match=f"cannot write the model file: {reason}.*unchanged") as info:
        GaussianMixture(3).fit(X).save(path)
    monkeypatch.undo()
    assert info.value.errno == code and info.value.filename == str(path)
    assert path.read_bytes() == saved
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
    fastem.load(path)


def test_save_into_a_new_file_reports_nothing_written(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="nothing was written"):
        _model().save(tmp_path / "new.npz")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_save_is_durable(tmp_path, monkeypatch):
    synced = []
    original = os.fsync

    def fsync(fd):
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}") if os.path.exists("/proc") else None)
        original(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    _model().save(tmp_path / "model.npz")
    assert len(synced) == 2  # the file, then its directory (after the rename)
    if synced[0] is not None:
        assert synced == [False, True]


def test_interrupted_save_leaves_the_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    _model().save(path)
    saved = path.read_bytes()

    def interrupted(f, **arrays):
        f.write(b"PK\x03\x04 half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _model().save(path)
    monkeypatch.undo()
    assert path.read_bytes() == saved and list(tmp_path.iterdir()) == [path]


# -- KMeans and MixtureSelector ----------------------------------------------------------------
def _kmeans():
    return fastem.KMeans(2, n_init=2, random_state=0)


def _selector():
    return fastem.MixtureSelector(
        GaussianMixture(random_state=0), n_components=[1, 2], covariance_type="diag"
    )


@pytest.mark.parametrize("make", [_kmeans, _selector], ids=["kmeans", "selector"])
@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
def test_other_estimators_fail_cleanly(make, fitted):
    model = make()
    if fitted:
        model.fit(X[::2])
    before = snapshot(model)
    with pytest.raises(ChunkReadError, match=r"Reading chunk 5 \(from row 250\) failed"):
        model.fit(chunked(X, 50, _io_error))
    assert_unchanged(model, before)
    with pytest.raises(ChunkError, match=r"Chunk 3 \(rows 150 to 199\): .*2 columns"):
        model.fit(chunked(X, 50, lambda i, c: c[:, :1] if i == 3 else c))
    assert_unchanged(model, before)
    _checkpoint.set_test_hook("lloyd" if make is _kmeans else "estep", 3, "interrupt")
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    _checkpoint.set_test_hook(None)
    assert_unchanged(model, before)
