"""How the fit kernels multiply their blocks: the product paths and the padding units.

Every fit kernel multiplies two kinds of small, cache-resident matrices per
block of B rows (features or components by rows, rows contiguous): ``W.T @ T``,
log-densities from natural parameters, and ``R @ T.T``, sufficient statistics
from responsibilities.  On this kind of shape (K of 4-64 by F of 10-200 by B of
a few hundred) the OpenBLAS that SciPy ships runs far below the core's peak, and
on CPUs it does not recognise (AMD Zen 5 among them) only with its 256-bit
kernels, so the products also run on register tiles: those of :mod:`._gemm8`
(512-bit vectors, for AVX-512) and of :mod:`._gemm4` (256-bit vectors, for
AVX2 + FMA), each in float64 or float32 lanes.  :func:`matmul_path` picks the path for this CPU.

No tile checks bounds: row counts are multiples of 8 and, for ``gemm_nt``,
component counts multiples of :data:`COMPONENT_TILE` (callers pad with zero
rows, to the units of this module).  The Gaussian kernels also pad rows to
:data:`ROW_TILE` and features to :data:`FEATURE_TILE`, so that every tile is a
full one: the narrow edge tiles are load-bound, so a padded feature count runs
faster despite the extra work.
"""

from numba import njit

from ._simd import vector_bits

#: Rows per tile of :func:`._gemm8.gemm_tn`: three eight-lane float64 vectors.
ROW_TILE = 24

#: Rows per tile of :func:`._gemm8.gemm_tn` on float32 blocks: three sixteen-lane
#: vectors (a multiple of :data:`ROW_TILE`).
ROW_TILE32 = 48

#: Components per tile of :func:`._gemm8.gemm_nt` (the padding unit of the component axis).
COMPONENT_TILE = 4

#: Features per tile of :func:`._gemm8.gemm_nt` (the padding unit of the feature axis).
FEATURE_TILE = 6

#: Rows per tile of :func:`._gemm4.gemm_tn4`: three four-lane float64 vectors (a
#: divisor of :data:`ROW_TILE`, so one padding of the rows serves both).
ROW_TILE4 = 12

#: Features per tile of :func:`._gemm4.gemm_nt4` (the padding unit of its feature axis).
FEATURE_TILE4 = 4

#: How a fit kernel multiplies its blocks: plain loops (tiny products), BLAS,
#: or the register tiles, on 512-bit vectors (``MATMUL_TILED``, :mod:`._gemm8`,
#: for AVX-512) or on 256-bit vectors (``MATMUL_TILED4``, four float64 lanes,
#: :mod:`._gemm4`, for AVX2 + FMA).
MATMUL_LOOPS = 0
MATMUL_BLAS = 1
MATMUL_TILED = 2
MATMUL_TILED4 = 3


def matmul_path(n_features_t, n_components):
    """The fastest way to run products of ``n_features_t`` by ``n_components`` on this CPU.

    The register tiles for the CPU's vector width (:func:`._simd.vector_bits`);
    on CPUs with neither AVX-512 nor AVX2 + FMA, BLAS, or plain loops for tiny
    products (the tiles stay correct there, only slower).
    """
    bits = vector_bits()
    if bits == 512:
        return MATMUL_TILED
    if bits == 256:
        return MATMUL_TILED4
    if n_features_t * n_components >= 256:
        return MATMUL_BLAS
    return MATMUL_LOOPS


@njit(cache=True, inline="always")
def is_tiled(path):
    """Whether ``path`` is one of the register-tiled paths."""
    return path == MATMUL_TILED or path == MATMUL_TILED4


@njit(cache=True, inline="always")
def round_up(n, unit):
    """Smallest multiple of ``unit`` that is at least ``n``."""
    return -(-n // unit) * unit
