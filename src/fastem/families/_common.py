"""What the families share: the choice of how the fit kernels multiply their blocks."""

from .._settings import settings
from ..kernels import _gemm

_FORCED = {
    "loops": _gemm.MATMUL_LOOPS,
    "blas": _gemm.MATMUL_BLAS,
    "tiled": _gemm.MATMUL_TILED,
    "tiled4": _gemm.MATMUL_TILED4,
}


def matmul_path(n_features_t, n_components, has_loops=True):
    """The kernels' product path for ``n_features_t`` by ``n_components`` products.

    ``settings.matmul_path`` forces one ("auto": the fastest for this CPU and
    size: the eight-lane tiles with AVX-512, the 256-bit ones with AVX2 + FMA,
    else BLAS or loops). A family without a loop form (``has_loops=False``) runs
    "loops" as BLAS.
    """
    forced = settings.matmul_path
    if forced == "auto":
        path = _gemm.matmul_path(n_features_t, n_components)
    else:
        path = _FORCED[forced]
    if path == _gemm.MATMUL_LOOPS and not has_loops:
        return _gemm.MATMUL_BLAS
    return path
