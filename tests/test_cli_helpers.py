"""Helpers of the command-line tests (``tests/test_cli_*.py``); no tests here.

The command line runs as ``python -m fastem`` in subprocesses. Every subprocess
pays the import and the loading of cached Numba kernels (about a second); the
data stays tiny so that nothing else costs.
"""

import subprocess
import sys

import numpy as np

# Cold Numba compilation in the first subprocess of a fresh checkout can take a while.
TIMEOUT = 600


def run(*args, cwd, input=None):
    """``python -m fastem ARGS``; the completed process with text output."""
    return subprocess.run(
        [sys.executable, "-m", "fastem", *map(str, args)],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def ok(*args, cwd, input=None):
    """:func:`run`, asserting success without a traceback."""
    result = run(*args, cwd=cwd, input=input)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def blobs(n=300, seed=0):
    """Three well separated clusters in 2-D."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [8.0, 1.0], [2.0, 9.0]])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2))


def write_data(folder):
    """The rows of :func:`blobs` as data.npy and as data.csv with a header line."""
    X = blobs()
    np.save(folder / "data.npy", X)
    np.savetxt(folder / "data.csv", X, delimiter=",", header="x,y", comments="", fmt="%.17g")
    return folder, X


def fit_model(folder):
    """``fastem fit`` on data.npy, saved as model.npz."""
    ok("fit", "data.npy", "--k", 3, "--seed", 0, "-o", "model.npz", cwd=folder)
    return folder / "model.npz"
