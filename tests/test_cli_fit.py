"""``fastem fit``, ``predict``, ``score``, ``sample``, ``info``, and the progress of fits."""

import json

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import GaussianMixture
from fastem.cli import fit_with_progress, main
from fastem.cli import progress as cli_progress
from test_cli_helpers import fit_model, ok, write_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same rows as data.npy and as data.csv with a header line."""
    return write_data(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def model(data):
    """A model fitted by ``fastem fit`` on data.npy."""
    return fit_model(data[0])


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


# -- progress ------------------------------------------------------------------------------
@pytest.fixture
def progress_at_once(monkeypatch):
    """Progress shown from the first iteration, every iteration (in this process)."""
    monkeypatch.setattr(cli_progress, "DELAY_S", 0.0)
    monkeypatch.setattr(cli_progress, "LOG_INTERVAL_S", 0.0)


def _progress_lines(err):
    return [line for line in err.splitlines() if "iteration" in line and "lower bound" in line]


def test_progress_lines_come_from_the_callback(data, tmp_path, capsys, progress_at_once):
    folder, _ = data
    saved = tmp_path / "m.npz"
    args = ["fit", str(folder / "data.npy"), "--k", "3", "--max-iter", "3", "--tol", "0"]
    assert main([*args, "--n-init", "2", "-o", str(saved)]) == 0
    captured = capsys.readouterr()
    lines = _progress_lines(captured.err)
    # The 2 restarts advance together: each pass calls back once per restart.
    expected = [
        f"{i} of 2 restarts together, iteration {j}/3: " for j in (1, 2, 3) for i in (1, 2)
    ]
    assert [line[: len(expected[0])] for line in lines] == expected
    assert all(("change" in line) == (" iteration 1/" not in line) for line in lines)
    assert "Iteration" not in captured.out and "Initialization" not in captured.out
    loaded = fastem.load(saved)
    assert loaded.callback is None and loaded.verbose == 0
    # The model keeps the better initialisation: its last lower bound, shown to 6 digits.
    bounds = [float(line.split("lower bound ")[1].split(",")[0]) for line in lines]
    assert max(bounds[2], bounds[5]) == pytest.approx(loaded.lower_bound_, rel=1e-5)


def test_quiet_shows_no_progress(data, capsys, progress_at_once):
    folder, _ = data
    assert main(["fit", str(folder / "data.npy"), "--k", "3", "--max-iter", "2", "-q"]) == 0
    assert _progress_lines(capsys.readouterr().err) == []


def test_fit_with_progress_keeps_the_models_callback(data, capsys, progress_at_once):
    _, X = data
    calls = []

    def stop_at_two(iteration, lower_bound):
        calls.append(iteration)
        return iteration == 2

    model = GaussianMixture(3, max_iter=50, tol=0, callback=stop_at_two)
    with pytest.warns(ConvergenceWarning):  # a stopped fit has not converged
        fit_with_progress(model, X)
    assert model.n_iter_ == 2 and calls == [1, 2]  # still called, still stops the fit
    assert model.callback is stop_at_two
    assert len(_progress_lines(capsys.readouterr().err)) == 2


def test_missing_values_in_npy_and_csv(tmp_path):
    # NaN in a .npy file, empty fields and NA in CSV: missing values, fitted exactly.
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0, 1, (150, 3)), rng.normal(6, 1, (150, 3))])
    X[rng.random(X.shape) < 0.1] = np.nan
    np.save(tmp_path / "rows.npy", X)
    cells = [["" if np.isnan(v) else repr(float(v)) for v in row] for row in X]
    first = next(i for i, row in enumerate(cells) if "" in row)
    cells[first][cells[first].index("")] = "NA"
    (tmp_path / "rows.csv").write_text("\n".join(",".join(r) for r in cells) + "\n")
    expected = GaussianMixture(2, random_state=0)
    for name in ("rows.npy", "rows.csv"):
        rows = X
        ok("fit", name, "--k", 2, "--seed", 0, "-o", "model.npz", "-q", cwd=tmp_path)
        model = fastem.load(tmp_path / "model.npz")
        expected.fit(rows)
        np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-12)
        score = ok("score", "model.npz", name, cwd=tmp_path).stdout
        assert float(score) == pytest.approx(expected.score(rows), rel=1e-12)
        labels = ok("predict", "model.npz", name, cwd=tmp_path).stdout.split()
        np.testing.assert_array_equal(np.array(labels, dtype=int), expected.predict(rows))
