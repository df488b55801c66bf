"""Shared fixtures: small, well-separated data that every EM converges on quickly."""

import numpy as np
import pytest

from synthetic import make_blobs


@pytest.fixture
def blobs():
    """600 rows, 3 features, 3 well-separated clusters (float64)."""
    return make_blobs()[0]


@pytest.fixture
def rng():
    """A seeded legacy RandomState (what scikit-learn's ``random_state`` accepts)."""
    return np.random.RandomState(12345)
