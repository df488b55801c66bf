"""``fastem fit --family kmeans`` and ``fastem segment --method kmeans``."""

import json

import numpy as np
import pytest

import fastem
from test_cli_helpers import ok, run, write_data


@pytest.fixture
def data(tmp_path):
    return write_data(tmp_path)


def test_fit_predict_score_round_trip(data):
    folder, X = data
    result = ok(
        "fit",
        "data.npy",
        "--k",
        3,
        "--family",
        "kmeans",
        "--seed",
        0,
        "-o",
        "km.npz",
        "--json",
        cwd=folder,
    )
    summary = json.loads(result.stdout)
    model = fastem.load(folder / "km.npz")
    assert isinstance(model, fastem.KMeans) and model.n_clusters == 3
    assert summary["model"] == "KMeans(n_clusters=3)"
    assert summary["inertia"] == pytest.approx(model.inertia_, rel=1e-12)
    expected = fastem.KMeans(3, random_state=0, max_iter=100).fit(X)
    np.testing.assert_allclose(model.cluster_centers_, expected.cluster_centers_, rtol=1e-12)
    labels = ok("predict", "km.npz", "data.npy", cwd=folder).stdout.split()
    np.testing.assert_array_equal(np.array(labels, dtype=int), model.predict(X))
    score = float(ok("score", "km.npz", "data.npy", cwd=folder).stdout)
    assert score == pytest.approx(model.score(X) / len(X), rel=1e-12)


def test_fit_chunked_and_random_rows(data):
    folder, _ = data
    ok("fit", "data.npy", "--k", 3, "--family", "kmeans", "--chunk-size", 50, cwd=folder)
    ok("fit", "data.npy", "--k", 3, "--family", "kmeans", "--init", "random_from_data", cwd=folder)


@pytest.mark.parametrize(
    "args, message",
    [
        (("fit", "data.npy", "--k", 3, "--family", "kmeans", "--init", "random"), "--init random"),
        (
            ("fit", "data.npy", "--k", 3, "--family", "kmeans", "--covariance", "diag"),
            "covariance",
        ),
        (("select", "data.npy", "--k", "2,3", "--family", "kmeans"), "k-means does not define"),
    ],
)
def test_options_that_do_not_apply(data, args, message):
    folder, _ = data
    result = run(*args, cwd=folder)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_predict_proba_is_refused(data):
    folder, _ = data
    ok("fit", "data.npy", "--k", 3, "--family", "kmeans", "-o", "km.npz", cwd=folder)
    result = run("predict", "km.npz", "data.npy", "--proba", cwd=folder)
    assert result.returncode == 1 and "predict_proba is not defined" in result.stderr


def test_segment_kmeans(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]], dtype=np.uint8)
    image = palette[rng.integers(0, 3, (40, 50))]
    noisy = np.clip(image + rng.integers(-5, 6, image.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "in.png")
    result = ok(
        "segment",
        "in.png",
        "--k",
        3,
        "--method",
        "kmeans",
        "-o",
        "out.png",
        "--json",
        cwd=tmp_path,
    )
    summary = json.loads(result.stdout)
    colours = sorted(tuple(c["rgb"]) for c in summary["components"])
    np.testing.assert_allclose(colours, sorted(map(tuple, palette)), atol=3)
    assert sum(c["pixels"] for c in summary["components"]) == 40 * 50
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    assert len(np.unique(out.reshape(-1, 3), axis=0)) == 3
    refused = run(
        "segment",
        "in.png",
        "--k",
        3,
        "--method",
        "kmeans",
        "--covariance",
        "diag",
        "-o",
        "x.png",
        cwd=tmp_path,
    )
    assert refused.returncode == 1 and "--covariance" in refused.stderr
