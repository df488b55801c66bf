"""Helpers of the command-line tests (``tests/test_cli_*.py``); no tests here.

The command line runs in the test process by default: :func:`run` calls
``fastem.cli.main`` with the working directory, standard input, output and
error (and a fresh warnings state) of a process of its own, as ``python -m
fastem`` would have them, without paying a new interpreter, the imports and the
loading of the Numba kernels for every command. ``run(..., process=True)`` runs
a real ``python -m fastem`` subprocess (the tests that need one: exit codes set
by the interpreter, the entry point); ``FASTEM_CLI_SUBPROCESS=1`` makes every
command a subprocess.
"""

import contextlib
import io
import os
import subprocess
import sys
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

# Cold Numba compilation in the first subprocess of a fresh checkout can take a while.
TIMEOUT = 600

#: Every command in a subprocess (the slower, fully end-to-end run).
ALL_SUBPROCESSES = os.environ.get("FASTEM_CLI_SUBPROCESS", "") not in ("", "0")


@dataclass
class Completed:
    """What a command left: ``returncode``, ``stdout`` and ``stderr`` (text)."""

    returncode: int
    stdout: str
    stderr: str


def _in_process(args, cwd, input):
    from fastem.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()))
    previous_cwd, previous_stdin = os.getcwd(), sys.stdin
    os.chdir(cwd)
    sys.stdin = stdin
    try:
        with (
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
            warnings.catch_warnings(),
        ):
            warnings.resetwarnings()
            warnings.simplefilter("default")  # as in a new interpreter
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: usage errors, --help, --version
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
            except Exception:  # --debug re-raises: the interpreter prints it, exit 1
                traceback.print_exc(file=sys.stderr)
                code = 1
    finally:
        sys.stdin = previous_stdin
        os.chdir(previous_cwd)
    return Completed(code, stdout.getvalue(), stderr.getvalue())


def run(*args, cwd, input=None, process=False):
    """``fastem ARGS`` in ``cwd``: a :class:`Completed` (or ``CompletedProcess``) with text output.

    In the test process unless ``process`` (or ``FASTEM_CLI_SUBPROCESS=1``).
    """
    args = [str(arg) for arg in args]
    if not (process or ALL_SUBPROCESSES):
        return _in_process(args, cwd, input)
    return subprocess.run(
        [sys.executable, "-m", "fastem", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def ok(*args, cwd, input=None, process=False):
    """:func:`run`, asserting success without a traceback."""
    result = run(*args, cwd=cwd, input=input, process=process)
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
    """``fastem fit`` on data.npy, saved as model.npz (by a real ``python -m fastem``)."""
    ok("fit", "data.npy", "--k", 3, "--seed", 0, "-o", "model.npz", cwd=folder, process=True)
    return folder / "model.npz"
