"""``fastem select``: K (and covariance type) by BIC."""

import json

import pytest

import fastem
from fastem import GaussianMixture
from test_cli_helpers import ok, write_data


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
    assert bics[3] == pytest.approx(GaussianMixture(3, random_state=0).fit(X).bic(X), rel=1e-10)
    assert fastem.load(folder / "best.npz").n_components == 3
    table = ok("select", "data.npy", "--k", "2,3", "--covariance", "diag,full", cwd=folder).stdout
    assert len([line for line in table.splitlines() if line.endswith(" *")]) == 1
    assert "best (*): K=3" in table
