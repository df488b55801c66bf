"""Checkpoints: ``fit(X, checkpoint=PATH)`` resumes an interrupted fit exactly.

Interruptions here are KeyboardInterrupts raised by the test hook at the n-th
E-step (or checkpoint write) in this process; ``test_checkpoint_kill.py`` kills
real processes with SIGKILL.
"""

import os
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import BernoulliMixture, GaussianMixture, _checkpoint
from fastem._checkpoint import CheckpointError, CheckpointMismatchError
from synthetic import make_binary, make_blobs


@pytest.fixture(autouse=True)
def _quiet_and_unhooked():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
    _checkpoint.set_test_hook(None)


def fitted_state(model):
    """The fitted attributes (public, ending in ``_``)."""
    return {k: v for k, v in vars(model).items() if k.endswith("_") and not k.startswith("_")}


def assert_identical(a, b):
    """Same fitted attributes, bit for bit."""
    sa, sb = fitted_state(a), fitted_state(b)
    assert sa.keys() == sb.keys()
    for name in sa:
        va, vb = sa[name], sb[name]
        if hasattr(va, "compute"):  # KMeans's labels_ of a Dask array: lazy
            va, vb = va.compute(), vb.compute()
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype and va.shape == vb.shape, name
            assert va.tobytes() == vb.tobytes(), name
        else:
            assert type(va) is type(vb) and va == vb, name


def interrupted_fit(make, X, checkpoint, count, point="estep", **fit_args):
    """Fit with a KeyboardInterrupt at the ``count``-th pass through ``point``.

    Returns whether the fit was interrupted; an interrupted estimator must be
    left as it was (unfitted, or with its previous fit).
    """
    model = make()
    before = {k: np.copy(v) for k, v in fitted_state(model).items()}
    _checkpoint.set_test_hook(point, count, "interrupt")
    try:
        model.fit(X, checkpoint=checkpoint, **fit_args)
    except KeyboardInterrupt:
        after = fitted_state(model)
        assert after.keys() == before.keys()
        for name, value in before.items():
            assert np.array_equal(after[name], value), name
        return True
    finally:
        _checkpoint.set_test_hook(None)
    return False


def counted(point, fit):
    """``(result of fit(), passes through the hook point)``."""
    calls = []
    _checkpoint.set_test_hook(point, "*", lambda: calls.append(1))
    try:
        return fit(), len(calls)
    finally:
        _checkpoint.set_test_hook(None)


BLOBS = make_blobs(n_samples=600, n_features=3, n_components=3, seed=1)[0]
BINARY = make_binary(n_samples=400, n_features=10, n_components=3, seed=1)[0]
WEIGHTS = np.random.RandomState(3).uniform(0.1, 3.0, size=BLOBS.shape[0])


def _chunks(X, size):
    return [X[i : i + size] for i in range(0, X.shape[0], size)]


# name: (make estimator, make data (tmp_path -> X), fit arguments)
CASES = {
    "exact-memory-full": (
        lambda: GaussianMixture(3, n_init=3, tol=0.0, max_iter=12, random_state=0),
        lambda tmp: BLOBS,
        {},
    ),
    "exact-npy-diag-weighted": (
        lambda: GaussianMixture(
            3,
            covariance_type="diag",
            n_init=2,
            tol=0.0,
            max_iter=8,
            chunk_size=128,
            random_state=0,
        ),
        lambda tmp: _npy(tmp, BLOBS),
        {"sample_weight": WEIGHTS},
    ),
    "exact-iterable-tied": (
        lambda: GaussianMixture(
            3,
            covariance_type="tied",
            n_init=2,
            tol=0.0,
            max_iter=8,
            random_state=0,
            init_params="random_from_data",
        ),
        lambda tmp: _chunks(BLOBS, 150),
        {},
    ),
    "exact-memory-spherical-float32": (
        lambda: GaussianMixture(
            3,
            covariance_type="spherical",
            tol=0.0,
            max_iter=10,
            chunk_size=200,
            init_params="random",
            random_state=np.random.RandomState(5),
        ),
        lambda tmp: BLOBS.astype(np.float32),
        {},
    ),
    "online-memory": (
        lambda: GaussianMixture(3, random_state=0),
        lambda tmp: BLOBS,
        {"mode": "online", "batch_size": 64, "n_epochs": 3},
    ),
    "online-npy": (
        lambda: GaussianMixture(3, covariance_type="diag", chunk_size=100, random_state=0),
        lambda tmp: _npy(tmp, BLOBS),
        {"mode": "online", "batch_size": 48, "n_epochs": 2},
    ),
    "bernoulli-exact": (
        lambda: BernoulliMixture(3, n_init=2, tol=0.0, max_iter=10, random_state=0),
        lambda tmp: BINARY,
        {},
    ),
    "bernoulli-online-iterable": (
        lambda: BernoulliMixture(3, random_state=0),
        lambda tmp: _chunks(BINARY, 100),
        {"mode": "online", "batch_size": 40, "n_epochs": 2},
    ),
}


def _npy(tmp, X):
    path = tmp / "X.npy"
    if not path.exists():
        np.save(path, X)
    return path


# The E-step chunks of a case: n_init restarts advance together, so a pass is
# one chunk of every restart (bernoulli-exact: 10 passes of one chunk).
@pytest.mark.parametrize("count", [1, 4, 9])
@pytest.mark.parametrize("case", sorted(CASES))
def test_resumed_fit_is_identical(case, count, tmp_path):
    make, data, fit_args = CASES[case]
    X = data(tmp_path)
    reference, passes = counted("estep", lambda: make().fit(X, **fit_args))
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, X, checkpoint, count, **fit_args)
    assert checkpoint.exists() or count == 1
    resumed, resumed_passes = counted(
        "estep", lambda: make().fit(X, checkpoint=checkpoint, **fit_args)
    )
    assert_identical(reference, resumed)
    # Continued, not started over: E-steps of iterations completed before the
    # interruption are not run again (at the 9th E-step chunk some are complete).
    assert resumed_passes <= passes
    assert resumed_passes < passes or count < 9
    assert not checkpoint.exists()
    assert list(tmp_path.glob(".fit.ckpt.*")) == []


def test_resumed_twice_and_interrupted_during_a_write(tmp_path):
    make, data, fit_args = CASES["exact-memory-full"]
    X = data(tmp_path)
    reference = make().fit(X)
    checkpoint = tmp_path / "fit.ckpt"
    # 12 passes of one chunk each (3 restarts together): 5 done, then 7.
    assert interrupted_fit(make, X, checkpoint, 6)
    assert interrupted_fit(make, X, checkpoint, 3)
    # Half-way through writing the 3rd checkpoint of this run: the file keeps the 2nd.
    assert interrupted_fit(make, X, checkpoint, 3, point="checkpoint-write")
    assert list(tmp_path.glob(".fit.ckpt.*")) == []
    _checkpoint.read(checkpoint)
    assert_identical(reference, make().fit(X, checkpoint=checkpoint))


def test_restarts_together_resumed_in_the_middle(tmp_path):
    """n_init restarts advance together: the checkpoint holds all of them, mid-fit."""

    def make():
        return GaussianMixture(4, n_init=3, tol=1e-5, max_iter=80, chunk_size=150, random_state=2)

    X = _npy(tmp_path, BLOBS)
    reference, chunks = counted("estep", lambda: make().fit(X, sample_weight=WEIGHTS))
    generator = np.random.RandomState(2)
    alone = [
        GaussianMixture(4, tol=1e-5, max_iter=80, chunk_size=150, random_state=generator).fit(
            X, sample_weight=WEIGHTS
        )
        for _ in range(3)
    ]
    n_iter = sorted(model.n_iter_ for model in alone)
    assert n_iter[0] < n_iter[-1]
    assert chunks == 4 * n_iter[-1]  # one pass of 4 chunks per iteration, for every restart
    # After the first pass; when the first restart to end has ended and others go on; late.
    for passes in (1, n_iter[0] + 1, n_iter[-1] - 1):
        checkpoint = tmp_path / f"fit-{passes}.ckpt"
        count = 4 * passes + 2  # in the middle of the next pass
        assert interrupted_fit(make, X, checkpoint, count, sample_weight=WEIGHTS)
        runs = _checkpoint.read(checkpoint)[1]["runs"]
        assert [run["n_iter"] for run in runs] == [min(passes, m.n_iter_) for m in alone]
        for run, model in zip(runs, alone, strict=True):
            assert run["bounds"] == model.lower_bounds_[:passes]
        resumed, resumed_chunks = counted(
            "estep",
            lambda checkpoint=checkpoint: make().fit(
                X, sample_weight=WEIGHTS, checkpoint=checkpoint
            ),
        )
        assert_identical(reference, resumed)
        assert resumed_chunks == chunks - 4 * passes
        assert not checkpoint.exists()
    # Interrupted in the k-means of the restarts (shared Lloyd passes): no state
    # was written yet, and the fit starts over.
    checkpoint = tmp_path / "init.ckpt"
    assert interrupted_fit(make, X, checkpoint, 6, point="lloyd", sample_weight=WEIGHTS)
    assert not checkpoint.exists()
    assert_identical(reference, make().fit(X, sample_weight=WEIGHTS, checkpoint=checkpoint))


def test_restarts_stopped_by_the_callback_are_resumed(tmp_path):
    """A restart that the callback stopped stays stopped in the checkpoint."""

    def make():
        # Stops, at its iteration 3, the restart whose bound is the lowest there.
        return GaussianMixture(
            3,
            n_init=3,
            tol=0.0,
            max_iter=10,
            random_state=0,
            callback=lambda i, lb: i == 3 and lb < first[0],
        )

    first = [np.inf]
    probe = []
    GaussianMixture(
        3,
        n_init=3,
        tol=0.0,
        max_iter=10,
        random_state=0,
        callback=lambda i, lb: probe.append((i, lb)),
    ).fit(BLOBS)
    third = sorted(lb for i, lb in probe if i == 3)
    first[0] = (third[0] + third[1]) / 2  # stops the restart with the lowest bound there
    reference = make().fit(BLOBS)
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, BLOBS, checkpoint, 6)
    runs = _checkpoint.read(checkpoint)[1]["runs"]
    assert sorted(run["max_iter"] for run in runs) == [3, 10, 10]
    assert sorted(run["n_iter"] for run in runs) == [3, 5, 5]
    assert_identical(reference, make().fit(BLOBS, checkpoint=checkpoint))


def test_dask_resume(tmp_path):
    import dask.array as da

    make = CASES["exact-memory-full"][0]
    X = da.from_array(BLOBS, chunks=(250, 3))
    reference = make().fit(X, sample_weight=WEIGHTS)
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, X, checkpoint, 8, sample_weight=WEIGHTS)
    assert_identical(reference, make().fit(X, sample_weight=WEIGHTS, checkpoint=checkpoint))


def test_warm_start_resume(tmp_path):
    def make():
        model = GaussianMixture(3, warm_start=True, tol=1e-10, max_iter=5, random_state=0)
        return model.fit(BLOBS)

    reference = make().fit(BLOBS)
    checkpoint = tmp_path / "fit.ckpt"
    model = make()
    before = {k: np.copy(v) for k, v in fitted_state(model).items()}
    _checkpoint.set_test_hook("estep", 3, "interrupt")
    with pytest.raises(KeyboardInterrupt):
        model.fit(BLOBS, checkpoint=checkpoint)
    _checkpoint.set_test_hook(None)
    for name, value in before.items():  # the previous fit, untouched
        np.testing.assert_array_equal(getattr(model, name), value)
    assert_identical(reference, model.fit(BLOBS, checkpoint=checkpoint))
    # A checkpoint of a warm start from other parameters is not resumed.
    assert interrupted_fit(make, BLOBS, checkpoint, 3)
    other = GaussianMixture(3, warm_start=True, tol=1e-10, max_iter=5, random_state=1)
    with pytest.raises(CheckpointMismatchError, match="warm_start"):
        other.fit(BLOBS).fit(BLOBS, checkpoint=checkpoint)


def test_random_state_instance_is_put_back(tmp_path):
    def make(rng):
        return GaussianMixture(3, n_init=2, max_iter=6, tol=0.0, random_state=rng)

    reference = make(np.random.RandomState(7)).fit(BLOBS)
    rng = np.random.RandomState(7)
    state = rng.get_state(legacy=True)
    model = make(rng)
    _checkpoint.set_test_hook("estep", 5, "interrupt")
    with pytest.raises(KeyboardInterrupt):
        model.fit(BLOBS, checkpoint=tmp_path / "fit.ckpt")
    _checkpoint.set_test_hook(None)
    after = rng.get_state(legacy=True)
    assert after[0] == state[0] and np.array_equal(after[1], state[1]) and after[2] == state[2]
    assert_identical(reference, model.fit(BLOBS, checkpoint=tmp_path / "fit.ckpt"))


def test_checkpoint_is_refused_for_another_fit(tmp_path):
    make = CASES["exact-memory-full"][0]
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, BLOBS, checkpoint, 5)
    saved = checkpoint.read_bytes()
    other = {
        "estimator parameters.*max_iter: 12 in the checkpoint, 13 now": (
            make().set_params(max_iter=13),
            BLOBS,
            {},
        ),
        "estimator parameters.*covariance_type": (
            make().set_params(covariance_type="diag"),
            BLOBS,
            {},
        ),
        "other data.*n_samples: 600 in the checkpoint, 599 now": (make(), BLOBS[:-1], {}),
        "other data.*dtype: 'float64' in the checkpoint, 'float32' now": (
            make(),
            BLOBS.astype(np.float32),
            {},
        ),
        "other data.*rows: the sampled values differ": (make(), BLOBS + 1.0, {}),
        "other data.*sample_weight: the sampled values differ": (
            make(),
            BLOBS,
            {"sample_weight": WEIGHTS},
        ),
        "other fit arguments.*mode: 'exact' in the checkpoint, 'online' now": (
            make(),
            BLOBS,
            {"mode": "online"},
        ),
        "another estimator": (BernoulliMixture(3), BINARY, {}),
    }
    for match, (model, X, fit_args) in other.items():
        with pytest.raises(CheckpointMismatchError, match=match) as info:
            model.fit(X, checkpoint=checkpoint, **fit_args)
        assert "resume=False" in str(info.value)
        assert fitted_state(model) == {}
        assert checkpoint.read_bytes() == saved
    # What does not change the model does not matter.
    reference = make().fit(BLOBS)
    relaxed = make().set_params(n_jobs=1, verbose=0, progress=False, callback=lambda i, lb: False)
    assert_identical(reference, relaxed.fit(BLOBS, checkpoint=checkpoint))


def test_resume_false_starts_over(tmp_path):
    make = CASES["exact-memory-full"][0]
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, BLOBS, checkpoint, 5)
    model = make().set_params(max_iter=3)
    model.fit(BLOBS, checkpoint=checkpoint, resume=False)
    assert_identical(make().set_params(max_iter=3).fit(BLOBS), model)
    assert not checkpoint.exists()


def test_keep_checkpoint(tmp_path):
    make, data, fit_args = CASES["online-memory"]
    checkpoint = tmp_path / "fit.ckpt"
    model = make().fit(BLOBS, checkpoint=checkpoint, keep_checkpoint=True, **fit_args)
    assert checkpoint.exists()
    # Fitting again finds the completed state: no E-step runs.
    _checkpoint.set_test_hook("estep", 1, "interrupt")
    again = make().fit(BLOBS, checkpoint=checkpoint, **fit_args)
    _checkpoint.set_test_hook(None)
    assert_identical(model, again)
    assert not checkpoint.exists()


def test_checkpoint_every_limits_the_writes(tmp_path):
    make = CASES["exact-memory-full"][0]
    checkpoint = tmp_path / "fit.ckpt"
    writes = []
    original = _checkpoint.Checkpoint.write

    def counting(self, state):
        writes.append(len(state["runs"]))
        original(self, state)

    try:
        _checkpoint.Checkpoint.write = counting
        make().fit(BLOBS, checkpoint=checkpoint, checkpoint_every=3600.0)
        assert writes == []
        make().fit(BLOBS, checkpoint=checkpoint)
        # After the initialisation of the 3 restarts, then after every shared pass.
        assert writes == [3] * (1 + 12)
    finally:
        _checkpoint.Checkpoint.write = original
    assert not checkpoint.exists()


def test_checkpoint_arguments_and_bad_files(tmp_path):
    X = BLOBS
    with pytest.raises(FileNotFoundError, match="directory of the checkpoint"):
        GaussianMixture(2).fit(X, checkpoint=tmp_path / "missing" / "fit.ckpt")
    with pytest.raises(IsADirectoryError):
        GaussianMixture(2).fit(X, checkpoint=tmp_path)
    with pytest.raises(ValueError, match="checkpoint_every"):
        GaussianMixture(2).fit(X, checkpoint=tmp_path / "c", checkpoint_every=-1)
    with pytest.raises(TypeError, match="checkpoint must be a path"):
        GaussianMixture(2).fit(X, checkpoint=3)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a fastem checkpoint"):
        GaussianMixture(2).fit(X, checkpoint=bad)
    model_file = tmp_path / "model.npz"
    GaussianMixture(2).fit(X).save(model_file)
    with pytest.raises(CheckpointError, match="not a fastem checkpoint"):
        GaussianMixture(2).fit(X, checkpoint=model_file)
    GaussianMixture(2).fit(X, checkpoint=bad, resume=False)  # overwritten, then removed
    assert not bad.exists()
    stale = tmp_path / ".fit.ckpt.123.abcd.tmp"
    stale.write_bytes(b"torn")
    GaussianMixture(2).fit(X, checkpoint=tmp_path / "fit.ckpt")
    assert not stale.exists()


def test_checkpoint_arguments_are_fit_arguments():
    """Checkpoints are arguments of fit: parameters, clone and saved models carry none."""
    model = GaussianMixture(2)
    assert not any("checkpoint" in name or name == "resume" for name in model.get_params())
    assert clone(model).get_params() == model.get_params()


def test_cli_checkpoint_resumes(tmp_path, capsys):
    from fastem.cli import main

    data = tmp_path / "X.npy"
    np.save(data, BLOBS)
    args = [str(data), "--k", "3", "--n-init", "2", "--max-iter", "8", "--tol", "0"]
    args += ["--chunk-size", "100", "-q"]
    assert main(["fit", *args, "-o", str(tmp_path / "reference.npz")]) == 0
    checkpoint = tmp_path / "fit.ckpt"
    resumable = [*args, "--checkpoint", str(checkpoint), "-o", str(tmp_path / "model.npz")]
    _checkpoint.set_test_hook("estep", 40, "interrupt")
    assert main(["fit", *resumable]) == 130
    _checkpoint.set_test_hook(None)
    assert checkpoint.exists() and not (tmp_path / "model.npz").exists()
    assert main(["fit", *resumable]) == 0
    assert not checkpoint.exists()
    assert_identical(fastem.load(tmp_path / "reference.npz"), fastem.load(tmp_path / "model.npz"))
    # The same for k-means, interrupted at a Lloyd pass of its second run.
    kmeans = [*args, "--family", "kmeans"]
    assert main(["fit", *kmeans, "-o", str(tmp_path / "kmeans-reference.npz")]) == 0
    resumable = [*kmeans, "--checkpoint", str(checkpoint), "-o", str(tmp_path / "kmeans.npz")]
    _checkpoint.set_test_hook("lloyd", 11, "interrupt")
    assert main(["fit", *resumable]) == 130
    _checkpoint.set_test_hook(None)
    assert checkpoint.exists() and not (tmp_path / "kmeans.npz").exists()
    assert main(["fit", *resumable]) == 0
    assert not checkpoint.exists()
    assert_identical(
        fastem.load(tmp_path / "kmeans-reference.npz"), fastem.load(tmp_path / "kmeans.npz")
    )


def test_checkpoint_write_failure_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    make = CASES["exact-memory-full"][0]
    reference = make().fit(BLOBS)
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, BLOBS, checkpoint, 4)
    saved = checkpoint.read_bytes()
    calls = []

    def full_disk(fd):
        calls.append(fd)
        if len(calls) > 2:  # the second checkpoint of this fit (file, directory, file)
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    model = make()
    with pytest.raises(OSError, match="no space left") as info:
        model.fit(BLOBS, checkpoint=checkpoint)
    assert info.value.errno == errno.ENOSPC
    assert fitted_state(model) == {}
    monkeypatch.undo()
    assert checkpoint.read_bytes() != saved  # the first writes succeeded
    _checkpoint.read(checkpoint)
    assert list(tmp_path.glob(".fit.ckpt.*")) == []
    assert_identical(reference, make().fit(BLOBS, checkpoint=checkpoint))


# -- KMeans ------------------------------------------------------------------------------------
# name: (make estimator, make data (tmp_path -> X), fit arguments); interrupted at Lloyd passes.
KMEANS_CASES = {
    "memory-random-n_init": (
        lambda: fastem.KMeans(4, init="random", n_init=3, tol=0.0, max_iter=15, random_state=0),
        lambda tmp: BLOBS,
        {},
    ),
    "npy-weighted-float32": (
        lambda: fastem.KMeans(4, n_init=2, max_iter=12, chunk_size=128, random_state=1),
        lambda tmp: _npy(tmp, BLOBS.astype(np.float32)),
        {"sample_weight": WEIGHTS},
    ),
    "iterable": (
        lambda: fastem.KMeans(3, n_init=2, tol=0.0, max_iter=10, random_state=2),
        lambda tmp: _chunks(BLOBS, 150),
        {},
    ),
}


@pytest.mark.parametrize("count", [1, 3, 7])
@pytest.mark.parametrize("case", sorted(KMEANS_CASES))
def test_kmeans_resumed_fit_is_identical(case, count, tmp_path):
    make, data, fit_args = KMEANS_CASES[case]
    X = data(tmp_path)
    reference, passes = counted("lloyd", lambda: make().fit(X, **fit_args))
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, X, checkpoint, count, point="lloyd", **fit_args)
    assert checkpoint.exists() or count == 1
    resumed, resumed_passes = counted(
        "lloyd", lambda: make().fit(X, checkpoint=checkpoint, **fit_args)
    )
    assert_identical(reference, resumed)
    # Every Lloyd iteration completed before the interruption was checkpointed.
    assert resumed_passes == passes - (count - 1)
    assert not checkpoint.exists()


def test_kmeans_dask_resume_keep_and_refusal(tmp_path):
    import dask.array as da

    make = KMEANS_CASES["memory-random-n_init"][0]
    X = da.from_array(BLOBS, chunks=(250, 3))
    reference = make().fit(X)
    checkpoint = tmp_path / "fit.ckpt"
    assert interrupted_fit(make, X, checkpoint, 11, point="lloyd")
    assert interrupted_fit(make, X, checkpoint, 9, point="lloyd")
    # Another n_clusters, or other data, is refused and says which.
    with pytest.raises(CheckpointMismatchError, match="n_clusters"):
        fastem.KMeans(5, init="random", n_init=3, tol=0.0, max_iter=15, random_state=0).fit(
            X, checkpoint=checkpoint
        )
    with pytest.raises(CheckpointMismatchError, match="other data"):
        make().fit(BLOBS[:-1], checkpoint=checkpoint)
    resumed = make().fit(X, checkpoint=checkpoint, keep_checkpoint=True)
    assert_identical(reference, resumed)
    # The kept final state: fitting again returns the same model without a pass.
    _checkpoint.set_test_hook("lloyd", 1, "interrupt")
    assert_identical(reference, make().fit(X, checkpoint=checkpoint))


# -- MixtureSelector ---------------------------------------------------------------------------
def _selector(strategy, random_state=0, reg_covar=1e-6):
    return fastem.MixtureSelector(
        GaussianMixture(random_state=random_state, tol=1e-4, reg_covar=reg_covar, chunk_size=200),
        n_components=[1, 2, 3, 4],
        covariance_type=["full", "diag"],
        strategy=strategy,
        n_init=3,
    )


def assert_same_search(a, b):
    """Same results (but the times), models, passes and choice, bit for bit."""
    assert a.results_.keys() == b.results_.keys()
    for name, va in a.results_.items():
        if name == "fit_time":
            continue
        vb = b.results_[name]
        if isinstance(va, np.ndarray) and va.dtype != object:
            assert va.dtype == vb.dtype and va.tobytes() == vb.tobytes(), name
        else:
            assert list(va) == list(vb), name
    for ea, eb in zip(a.estimators_, b.estimators_, strict=True):
        assert (ea is None) == (eb is None)
        if ea is not None:
            assert_identical(ea, eb)
    assert (a.n_passes_, a.best_params_, a.best_index_) == (
        b.n_passes_,
        b.best_params_,
        b.best_index_,
    )


@pytest.mark.parametrize(
    ("strategy", "source"),
    [("em", "memory"), ("em", "npy"), ("short-em", "memory"), ("short-em", "npy"), ("em", "dask")],
)
def test_selector_resumed_search_is_identical(strategy, source, tmp_path):
    if source == "dask":
        import dask.array as da

        X = da.from_array(BLOBS, chunks=(200, 3))
    else:
        X = BLOBS if source == "memory" else _npy(tmp_path, BLOBS)
    reference, chunks = counted("estep", lambda: _selector(strategy).fit(X))
    # Early (the initialisation), in the stages over every row, in the refit.
    for count in (2, chunks // 3, chunks // 2, chunks - 2):
        checkpoint = tmp_path / f"search-{count}.ckpt"
        assert interrupted_fit(lambda: _selector(strategy), X, checkpoint, count)
        stage = _checkpoint.read(checkpoint)[1]["stage"] if checkpoint.exists() else None

        def resume(checkpoint=checkpoint):
            return _selector(strategy).fit(X, checkpoint=checkpoint)

        resumed, resumed_chunks = counted("estep", resume)
        assert_same_search(reference, resumed)
        # Continued, not started over (the short runs of "short-em" start their
        # stage over; the initialisation before the first checkpoint is made again).
        assert resumed_chunks <= chunks
        if stage in ("em", "continue", "refit") and count > 2:
            assert resumed_chunks < chunks
        assert not checkpoint.exists()
    assert count == chunks - 2 and stage == "refit"


def test_selector_random_state_instance_keep_and_refusal(tmp_path):
    def make(rng):
        return _selector("short-em", random_state=rng)

    reference = make(np.random.RandomState(4)).fit(BLOBS)
    rng = np.random.RandomState(4)
    checkpoint = tmp_path / "search.ckpt"
    _checkpoint.set_test_hook("estep", 40, "interrupt")
    with pytest.raises(KeyboardInterrupt):
        make(rng).fit(BLOBS, checkpoint=checkpoint)
    _checkpoint.set_test_hook(None)
    assert np.array_equal(rng.get_state(legacy=True)[1], np.random.RandomState(4).get_state()[1])
    # A parameter of the inner estimator differs: refused, and named.
    with pytest.raises(CheckpointMismatchError, match="estimator__reg_covar"):
        _selector("short-em", random_state=np.random.RandomState(4), reg_covar=1e-3).fit(
            BLOBS, checkpoint=checkpoint
        )
    resumed = make(rng).fit(BLOBS, checkpoint=checkpoint, keep_checkpoint=True)
    assert_same_search(reference, resumed)
    # The final state kept: the same search again makes no EM pass.
    again, chunks = counted(
        "estep", lambda: make(np.random.RandomState(4)).fit(BLOBS, checkpoint=checkpoint)
    )
    assert_same_search(reference, again)
    assert chunks == 0


def test_cli_select_checkpoint_resumes(tmp_path):
    from fastem.cli import main

    data = tmp_path / "X.npy"
    np.save(data, BLOBS)
    args = ["select", str(data), "--k", "1..3", "--covariance", "full,diag", "-q"]
    assert main([*args, "-o", str(tmp_path / "reference.npz")]) == 0
    checkpoint = tmp_path / "search.ckpt"
    resumable = [*args, "--checkpoint", str(checkpoint), "-o", str(tmp_path / "model.npz")]
    _checkpoint.set_test_hook("estep", 12, "interrupt")  # of 20
    assert main(resumable) == 130
    _checkpoint.set_test_hook(None)
    assert checkpoint.exists()
    assert main(resumable) == 0
    assert not checkpoint.exists()
    assert_identical(fastem.load(tmp_path / "reference.npz"), fastem.load(tmp_path / "model.npz"))


def test_imputer_checkpoint_and_failed_fit(tmp_path):
    X = BLOBS.copy()
    X[np.random.RandomState(0).random_sample(X.shape) < 0.1] = np.nan

    def make():
        return fastem.MixtureImputer(3, n_init=2, tol=0.0, max_iter=8, random_state=0)

    reference = make().fit(X)
    checkpoint = tmp_path / "imputer.ckpt"
    assert interrupted_fit(make, X, checkpoint, 7)
    resumed = make().fit(X, checkpoint=checkpoint)
    assert_identical(reference.mixture_, resumed.mixture_)
    np.testing.assert_array_equal(reference.transform(X), resumed.transform(X))
    # A fit that fails (an infinite value) leaves a fitted imputer as it was.
    before = fitted_state(resumed)
    bad = X[:, :2].copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        resumed.fit(bad)
    assert fitted_state(resumed).keys() == before.keys()
    assert resumed.n_features_in_ == 3
