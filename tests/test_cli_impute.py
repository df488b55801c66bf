"""``fastem impute MODEL DATA -o OUT``: CSV and .npy tables, missing-value tokens, errors."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastem
from fastem import BernoulliMixture, GaussianMixture
from fastem.cli import main
from fastem.impute import impute
from test_cli_helpers import ok


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A Gaussian model (model.npz), a Bernoulli one, and a table with missing values."""
    folder = tmp_path_factory.mktemp("impute")
    rng = np.random.default_rng(0)
    cov = [[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]]
    X = rng.multivariate_normal([0.0, 1.0, 2.0], cov, size=300)
    GaussianMixture(2, random_state=0).fit(X).save(folder / "model.npz")
    BernoulliMixture(2, random_state=0).fit(X > 0).save(folder / "binary.npz")
    table = X[:6].copy()
    table[0, 1] = table[1, 0] = table[1, 2] = np.nan
    table[3] = np.nan
    np.save(folder / "table.npy", table)
    # The same table as CSV with a header and every missing-value spelling.
    cells = [[repr(float(v)) for v in row] for row in table]
    cells[0][1], cells[1][0], cells[1][2] = "", "NA", " NaN"
    cells[3] = ["", "na", "nan"]
    lines = ["a,b,c"] + [",".join(row) for row in cells]
    (folder / "table.csv").write_text("\n".join(lines) + "\n")
    return folder, table


def test_npy_and_csv_match_the_python_api(folder):
    folder, table = folder
    expected = impute(fastem.load(folder / "model.npz"), table)
    assert (
        main(
            [
                "impute",
                *(str(folder / f) for f in ("model.npz", "table.npy")),
                "-o",
                str(folder / "out.npy"),
                "-q",
            ]
        )
        == 0
    )
    assert_array_equal(np.load(folder / "out.npy"), expected)
    # The installed command, once: CSV with a header and every missing-value spelling.
    result = ok("impute", "model.npz", "table.csv", "--skip-header", "-o", "out.csv", cwd=folder)
    assert "imputed 6 missing values in 6 rows" in result.stderr
    lines = (folder / "out.csv").read_text().splitlines()
    assert lines[0] == "a,b,c"
    assert_allclose(np.loadtxt(lines[1:], delimiter=","), expected, rtol=1e-14)


def test_stdout_columns_and_posterior_draws(folder, capsys):
    folder, table = folder
    model = str(folder / "model.npz")
    assert main(["impute", model, str(folder / "table.npy")]) == 0
    expected = impute(fastem.load(model), table)
    assert_allclose(np.loadtxt(capsys.readouterr().out.splitlines(), delimiter=","), expected)
    draws = []
    for _ in range(2):
        args = ["impute", model, str(folder / "table.npy"), "--sample-posterior", "--seed", "4"]
        assert main(args) == 0
        draws.append(np.loadtxt(capsys.readouterr().out.splitlines(), delimiter=","))
    assert_array_equal(draws[0], draws[1])
    missing = np.isnan(table)
    assert np.all(draws[0][missing] != expected[missing])
    assert_allclose(draws[0][~missing], table[~missing], rtol=1e-14)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["binary.npz", "table.npy"], "holds a BernoulliMixture; impute needs a Gaussian"),
        (
            ["model.npz", "table.npy", "--columns", "0,1"],
            "has 2 columns; the model was fitted on 3",
        ),
        (["model.npz", "table.csv"], "line 1, column 1: 'a' is not a number (nor a missing value"),
        (["model.npz", "bad.csv"], "bad.csv: infinite value at row 2, column 1"),
        (["missing.npz", "table.npy"], "missing.npz: no such file"),
    ],
)
def test_errors_are_one_line(folder, capsys, args, message):
    folder, _ = folder
    (folder / "bad.csv").write_text("1,2,3\ninf,,1\n")
    status = main(["impute", *[str(folder / a) if "." in a else a for a in args]])
    err = capsys.readouterr().err
    assert status == 1 and message in err and "Traceback" not in err
