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


@njit(cache=True)
def _transpose_shifted_scalar(X, start, stop, shift, xs):
    """``xs[:, :m] = (X[start:stop] - shift).T``, subtracted in float64, one value at a time.

    Which loop order is fastest depends on the width: up to 6 features, whole
    tiles of 8 rows (a fixed trip count LLVM unrolls into vector stores, which
    beats row by row); up to 24, row by row (there it beats the tiles); beyond,
    tiles of up to 8 rows, so each cache line of ``xs`` is written whole before
    it is evicted.
    """
    d = X.shape[1]
    m = stop - start
    if d <= 6:
        full = m - m % 8
        for r0 in range(0, full, 8):
            for j in range(d):
                sj = shift[j]
                for r in range(8):
                    xs[j, r0 + r] = np.float64(X[start + r0 + r, j]) - sj
        for r in range(full, m):
            for j in range(d):
                xs[j, r] = np.float64(X[start + r, j]) - shift[j]
    elif d <= 24:
        for r in range(m):
            for j in range(d):
                xs[j, r] = np.float64(X[start + r, j]) - shift[j]
    else:
        for r0 in range(0, m, 8):
            r1 = min(m, r0 + 8)
            for j in range(d):
                sj = shift[j]
                for r in range(r0, r1):
                    xs[j, r] = np.float64(X[start + r, j]) - sj


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
        # In 8 x 8 register tiles (float32 widened as it is loaded): one vector
        # load and store per 8 values instead of one per value, which pays on
        # wide rows; below 16 features the scalar loops are as fast or faster.
        if d < 16:
            _transpose_shifted_scalar(X, start, stop, shift, xs)
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
