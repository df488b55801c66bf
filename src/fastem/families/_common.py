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

    "auto" decides from the CPU's features alone, once per family, never by
    timing: a timed choice would make results (which differ between paths by
    round-off) depend on the machine's load.  The 256-bit tiles are taken on
    every AVX2 + FMA CPU without AVX-512 because on such a CPU (a Zen 3 EPYC)
    they beat both BLAS and the plain loops on the fit shapes of the benchmarks
    (``bench/bench_gaussian.py``): their 12
    accumulators fill the 16 ymm registers, while OpenBLAS's general kernels pay
    packing and call overheads on blocks of a few hundred rows.  Without FMA
    (or off x86) LLVM would emulate the tiles' FMAs, so BLAS or the loops are
    used there; the tiles stay correct, and every path is tested everywhere.
    The same path serves prediction (``log_prob`` of full and tied
    covariances), where "loops" runs BLAS.
    """
    forced = settings.matmul_path
    if forced == "auto":
        path = _gemm.matmul_path(n_features_t, n_components)
    else:
        path = _FORCED[forced]
    if path == _gemm.MATMUL_LOOPS and not has_loops:
        return _gemm.MATMUL_BLAS
    return path
