"""Rows of a chunk into feature-major blocks (the Gaussian and k-means kernels).

The block products read a block's features feature-major, so the rows are
shifted and transposed as they are read: C-contiguous float32 and float64 rows
into float64 blocks in 8 x 8 register tiles, others (and float32 blocks) one
value at a time. The next block's rows are
prefetched while the current one is computed. See docs/architecture.md, "The
fused kernel".
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._simd import prefetch, store_transposed, vload, vload_widened, vsub


@njit(cache=True, inline="always")
def _tile_of_8_rows(X, start, r0, shift, xs):
    """``xs[:, r0:r0 + 8]`` of :func:`_transpose_shifted_scalar`: rows ``start + r0`` on."""
    for j in range(X.shape[1]):
        sj = shift[j]
        for r in range(8):
            xs[j, r0 + r] = np.float64(X[start + r0 + r, j]) - sj


@njit(cache=True, inline="always")
def _tiles_of_8_rows(X, start, full, shift, xs):
    """``xs[:, :full]`` of :func:`_transpose_shifted_scalar` (``full % 8 == 0``)."""
    for r0 in range(0, full, 8):
        _tile_of_8_rows(X, start, r0, shift, xs)


@njit(cache=True, inline="always")
def _rows_one_at_a_time(X, start, first, stop, shift, xs):
    """``xs[:, first:stop - start]`` of :func:`_transpose_shifted_scalar`, row by row."""
    for r in range(first, stop - start):
        for j in range(X.shape[1]):
            xs[j, r] = np.float64(X[start + r, j]) - shift[j]


@njit(cache=True)
def _transpose_shifted_scalar(X, start, stop, shift, xs):
    """``xs[:, :m] = (X[start:stop] - shift).T``, subtracted in float64, one value at a time.

    Whole tiles of 8 rows: per feature a fixed trip count of 8, which LLVM
    unrolls into 8 stores to one cache line. Row by row, it vectorises over
    the features instead and stores with scatters, which are slow on AVX-512
    (the Zen 4 EPYC of bench/) and never beat the tiles. The
    branch on the width lets LLVM unroll the features too when there are at
    most 6 (three colour channels); the rows past the last tile go one at a
    time.
    """
    d = X.shape[1]
    m = stop - start
    full = m - m % 8
    if d <= 6:
        _tiles_of_8_rows(X, start, full, shift, xs)
    else:
        _tiles_of_8_rows(X, start, full, shift, xs)
    _rows_one_at_a_time(X, start, full, stop, shift, xs)


def _transpose_shifted(X, start, stop, shift, xs):
    """``xs[:, :m] = (X[start:stop] - shift).T`` (``m = stop - start``).

    The subtraction is in float64; a float32 ``xs`` (a float32 block) stores
    its rounding.
    """
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_transpose_shifted, inline="always")
def _transpose_shifted_impl(X, start, stop, shift, xs):
    if xs.dtype != types.float64 or not (
        X.dtype in (types.float32, types.float64) and X.layout == "C"
    ):

        def scalar(X, start, stop, shift, xs):
            _transpose_shifted_scalar(X, start, stop, shift, xs)

        return scalar

    def impl(X, start, stop, shift, xs):
        d = X.shape[1]
        # From 16 features, 8 x 8 register tiles (float32 widened as it is
        # loaded): one vector load and store per 8 values instead of one per
        # value; below, the scalar tiles are as fast or faster.
        if d < 16:
            # The scalar tiles, each fetching the rows of the tile 4 ahead: the
            # hardware prefetcher alone leaves these loads waiting in the tabular
            # kernel, whose rows are read between long stretches of arithmetic.
            m = stop - start
            full = m - m % 8
            n = X.shape[0]
            for r0 in range(0, full, 8):
                ahead = min(n, start + r0 + 32)
                _prefetch_rows(X, ahead, min(n, ahead + 8), 0, 1)
                _tile_of_8_rows(X, start, r0, shift, xs)
            _rows_one_at_a_time(X, start, full, stop, shift, xs)
            return
        m = stop - start
        dv = d - d % 8
        mv = m - m % 8
        for r0 in range(0, mv, 8):
            x0 = X[start + r0]
            x1 = X[start + r0 + 1]
            x2 = X[start + r0 + 2]
            x3 = X[start + r0 + 3]
            x4 = X[start + r0 + 4]
            x5 = X[start + r0 + 5]
            x6 = X[start + r0 + 6]
            x7 = X[start + r0 + 7]
            for j0 in range(0, dv, 8):
                s = vload(shift, j0)
                store_transposed(
                    xs,
                    j0,
                    r0,
                    vsub(vload_widened(x0, j0), s),
                    vsub(vload_widened(x1, j0), s),
                    vsub(vload_widened(x2, j0), s),
                    vsub(vload_widened(x3, j0), s),
                    vsub(vload_widened(x4, j0), s),
                    vsub(vload_widened(x5, j0), s),
                    vsub(vload_widened(x6, j0), s),
                    vsub(vload_widened(x7, j0), s),
                )
            for j in range(dv, d):
                sj = shift[j]
                for r in range(r0, r0 + 8):
                    xs[j, r] = np.float64(X[start + r, j]) - sj
        for r in range(mv, m):
            for j in range(d):
                xs[j, r] = np.float64(X[start + r, j]) - shift[j]

    return impl


def _prefetch_rows(X, start, stop, part, n_parts):
    """Prefetch part ``part`` of ``n_parts`` of rows ``start:stop`` of ``X``."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_prefetch_rows, inline="always")
def _prefetch_rows_impl(X, start, stop, part, n_parts):
    if X.layout != "C":

        def nothing(X, start, stop, part, n_parts):
            pass

        return nothing

    def impl(X, start, stop, part, n_parts):
        # Rows start:stop of a C-contiguous array are one run of memory.
        d = X.shape[1]
        first = start * d
        size = (stop - start) * d
        lo = first + (size * part) // n_parts
        hi = first + (size * (part + 1)) // n_parts
        step = max(1, 64 // X.itemsize)
        for i in range(lo, hi, step):
            prefetch(X, i)
        if hi > lo:
            prefetch(X, hi - 1)

    return impl
