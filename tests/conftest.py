"""Shared fixtures: small, well-separated data that every EM converges on quickly."""

import pytest

from matmul_paths import pinned_matmul_path
from synthetic import make_blobs


@pytest.fixture(scope="session")
def blobs():
    """600 rows, 3 features, 3 well-separated clusters (float64, read-only: shared)."""
    X = make_blobs()[0]
    X.setflags(write=False)
    return X


@pytest.fixture
def pinned_path(path):
    """The parametrised matmul ``path`` pinned for the whole test; yields its kernel constant.

    Every family the test builds (directly or through an estimator) uses it.
    """
    with pinned_matmul_path(path) as constant:
        yield constant
