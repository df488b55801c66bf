"""``fastem select``: K (and covariance type) by BIC, AIC or ICL, through MixtureSelector."""

import json

import pytest

import fastem
from fastem import GaussianMixture
from test_cli_helpers import ok, run, write_data


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The same rows as data.npy and as data.csv with a header line."""
    return write_data(tmp_path_factory.mktemp("cli"))


# -- select --------------------------------------------------------------------------------
def test_select_finds_true_k(data):
    folder, X = data
    result = ok("select", "data.npy", "--k", "1..5", "-o", "best.npz", "--json", cwd=folder)
    summary = json.loads(result.stdout)
    assert summary["best"] == {"k": 3, "covariance": "full"}
    bics = {r["k"]: r["bic"] for r in summary["results"]}
    # The chosen model is continued to a tight tolerance (refit_tol=1e-6).
    tight = GaussianMixture(3, random_state=0, tol=1e-6).fit(X)
    assert bics[3] == pytest.approx(tight.bic(X), rel=1e-7)
    assert fastem.load(folder / "best.npz").n_components == 3
    assert summary["n_passes"] > 0
    table = ok("select", "data.npy", "--k", "2,3", "--covariance", "diag,full", cwd=folder).stdout
    assert len([line for line in table.splitlines() if line.endswith(" *")]) == 1
    assert "best (*): K=3" in table


def test_select_em_strategy_is_the_loop_of_single_fits(data):
    folder, X = data
    result = ok(
        "select",
        "data.npy",
        "--k",
        "1..4",
        "--strategy",
        "em",
        "--json",
        "--seed",
        "3",
        cwd=folder,
    )
    summary = json.loads(result.stdout)
    for row in summary["results"]:
        if row["k"] == summary["best"]["k"]:
            continue
        alone = GaussianMixture(row["k"], random_state=3).fit(X)
        assert row["bic"] == pytest.approx(alone.bic(X), rel=1e-10)
        assert row["n_iter"] == alone.n_iter_


def test_select_icl_and_plot(data):
    folder, _ = data
    result = ok(
        "select",
        "data.npy",
        "--k",
        "1..4",
        "--covariance",
        "all",
        "--criterion",
        "icl",
        "--plot",
        "icl.png",
        cwd=folder,
    )
    assert "ICL" in result.stdout.splitlines()[0]
    assert "plot written to icl.png" in result.stdout
    assert (folder / "icl.png").stat().st_size > 1000
    assert (folder / "icl.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_rejects_covariance_for_bernoulli(data):
    folder, _ = data
    result = run("select", "data.npy", "--family", "bernoulli", "--covariance", "diag", cwd=folder)
    assert result.returncode != 0
    assert "--covariance does not apply to the bernoulli family" in result.stderr
