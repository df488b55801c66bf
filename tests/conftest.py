"""Shared fixtures: small, well-separated data that every EM converges on quickly."""

import pytest

from synthetic import make_blobs


@pytest.fixture(scope="session")
def blobs():
    """600 rows, 3 features, 3 well-separated clusters (float64, read-only: shared)."""
    X = make_blobs()[0]
    X.setflags(write=False)
    return X
