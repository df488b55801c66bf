"""The ``fastem`` command line, run as ``python -m fastem`` in subprocesses.

Every subprocess pays the import and the loading of cached Numba kernels (about
a second); the data stays tiny so that nothing else costs.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import fastem
from fastem import GaussianMixture
from fastem.cli import build_parser, main

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
    result = run(*args, cwd=cwd, input=input)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def _blobs(n=300, seed=0):
    """Three well separated clusters in 2-D."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [8.0, 1.0], [2.0, 9.0]])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same rows as data.npy and as data.csv with a header line."""
    folder = tmp_path_factory.mktemp("cli")
    X = _blobs()
    np.save(folder / "data.npy", X)
    np.savetxt(folder / "data.csv", X, delimiter=",", header="x,y", comments="", fmt="%.17g")
    return folder, X


@pytest.fixture(scope="module")
def model(data):
    """A model fitted by ``fastem fit`` on data.npy."""
    folder, _ = data
    ok("fit", "data.npy", "--k", 3, "--seed", 0, "-o", "model.npz", cwd=folder)
    return folder / "model.npz"


# -- fit, predict, score, sample, info --------------------------------------------------------
def test_fit_predict_round_trip_equals_python_api(data, model):
    folder, X = data
    expected = GaussianMixture(3, random_state=0).fit(X)
    ok("predict", model, "data.npy", "-o", "labels.npy", cwd=folder)
    np.testing.assert_array_equal(np.load(folder / "labels.npy"), expected.predict(X))
    loaded = fastem.load(model)
    np.testing.assert_allclose(loaded.means_, expected.means_, rtol=1e-12)
    assert loaded.verbose == 0  # the progress plumbing is not saved with the model


def test_fit_summary_text_and_json(data):
    folder, X = data
    text = ok("fit", "data.npy", "--k", 3, cwd=folder).stdout
    for word in ("iterations", "converged", "log-likelihood", "BIC", "time"):
        assert word in text
    summary = json.loads(ok("fit", "data.npy", "--k", 3, "--json", cwd=folder).stdout)
    expected = GaussianMixture(3, random_state=0).fit(X)
    assert summary["n_samples"] == 300 and summary["n_features"] == 2
    assert summary["n_iter"] == expected.n_iter_
    assert summary["converged"] is True
    assert summary["log_likelihood"] == pytest.approx(expected.score(X), rel=1e-10)
    assert summary["bic"] == pytest.approx(expected.bic(X), rel=1e-10)


def test_fit_csv_file_and_stdin(data):
    folder, X = data
    expected = GaussianMixture(2, covariance_type="diag", random_state=3).fit(X[:, [1]])
    options = ["--k", 2, "--covariance", "diag", "--seed", 3, "--columns", "1", "--json"]
    from_file = json.loads(ok("fit", "data.csv", "--skip-header", *options, cwd=folder).stdout)
    csv_text = (folder / "data.csv").read_text()
    from_stdin = json.loads(
        ok("fit", "-", "--skip-header", *options, cwd=folder, input=csv_text).stdout
    )
    for summary in (from_file, from_stdin):
        assert summary["n_features"] == 1
        assert summary["log_likelihood"] == pytest.approx(expected.score(X[:, [1]]), rel=1e-9)


def test_fit_chunked(data):
    """--chunk-size: exact EM over row chunks of the memory-mapped file."""
    folder, X = data
    ok("fit", "data.npy", "--k", 3, "--chunk-size", 64, "-o", "chunked.npz", cwd=folder)
    chunked = fastem.load(folder / "chunked.npz")
    assert chunked.chunk_size == 64
    expected = GaussianMixture(3, random_state=0, chunk_size=64)
    expected.fit(np.load(folder / "data.npy", mmap_mode="r"))
    np.testing.assert_allclose(chunked.means_, expected.means_, rtol=1e-12)
    np.testing.assert_array_equal(chunked.predict(X), expected.predict(X))


def test_predict_proba_csv_and_stdout(data, model):
    folder, X = data
    loaded = fastem.load(model)
    ok("predict", model, "data.csv", "--skip-header", "--proba", "-o", "proba.csv", cwd=folder)
    proba = np.loadtxt(folder / "proba.csv", delimiter=",")
    np.testing.assert_allclose(proba, loaded.predict_proba(X), atol=1e-7)
    labels = ok("predict", model, "data.npy", cwd=folder).stdout.split()
    np.testing.assert_array_equal(np.array(labels, dtype=int), loaded.predict(X))


def test_score(data, model):
    folder, X = data
    loaded = fastem.load(model)
    value = float(ok("score", model, "data.npy", cwd=folder).stdout)
    assert value == pytest.approx(loaded.score(X), rel=1e-12)
    summary = json.loads(ok("score", model, "data.npy", "--json", cwd=folder).stdout)
    assert summary["bic"] == pytest.approx(loaded.bic(X), rel=1e-10)


def test_sample(data, model):
    folder, _ = data
    ok("sample", model, 40, "-o", "s.npy", "--labels", "s_labels.npy", "--seed", 5, cwd=folder)
    expected_X, expected_y = fastem.load(model).set_params(random_state=5).sample(40)
    np.testing.assert_array_equal(np.load(folder / "s.npy"), expected_X)
    np.testing.assert_array_equal(np.load(folder / "s_labels.npy"), expected_y)
    # Without --seed the model's own random_state is used.
    ok("sample", model, 10, "-o", "t.csv", cwd=folder)
    np.testing.assert_allclose(
        np.loadtxt(folder / "t.csv", delimiter=","), fastem.load(model).sample(10)[0], rtol=1e-9
    )


def test_info(data, model):
    folder, _ = data
    text = ok("info", model, cwd=folder).stdout
    assert "GaussianMixture" in text and f"fastem {fastem.__version__}" in text
    assert "n_components" in text and "weight" in text
    info = json.loads(ok("info", model, "--json", cwd=folder).stdout)
    assert info["class"] == "GaussianMixture"
    assert info["params"]["n_components"] == 3
    np.testing.assert_allclose(info["fitted"]["weights_"], fastem.load(model).weights_)


def test_bernoulli_family(tmp_path):
    BernoulliMixture = fastem.BernoulliMixture
    rng = np.random.default_rng(0)
    probs = np.array([[0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.9, 0.9]])
    X = (rng.random((200, 4)) < probs[rng.integers(0, 2, 200)]).astype(np.float64)
    np.savetxt(tmp_path / "bits.csv", X, delimiter=",", fmt="%d")
    ok("fit", "bits.csv", "--k", 2, "--family", "bernoulli", "-o", "b.npz", cwd=tmp_path)
    ok("predict", "b.npz", "bits.csv", "-o", "labels.npy", cwd=tmp_path)
    expected = BernoulliMixture(2, random_state=0).fit(X).predict(X)
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), expected)
    assert "BernoulliMixture" in ok("info", "b.npz", cwd=tmp_path).stdout


# -- select --------------------------------------------------------------------------------
def test_select_finds_true_k(data):
    folder, X = data
    result = ok("select", "data.npy", "--k", "1..5", "-o", "best.npz", "--json", cwd=folder)
    summary = json.loads(result.stdout)
    assert summary["best"] == {"k": 3, "covariance": "full"}
    bics = {r["k"]: r["bic"] for r in summary["results"]}
    assert bics[3] == pytest.approx(GaussianMixture(3, random_state=0).fit(X).bic(X), rel=1e-10)
    assert fastem.load(folder / "best.npz").n_components == 3
    table = ok("select", "data.npy", "--k", "2,3", "--covariance", "diag,full", cwd=folder).stdout
    assert len([line for line in table.splitlines() if line.endswith(" *")]) == 1
    assert "best (*): K=3" in table


# -- segment -------------------------------------------------------------------------------
@pytest.mark.parametrize("spatial", [0, 1])
def test_segment_china(tmp_path, spatial):
    from PIL import Image  # in the test extra: segment needs Pillow
    from sklearn.datasets import load_sample_image

    image = load_sample_image("china.jpg")
    Image.fromarray(image).save(tmp_path / "china.png")
    k = 5
    result = ok(
        "segment",
        "china.png",
        "--k",
        k,
        "--max-pixels",
        20000,
        "--spatial",
        spatial,
        "-o",
        "out.png",
        cwd=tmp_path,
    )
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    assert out.shape == image.shape
    colours = np.unique(out.reshape(-1, 3), axis=0)
    assert 2 <= len(colours) <= k
    assert "weight" in result.stdout and "#" in result.stdout


def test_segment_without_pillow(tmp_path):
    """Pillow is optional: its absence is a one-line error naming the extra."""
    code = (
        "import sys; sys.modules['PIL'] = None; from fastem.cli import main; "
        "sys.exit(main(['segment', 'any.png', '--k', '3', '-o', 'out.png']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "fastem: error: segment needs Pillow: pip install fastem[image]"
    )


# -- demo ----------------------------------------------------------------------------------
def test_demo_tiny(tmp_path):
    args = ["demo", "--n-samples", 3000, "--n-features", 3, "--k", 3, "--sklearn-iter", 2]
    result = ok(*args, cwd=tmp_path)
    for text in ("fitted components", "log-likelihood", "BIC", "per iteration", "speed-up"):
        assert text in result.stdout
    summary = json.loads(ok(*args, "--json", "-q", cwd=tmp_path).stdout)
    assert summary["n_samples"] == 3000 and summary["speedup"] > 0
    # Same start, same iterations: both libraries reach the same log-likelihood.
    assert summary["lower_bound_relative_difference"] < 1e-8
    np.testing.assert_allclose(summary["means"], summary["true_means"], atol=0.3)
    no_sklearn = ok("demo", "--n-samples", 2000, "--k", 2, "--no-sklearn", cwd=tmp_path).stdout
    assert "BIC" in no_sklearn and "speed-up" not in no_sklearn


# -- errors --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_files(data, model):
    folder, _ = data
    (folder / "bad.csv").write_text("1,2\n3,4\n5,abc\n")
    (folder / "ragged.csv").write_text("1,2\n3,4\n5\n")
    (folder / "notimage.png").write_text("not an image\n")
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
    result = run(*args, cwd=bad_files)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("fastem: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreadable_image(bad_files):
    result = run("segment", "notimage.png", "--k", 2, "-o", "out.png", cwd=bad_files)
    assert result.returncode == 1
    assert "notimage.png: cannot read image" in result.stderr
    assert "Traceback" not in result.stderr


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
    result = run("--debug", "fit", "bad.csv", "--k", "2", cwd=bad_files)
    assert result.returncode != 0 and "Traceback" in result.stderr
    result = run("fit", "bad.csv", "--k", "2", "--debug", cwd=bad_files)
    assert result.returncode != 0 and "Traceback" in result.stderr


# -- help (in process: argparse only) --------------------------------------------------------
SUBCOMMANDS = ["fit", "predict", "score", "sample", "info", "select", "segment", "demo"]


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
