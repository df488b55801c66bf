"""Errors of the command line (one line, exit status 1 or 2) and its help."""

import numpy as np
import pytest

from fastem.cli import build_parser, main
from test_cli_helpers import fit_model, run, write_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same rows as data.npy and as data.csv with a header line."""
    return write_data(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def model(data):
    """A model fitted by ``fastem fit`` on data.npy."""
    return fit_model(data[0])


# -- errors --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_files(data, model):
    folder, _ = data
    (folder / "bad.csv").write_text("1,2\n3,4\n5,abc\n")
    (folder / "ragged.csv").write_text("1,2\n3,4\n5\n")
    (folder / "data.dat").write_text("1 2\n")
    (folder / "junk.npz").write_bytes(b"junk" * 100)
    raw = model.read_bytes()
    (folder / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    with np.load(model, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    members["__fastem__"] = np.asarray(99)
    np.savez(folder / "future.npz", **members)
    return folder


ERRORS = [
    (["fit", "missing.npy", "--k", "2"], "missing.npy: no such file"),
    (["fit", "bad.csv", "--k", "2"], "bad.csv: line 3, column 2: 'abc' is not a number"),
    (["fit", "data.csv", "--k", "2"], "line 1, column 1: 'x' is not a number"),
    (["fit", "ragged.csv", "--k", "2"], "line 3 has 1 columns"),
    (["fit", "data.npy", "--k", "301"], "--k 301 exceeds the number of rows (300)"),
    (["fit", "data.npy", "--k", "2", "--columns", "0,5"], "asks for index 5"),
    (["fit", "data.npy", "--k", "2", "-o", "nodir/m.npz"], "nodir/m.npz: directory"),
    (["fit", "data.dat", "--k", "2"], "data.dat: unknown data format"),
    (["predict", "missing.npz", "data.npy"], "missing.npz: no such file"),
    (["predict", "junk.npz", "data.npy"], "not a fastem model file"),
    (["predict", "truncated.npz", "data.npy"], "corrupted or truncated"),
    (["predict", "future.npz", "data.npy"], "upgrade fastem"),
    (["predict", "model.npz", "data.npy", "-o", "out.xyz"], "unknown output format"),
    (["info", "data.npy"], "not a fastem model file"),
    (["select", "data.npy", "--k", "2..400"], "exceeds the number of rows"),
]


@pytest.mark.parametrize(("args", "message"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_errors_are_one_line(bad_files, args, message):
    # The first through a real ``python -m fastem`` (its exit status), the others in process.
    result = run(*args, cwd=bad_files, process=args is ERRORS[0][0])
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("fastem: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args", [["fit", "data.npy", "--k", "0"], ["fit", "data.npy"], ["nonsense"], []]
)
def test_usage_errors_exit_2(args, capsys):
    # argparse's own errors: checked in process, no subprocess needed.
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "usage: fastem" in capsys.readouterr().err


def test_debug_shows_traceback(bad_files):
    result = run("--debug", "fit", "bad.csv", "--k", "2", cwd=bad_files, process=True)
    assert result.returncode != 0 and "Traceback" in result.stderr
    result = run("fit", "bad.csv", "--k", "2", "--debug", cwd=bad_files)
    assert result.returncode != 0 and "Traceback" in result.stderr


# -- help (in process: argparse only) --------------------------------------------------------
SUBCOMMANDS = ["fit", "predict", "score", "sample", "info", "impute", "select", "segment", "demo"]


@pytest.mark.parametrize("command", [[], *([c] for c in SUBCOMMANDS)])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fastem")
    assert len(out.splitlines()) > 5


def test_every_subcommand_has_help():
    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if a.dest == "command")
    assert set(subparsers.choices) == set(SUBCOMMANDS)
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    assert all(helps.values())
