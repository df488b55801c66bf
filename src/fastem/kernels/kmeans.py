"""k-means kernels: distances to centres, Lloyd statistics and hard labels.

Lloyd's algorithm is hard-assignment EM: one pass assigns every row to its
nearest centre and accumulates the weighted sums that give the new centres,
with the same row groups as the mixture kernels.
"""

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds


@njit(cache=True, inline="always")
def _nearest(X, r, centers):
    """Index and squared distance of the centre nearest to row ``r``."""
    d = X.shape[1]
    best = 0
    best_d2 = np.inf
    for k in range(centers.shape[0]):
        s = 0.0
        for j in range(d):
            v = np.float64(X[r, j]) - centers[k, j]
            s += v * v
        if s < best_d2:
            best_d2 = s
            best = k
    return best, best_d2


@njit(parallel=True, cache=True, nogil=True)
def sq_dist_to_point(X, point, out, block_size, n_groups):
    """``out[i] = |X[i] - point|^2`` in float64."""
    n, d = X.shape
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        for i in range(b0 * block_size, min(n, b1 * block_size)):
            s = 0.0
            for j in range(d):
                v = np.float64(X[i, j]) - point[j]
                s += v * v
            out[i] = s
    return out


@njit(parallel=True, cache=True, nogil=True)
def lloyd_stats(X, sample_weight, centers, block_size, n_groups):
    """One Lloyd pass: weighted counts, sums (around the old centres) and inertia.

    Returns ``(counts (K,), sums (K, D), inertia)``; sums are of ``x - c_k`` so
    that the new centre is ``c_k + sums_k / counts_k`` without cancellation.
    """
    n, d = X.shape
    K = centers.shape[0]
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    counts = np.zeros((n_groups, K))
    sums = np.zeros((n_groups, K, d))
    inertia = np.zeros(n_groups)
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        acc = 0.0
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            k, d2 = _nearest(X, r, centers)
            w = sample_weight[r] if weighted else 1.0
            counts[g, k] += w
            for j in range(d):
                sums[g, k, j] += w * (np.float64(X[r, j]) - centers[k, j])
            acc += w * d2
        inertia[g] = acc
    return counts.sum(axis=0), sums.sum(axis=0), inertia.sum()


@njit(parallel=True, cache=True, nogil=True)
def assign_labels(X, centers, labels, min_sq_dist, block_size, n_groups):
    """Nearest-centre label and squared distance of every row."""
    n = X.shape[0]
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            k, d2 = _nearest(X, r, centers)
            labels[r] = k
            min_sq_dist[r] = d2
    return labels, min_sq_dist
