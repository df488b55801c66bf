"""Checkpoints for real: fits from a ``.npy`` file killed with SIGKILL, then run again.

Each child process is killed by the test hook (``FASTEM_TEST_HOOK``) at a named
point (during an E-step pass, half-way through writing a checkpoint, right
after one) or by the parent at an arbitrary moment; running the same command
again must give the model an uninterrupted run gives, bit for bit (same thread
count).
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastem
from fastem._checkpoint import HOOK_ENV
from synthetic import make_blobs

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")

#: The fit of every run: 2 restarts advancing together, 10 passes over 6 chunks (60
#: E-step chunks, 11 checkpoint writes: after the initialisation and every pass).
CLI_ARGS = ["--k", "3", "--n-init", "2", "--max-iter", "10", "--tol", "0"]
CLI_ARGS += ["--chunk-size", "250", "--n-jobs", "2", "--seed", "3", "-q"]

ONLINE_SCRIPT = """
import sys, warnings
import fastem
warnings.simplefilter("ignore")
data, out, checkpoint = sys.argv[1:4]
model = fastem.GaussianMixture(3, covariance_type="diag", chunk_size=300, n_jobs=2,
                               random_state=0)
model.fit(data, mode="online", batch_size=100, n_epochs=3,
          checkpoint=None if checkpoint == "-" else checkpoint)
model.save(out)
"""


def _env(hook=None):
    env = dict(os.environ)
    env.pop(HOOK_ENV, None)
    if hook:
        env[HOOK_ENV] = hook
    return env


def _run(command, hook=None, timeout=300):
    return subprocess.run(command, env=_env(hook), capture_output=True, text=True, timeout=timeout)


def _cli(data, output, checkpoint=None):
    command = [sys.executable, "-m", "fastem", "fit", str(data), *CLI_ARGS, "-o", str(output)]
    if checkpoint is not None:
        command += ["--checkpoint", str(checkpoint)]
    return command


def _online(data, output, checkpoint=None):
    return [sys.executable, "-c", ONLINE_SCRIPT, str(data), str(output), str(checkpoint or "-")]


def assert_same_model_file(a, b):
    ma, mb = fastem.load(a), fastem.load(b)
    fitted = [n for n in vars(ma) if n.endswith("_") and not n.startswith("_")]
    assert fitted and sorted(fitted) == sorted(
        n for n in vars(mb) if n.endswith("_") and not n.startswith("_")
    )
    for name in fitted:
        va, vb = np.asarray(getattr(ma, name)), np.asarray(getattr(mb, name))
        assert va.dtype == vb.dtype and va.tobytes() == vb.tobytes(), name


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    directory = tmp_path_factory.mktemp("kill")
    path = directory / "X.npy"
    np.save(path, make_blobs(n_samples=1500, n_features=4, n_components=3, seed=2)[0])
    return path


@pytest.fixture(scope="module")
def reference(data):
    """The uninterrupted runs' model files: (CLI exact fit, online fit)."""
    exact, online = data.parent / "exact.npz", data.parent / "online.npz"
    for command in (_cli(data, exact), _online(data, online)):
        result = _run(command)
        assert result.returncode == 0, result.stderr
    return exact, online


def _kill_then_resume(command_for, data, reference, tmp_path, hook, stale=False):
    checkpoint, output = tmp_path / "fit.ckpt", tmp_path / "model.npz"
    killed = _run(command_for(data, output, checkpoint), hook=hook)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert checkpoint.exists() and not output.exists()
    assert bool(list(tmp_path.glob(".fit.ckpt.*.tmp"))) == stale
    resumed = _run(command_for(data, output, checkpoint))
    assert resumed.returncode == 0, resumed.stderr
    assert not checkpoint.exists() and not list(tmp_path.glob(".fit.ckpt.*"))
    assert_same_model_file(reference, output)


@pytest.mark.parametrize(
    "hook, stale",
    [("estep:29", False), ("checkpoint-write:7", True), ("checkpoint-written:9", False)],
    ids=["during-estep", "during-checkpoint-write", "after-checkpoint-write"],
)
def test_cli_fit_killed_and_rerun(data, reference, tmp_path, hook, stale):
    _kill_then_resume(_cli, data, reference[0], tmp_path, hook, stale)


def test_online_fit_killed_and_rerun(data, reference, tmp_path):
    _kill_then_resume(_online, data, reference[1], tmp_path, "estep:23")


@pytest.mark.slow
@pytest.mark.parametrize("hook", ["estep:2", "estep:31", "estep:58", "checkpoint-write:10"])
def test_cli_fit_killed_at_more_points(data, reference, tmp_path, hook):
    _kill_then_resume(_cli, data, reference[0], tmp_path, hook, stale="write" in hook)


def test_cli_fit_killed_from_outside_twice(data, reference, tmp_path):
    """SIGKILL from the parent at arbitrary moments (once a checkpoint exists)."""
    checkpoint, output = tmp_path / "fit.ckpt", tmp_path / "model.npz"
    command = _cli(data, output, checkpoint)
    for delay in (0.05, 0.2):
        # Every E-step chunk sleeps a little, so that the fit is still running when
        # it is killed, a while after this run wrote a checkpoint.
        written = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
        child = subprocess.Popen(
            command,
            env=_env("estep:*:sleep=0.01"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            if checkpoint.exists() and checkpoint.stat().st_mtime_ns != written:
                break
            time.sleep(0.005)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
        assert checkpoint.exists()
    resumed = _run(command)
    assert resumed.returncode == 0, resumed.stderr
    assert not checkpoint.exists()
    assert_same_model_file(reference[0], output)


def _kmeans_cli(data, output, checkpoint=None):
    # 6 clusters on 3 blobs: each run takes its 10 iterations.
    command = [*_cli(data, output, checkpoint), "--family", "kmeans"]
    command[command.index("--k") + 1] = "6"
    return command


def test_cli_kmeans_killed_during_lloyd_and_rerun(data, tmp_path):
    reference = tmp_path / "reference.npz"
    result = _run(_kmeans_cli(data, reference))
    assert result.returncode == 0, result.stderr
    (tmp_path / "run").mkdir()
    # The 13th Lloyd pass is in the second of the two runs (10 iterations at most each).
    _kill_then_resume(_kmeans_cli, data, reference, tmp_path / "run", "lloyd:13")
