"""README's Python examples, run as tests so that they cannot drift from the code.

Every ```python block of README.md runs, in the order of the README, each in a fresh
namespace and in a fresh temporary working directory. Blocks of other languages (bash,
text) are not Python and are not collected. The convention for blocks that need files,
a cluster or big data, since README itself carries no test markup:

- **Stand-in names** (``_standin_namespace``): the names README's prose leaves to the
  reader (``X``, ``X_binary``, ``X_with_nan``, ``source``, ``stream``, ``read_chunks``,
  ``path``, ``X1``/``w1``/``X2``/``w2``) are bound to small data before a block runs, and
  the files it names (``rows.npy``, ``rows.h5``, ``rows.zarr``) are written, small, into
  its working directory. A block that defines a name itself (``X`` in the first one)
  overrides the stand-in.
- **Shrinking edits** (``EDITS``): exact README text, keyed by the block's line, replaced
  by a smaller equivalent (fewer rows, smaller chunks, a local Dask cluster instead of a
  scheduler address, the local zarr file instead of S3). Every edit must match the block
  exactly once, so a README change that an edit no longer fits fails here, naming the
  text, instead of silently running something else.
- **Checks** (``CHECKS``): what README's comments promise about a block's result (the
  chosen model on iris, the checkpoint removed after the fit) is asserted.

The tests know blocks by their first line of code (``BLOCK_KEYS``), not their position, so
adding a block to README adds a test; it must then run with the stand-ins or get an edit.
"""

import os
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

README = Path(__file__).resolve().parents[1] / "README.md"

_FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _python_blocks():
    """``(line, first code line, source)`` of every ```python block of README.md."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 2  # the block's first line
        source = match.group(1)
        first = next(s for s in source.splitlines() if s.strip())
        blocks.append((line, first, source))
    return blocks


BLOCKS = _python_blocks()

#: Shrinking edits, keyed by a block's first line: README text -> its stand-in.
EDITS = {
    "import numpy as np": {
        "(50_000, 3)), rng.normal(6, 2, (50_000, 3))": "(500, 3)), rng.normal(6, 2, (500, 3))",
    },
    "gm = GaussianMixture(16, chunk_size=1_000_000, progress=True)": {
        "GaussianMixture(16, chunk_size=1_000_000,": "GaussianMixture(3, chunk_size=250,",
    },
    "gm = GaussianMixture(8, decay=0.7)": {
        "GaussianMixture(8, decay=0.7)": "GaussianMixture(3, decay=0.7, random_state=0)",
        "batch_size=10_000": "batch_size=200",
    },
    "gm = GaussianMixture(64, n_init=4, chunk_size=1_000_000)": {
        "GaussianMixture(64, n_init=4, chunk_size=1_000_000)": (
            "GaussianMixture(3, n_init=2, chunk_size=250, random_state=0)"
        ),
    },
    "from sklearn.datasets import load_iris": {
        # The default search over K = 1..9 takes seconds on iris; 1..3 still holds README's
        # answer (K=2, full), which _check_selector asserts.
        "n_components=range(1, 10)": "n_components=range(1, 4)",
    },
    "from dask.distributed import Client": {
        'Client("tcp://scheduler:8786")': (
            "Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None)"
        ),
        'da.from_zarr("s3://bucket/rows.zarr")': 'da.from_zarr("rows.zarr")',
        "GaussianMixture(32,": "GaussianMixture(3,",
    },
}


def _check_selector(ns, tmp_path):
    # README: "selector.best_params_  # {'n_components': 2, 'covariance_type': 'full'}"
    assert ns["selector"].best_params_ == {"n_components": 2, "covariance_type": "full"}
    assert ns["selector"].results_["bic"].shape == (3 * 4,)


def _check_checkpoints(ns, tmp_path):
    # README: "The file is removed when the fit completes".
    assert not (tmp_path / "rows.fit.ckpt").exists()
    assert not (tmp_path / "online.ckpt").exists()
    assert ns["gm"].n_iter_ >= 1


def _check_dask(ns, tmp_path):
    import dask.array as da

    try:
        assert isinstance(ns["labels"], da.Array)  # README: "lazy"
        labels = ns["labels"].compute()
        assert labels.shape == (ns["X"].shape[0],)
        assert set(np.unique(labels)) <= {0, 1, 2}
    finally:
        ns["client"].close()


def _check_save_load(ns, tmp_path):
    # README: "predict, score and sample give the same results"
    X = ns["X"]
    np.testing.assert_array_equal(ns["same"].predict(X), ns["gm"].predict(X))
    assert ns["same"].score(X) == ns["gm"].score(X)


def _check_usage(ns, tmp_path):
    gm, X = ns["gm"], ns["X"]
    np.testing.assert_array_equal(ns["labels"], gm.fit_predict(X))  # README's comment
    assert sorted(np.round(gm.means_[:, 0]).tolist()) == [0.0, 6.0]


CHECKS = {
    "import numpy as np": _check_usage,
    "gm = GaussianMixture(64, n_init=4, chunk_size=1_000_000)": _check_checkpoints,
    "from dask.distributed import Client": _check_dask,
    "import fastem": _check_save_load,
    "from sklearn.datasets import load_iris": _check_selector,
}


def _standin_namespace(directory):
    """The names README's prose assumes, bound to small data; the files it names, written."""
    import h5py
    import zarr

    from fastem import GaussianMixture

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 0.0], [0.0, 6.0, 6.0]])
    X = centres[rng.integers(0, 3, 1200)] + rng.standard_normal((1200, 3))
    np.save(directory / "rows.npy", X)
    with h5py.File(directory / "rows.h5", "w") as f:
        f["x"] = X
    z = zarr.open_array(str(directory / "rows.zarr"), mode="w", shape=X.shape, chunks=(300, 3))
    z[:] = X
    X_with_nan = X.copy()
    X_with_nan[rng.random(X.shape) < 0.1] = np.nan
    X_binary = sp.random(
        600, 40, density=0.2, format="csr", random_state=0, data_rvs=np.ones
    ).astype(np.float64)

    def read_chunks(path):
        yield from np.array_split(np.load(path), 4)

    halves = np.array_split(X, 2)
    return {
        "np": np,
        "h5py": h5py,
        "zarr": zarr,
        "GaussianMixture": GaussianMixture,
        "X": X,
        "X_binary": X_binary,
        "X_with_nan": X_with_nan,
        "path": "rows.npy",
        "read_chunks": read_chunks,
        "source": "rows.npy",
        "stream": np.array_split(X, 6),
        "X1": halves[0],
        "w1": np.ones(len(halves[0])),
        "X2": halves[1],
        "w2": np.full(len(halves[1]), 2.0),
    }


def _edited(first, source):
    for old, new in EDITS.get(first, {}).items():
        count = source.count(old)
        assert count == 1, (
            f"README block {first!r}: the test's edit expects {old!r} once, found {count}; "
            "update EDITS in tests/test_readme_examples.py to the new README text."
        )
        source = source.replace(old, new)
    return source


def test_readme_has_the_blocks_the_edits_and_checks_name():
    firsts = [first for _, first, _ in BLOCKS]
    for key in {*EDITS, *CHECKS}:
        assert firsts.count(key) == 1, f"no single README python block starts with {key!r}"


@pytest.mark.parametrize(
    ("line", "first", "source"), BLOCKS, ids=[f"README.md:{b[0]}" for b in BLOCKS]
)
def test_readme_block(line, first, source, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    namespace = _standin_namespace(tmp_path)
    code = compile(_edited(first, source), f"{README}:{line}", "exec")
    try:
        exec(code, namespace)
        check = CHECKS.get(first)
        if check is not None:
            check(namespace, tmp_path)
    finally:
        plt.close("all")
    assert os.getcwd() == str(tmp_path)
