"""Direct squared distances of rows to points, vectorised along the rows.

What ``transform`` and the k-means++ seeding read: ``sum_j (x_j - p_j)^2``
in float64 and in column order (no cancellation, bitwise the per-row sum),
for the rows of a transposed block against four points at a time. See
docs/architecture.md.
"""

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds
from ._kmeans_block import _fill
from ._lanes import ladd, lmul
from ._simd import vload, vsplat, vstore, vsub, vzero, zeros_aligned


@njit(cache=True)
def _sq_distances_group(X, points, out, B, b0, b1):
    """Blocks ``b0:b1`` of :func:`sq_distances`: tiles of 8 rows by 4 points in registers."""
    n, d = X.shape
    m = out.shape[1]
    origin = np.zeros(d)
    xs = zeros_aligned(d, B)
    xf = xs.reshape(xs.size)
    of = out.reshape(out.size)
    tmp = np.zeros(32)
    for b in range(b0, b1):
        start = b * B
        stop = min(n, start + B)
        rows = stop - start
        _fill(X, start, stop, origin, xs)
        for r0 in range(0, rows, 8):
            last = min(8, rows - r0)
            for p0 in range(0, points.shape[0], 4):
                a0 = vzero()
                a1 = vzero()
                a2 = vzero()
                a3 = vzero()
                for j in range(d):
                    t = vload(xf, j * B + r0)
                    # A separate multiply and add (no FMA): the same roundings as
                    # the per-row sum ``s += v * v``, so results are bitwise the same.
                    v = vsub(t, vsplat(points[p0, j]))
                    a0 = ladd(a0, lmul(v, v))
                    v = vsub(t, vsplat(points[p0 + 1, j]))
                    a1 = ladd(a1, lmul(v, v))
                    v = vsub(t, vsplat(points[p0 + 2, j]))
                    a2 = ladd(a2, lmul(v, v))
                    v = vsub(t, vsplat(points[p0 + 3, j]))
                    a3 = ladd(a3, lmul(v, v))
                vstore(tmp, 0, a0)
                vstore(tmp, 8, a1)
                vstore(tmp, 16, a2)
                vstore(tmp, 24, a3)
                width = min(4, m - p0)
                for q in range(last):
                    o = (start + r0 + q) * m + p0
                    for c in range(width):
                        of[o + c] = tmp[8 * c + q]


@njit(parallel=True, cache=True, nogil=True)
def sq_distances(X, points, out, block_size, n_groups):
    """``out[i, p] = sum_j (X[i, j] - points[p, j])^2`` in float64, in column order.

    The direct form (no cancellation), vectorised along the rows of a
    transposed block; bitwise the per-row sum of the same terms.
    ``points`` has a multiple of 4 rows (padding rows are computed, never
    stored: ``out`` has the real number of columns); ``block_size`` is a
    multiple of 8.
    """
    n = X.shape[0]
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        _sq_distances_group(X, points, out, block_size, b0, b1)
    return out
