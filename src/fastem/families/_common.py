"""What the families share: the kernels' product path and the one type their rows arrive in."""

import functools
import inspect

import numpy as np

from .._settings import settings
from ..kernels import _gemm

#: The arguments that carry a chunk's data into the kernels.
_ROW_ARGUMENTS = ("X", "sample_weight")


def kernel_view(a):
    """``a`` as the kernels receive it: read-only, and C-ordered if it has rows.

    Numba compiles one specialisation per argument type, and a read-only array
    (a read-only memory map, a Dask block, a caller's frozen array) is a
    different type from a writable one, as a Fortran-ordered or strided one is
    from a C-ordered one. Handing every chunk to the kernels read-only and
    C-ordered, whatever its origin, compiles each kernel once per dtype; the
    kernels never write their input. C-ordered rows are a view of the same
    memory; other layouts are copied (the sources already read chunks as C
    rows, so only a direct caller of a family pays it).
    """
    if isinstance(a, np.ndarray):
        if a.ndim == 2 and not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        if a.flags.writeable:
            a = a.view()
            a.flags.writeable = False
    return a


def _with_kernel_views(method):
    """``method`` receiving its ``X`` and ``sample_weight`` arguments as :func:`kernel_view`."""
    names = list(inspect.signature(method).parameters)
    positions = [names.index(name) for name in _ROW_ARGUMENTS if name in names]

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if positions:
            args = list(args)
            for position in positions:
                if position < len(args):
                    args[position] = kernel_view(args[position])
        for name in _ROW_ARGUMENTS:
            if name in kwargs:
                kwargs[name] = kernel_view(kwargs[name])
        return method(*args, **kwargs)

    return wrapper


def rows_as_kernel_views(cls):
    """Class decorator: every method of a family taking rows gets them as :func:`kernel_view`.

    Applied to each family class, so that no caller (estimator, driver, Dask
    worker, test) can make the kernels compile a second, writable variant.
    """
    for name, member in list(vars(cls).items()):
        if isinstance(member, staticmethod):
            wrapped = staticmethod(_with_kernel_views(member.__func__))
        elif isinstance(member, classmethod):
            continue
        elif inspect.isfunction(member) and name != "__init__":
            wrapped = _with_kernel_views(member)
        else:
            continue
        if any(
            n in inspect.signature(getattr(wrapped, "__func__", wrapped)).parameters
            for n in _ROW_ARGUMENTS
        ):
            setattr(cls, name, wrapped)
    return cls


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
