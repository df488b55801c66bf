"""The ways the fit kernels multiply their blocks, for tests that pin each one in turn.

A family picks its path for the CPU it runs on (the eight-lane register tiles
with AVX-512, the 256-bit ones with AVX2 + FMA, otherwise BLAS or plain loops
by size), so without pinning a test
would only ever see one of them on a given machine. Paths are pinned with
``fastem._settings.override(matmul_path=...)``, which every family built
inside the block reads at construction.
"""

from contextlib import contextmanager

import pytest

from fastem._settings import override
from fastem.kernels._gemm import MATMUL_BLAS, MATMUL_LOOPS, MATMUL_TILED, MATMUL_TILED4

#: The kernels' constant for each path name of ``settings.matmul_path``.
KERNEL_PATHS = {
    "loops": MATMUL_LOOPS,
    "blas": MATMUL_BLAS,
    "tiled": MATMUL_TILED,
    "tiled4": MATMUL_TILED4,
}

#: Every path of the Gaussian kernels.
GAUSSIAN_PATHS = pytest.mark.parametrize("path", ["loops", "blas", "tiled", "tiled4"])

#: Every path of the dense Bernoulli kernels (no loop form: "loops" runs BLAS).
BERNOULLI_PATHS = pytest.mark.parametrize("path", ["blas", "tiled", "tiled4"])


def kernel_path(path, has_loops=True):
    """The kernels' constant a family uses when ``path`` is pinned.

    A family without a loop form (Bernoulli, ``has_loops=False``) runs "loops" as BLAS.
    """
    if path == "loops" and not has_loops:
        return MATMUL_BLAS
    return KERNEL_PATHS[path]


@contextmanager
def pinned_matmul_path(path, make_family=None, has_loops=True):
    """Pin ``path`` for every family built inside the block.

    Parameters
    ----------
    path : {"loops", "blas", "tiled", "tiled4"}
        The path to force.
    make_family : callable, optional
        ``make_family()`` builds a family the way the code under test builds its
        own (for an estimator, ``lambda: est._make_family(n_features)``). It is
        called inside the block and its ``matmul_path`` checked, so that a test
        fails if the pin ever stopped reaching the families.
    has_loops : bool, default=True
        Whether that family has a loop form (see :func:`kernel_path`).

    Yields
    ------
    int
        The kernels' constant of the pinned path.
    """
    expected = kernel_path(path, has_loops)
    with override(matmul_path=path):
        if make_family is not None:
            family = make_family()
            assert family.matmul_path == expected, (family.matmul_path, expected)
        yield expected
