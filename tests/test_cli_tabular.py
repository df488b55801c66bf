"""``fastem fit --family tabular``: CSV with inferred types, Parquet, the profiles printed."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastem
from fastem.cli.data import restore_column_kinds
from tabular_common import make_table
from test_cli_helpers import run


@pytest.fixture(scope="module")
def frame():
    return make_table(150, seed=31, missing=0.05)[0]


def test_fit_csv_infers_types_and_prints_profiles(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    done = run(
        "fit",
        "t.csv",
        "--family",
        "tabular",
        "--k",
        "2",
        "--seed",
        "0",
        "-o",
        "m.npz",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "TabularMixture(n_components=2" in out
    assert "g1: gaussian" in out and "c1: categorical" in out and "p1: poisson" in out
    assert "b1: bernoulli" in out  # True/False with holes
    assert "class profiles:" in out and "class 0" in out and "P(mid)" in out
    model = fastem.load(tmp_path / "m.npz")
    assert model.column_types_["g2"] == "gaussian"


def test_fit_parquet_json(tmp_path, frame):
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "t.parquet", row_group_size=40)
    done = run(
        "fit",
        "t.parquet",
        "--family",
        "tabular",
        "--k",
        "2",
        "--seed",
        "0",
        "--json",
        "--quiet",
        "--chunk-size",
        "50",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["n_samples"] == 150
    assert summary["column_types"]["b1"] == "bernoulli"
    weights = [row for row in summary["profiles"] if row["column"] == "weight"][0]
    assert np.isclose(weights["class 0"] + weights["class 1"], 1.0)
    direct = fastem.TabularMixture(2, random_state=0).fit(frame)
    assert np.isclose(summary["log_likelihood"], direct.score(frame), rtol=1e-8)


def test_bad_table_is_one_line(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\n1.5,x\n2.5,x\n3.5,x\n")
    done = run("fit", "t.csv", "--family", "tabular", "--k", "1", "--quiet", cwd=tmp_path)
    assert done.returncode != 0
    assert "Column 'b' is categorical with 1 level" in done.stderr
    assert "Traceback" not in done.stderr
    done = run(
        "fit", "t.csv", "--family", "tabular", "--k", "1", "--covariance", "tied", cwd=tmp_path
    )
    assert done.returncode != 0 and "does not apply to the tabular family" in done.stderr


def test_select_has_no_tabular_family(tmp_path):
    # ``select`` searches rows of numbers; only ``fit`` takes --family tabular.
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(20, 2)))
    done = run("select", "x.npy", "--family", "tabular", "--k", "1..2", cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid choice: 'tabular'" in done.stderr and "Traceback" not in done.stderr


def test_fit_full_covariance(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    done = run(
        "fit",
        "t.csv",
        *("--family", "tabular", "--covariance", "full", "--k", "2", "--seed", "0"),
        *("-o", "m.npz", "--quiet"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    model = fastem.load(tmp_path / "m.npz")
    assert model.covariance_type == "full" and model.covariances_.shape == (2, 2, 2)


def test_predict_score_sample_with_a_tabular_model(tmp_path, frame):
    frame.to_csv(tmp_path / "t.csv", index=False)
    done = run(
        "fit",
        "t.csv",
        "--family",
        "tabular",
        "--k",
        "2",
        "--seed",
        "0",
        "-o",
        "m.npz",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    model = fastem.load(tmp_path / "m.npz")
    done = run("predict", "m.npz", "t.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import pandas as pd

    table = restore_column_kinds(pd.read_csv(tmp_path / "t.csv"))
    labels = np.loadtxt(done.stdout.splitlines(), dtype=int)
    np.testing.assert_array_equal(labels, model.predict(table))
    done = run("score", "m.npz", "t.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert np.isclose(float(done.stdout), model.score(table), rtol=1e-12)
    done = run("sample", "m.npz", "5", "-o", "s.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    drawn = pd.read_csv(tmp_path / "s.csv")
    assert list(drawn.columns) == list(frame.columns) and drawn.shape[0] == 5
