"""The ways the fit kernels multiply their blocks, for tests that pin each one in turn.

A family picks its path for the CPU it runs on (the register tiles with
AVX-512, otherwise BLAS or plain loops by size), so without pinning a test
would only ever see one of them on a given machine.
"""

import pytest

from fastem.kernels._gemm import MATMUL_BLAS, MATMUL_LOOPS, MATMUL_TILED

#: Every path of the Gaussian kernels.
GAUSSIAN_PATHS = pytest.mark.parametrize(
    "path", [MATMUL_LOOPS, MATMUL_BLAS, MATMUL_TILED], ids=["loops", "blas", "tiled"]
)

#: Every path of the dense Bernoulli kernels (no loop form).
BERNOULLI_PATHS = pytest.mark.parametrize(
    "path", [MATMUL_BLAS, MATMUL_TILED], ids=["blas", "tiled"]
)


def pin_matmul_path(monkeypatch, estimator_class, path):
    """Make every family ``estimator_class`` builds use ``path``; returns those families.

    Wraps the estimator's ``_make_family`` hook rather than the path choice itself,
    so it holds however a family picks its default.
    """
    make_family = estimator_class._make_family
    families = []

    def _make_family(self, n_features):
        family = make_family(self, n_features)
        family.matmul_path = path
        families.append(family)
        return family

    monkeypatch.setattr(estimator_class, "_make_family", _make_family)
    return families
