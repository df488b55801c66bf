"""``fastem segment``: colour segmentation of images (Pillow is optional)."""

import subprocess
import sys

import numpy as np
import pytest

from test_cli_helpers import TIMEOUT, ok, run


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


def test_unreadable_image(tmp_path):
    (tmp_path / "notimage.png").write_text("not an image\n")
    result = run("segment", "notimage.png", "--k", 2, "-o", "out.png", cwd=tmp_path)
    assert result.returncode == 1
    assert "notimage.png: cannot read image" in result.stderr
    assert "Traceback" not in result.stderr
