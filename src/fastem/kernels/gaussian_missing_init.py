"""Initialisation kernels on rows with NaN: column moments, given-responsibility statistics.

Also the k-means geometry on the observed coordinates (squared distances, one
Lloyd pass, k-POD) that the Gaussian family's k-means and k-means++ starts use
when the data hold NaN.
"""

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds


@njit(parallel=True, cache=True, nogil=True)
def column_moments(X, sample_weight, origin, block_size, n_groups):
    """Per column: weight of the observed values, sums of ``x - origin`` and its square.

    Returns ``(weight (D,), sum_dx (D,), sum_dx2 (D,), n_missing)``.
    """
    n, d = X.shape
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    s0 = np.zeros((n_groups, d))
    s1 = np.zeros((n_groups, d))
    s2 = np.zeros((n_groups, d))
    n_missing = np.zeros(n_groups, dtype=np.int64)
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        # Sums private to the group, stored once (see gaussian.column_moments).
        a0 = np.zeros(d)
        a1 = np.zeros(d)
        a2 = np.zeros(d)
        missing = 0
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            w = sample_weight[r] if weighted else 1.0
            for j in range(d):
                x = X[r, j]
                if np.isnan(x):
                    missing += 1
                    continue
                v = np.float64(x) - origin[j]
                a0[j] += w
                a1[j] += w * v
                a2[j] += w * v * v
        s0[g] = a0
        s1[g] = a1
        s2[g] = a2
        n_missing[g] = missing
    return s0.sum(axis=0), s1.sum(axis=0), s2.sum(axis=0), n_missing.sum()


@njit(parallel=True, cache=True, nogil=True)
def given_stats(X, sample_weight, shift, resp, labels, n_components, block_size, n_groups):
    """Available-case statistics for given responsibilities (initialisation).

    Either ``resp`` (n, K) or ``labels`` (n,) is non-empty. Returns, per
    component, ``nk (K,)`` and the pairwise sums over the rows where both
    coordinates ``i`` and ``j`` are observed: ``count[k, i, j] = sum r``,
    ``first[k, i, j] = sum r x'_i`` and ``second[k, i, j] = sum r x'_i x'_j``
    (``x' = x - shift``).
    """
    n, d = X.shape
    K = n_components
    use_labels = labels.shape[0] > 0
    weighted = sample_weight.shape[0] > 0
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    nk = np.zeros((n_groups, K))
    nkc = np.zeros((n_groups, K))
    m1 = np.zeros((n_groups, K, d))
    m2 = np.zeros((n_groups, K, d, d))
    cnt = np.zeros((n_groups, K, d, d))
    f1 = np.zeros((n_groups, K, d, d))
    f2 = np.zeros((n_groups, K, d, d))
    for g in prange(n_groups):
        xv = np.empty(d)
        ok = np.empty(d, dtype=np.bool_)
        # Sums private to the group, stored once (see gaussian.column_moments).
        nk_g = np.zeros(K)
        nkc_g = np.zeros(K)
        m1_g = np.zeros((K, d))
        m2_g = np.zeros((K, d, d))
        cnt_g = np.zeros((K, d, d))
        f1_g = np.zeros((K, d, d))
        f2_g = np.zeros((K, d, d))
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            w = sample_weight[r] if weighted else 1.0
            complete = True
            for j in range(d):
                x = X[r, j]
                ok[j] = not np.isnan(x)
                xv[j] = np.float64(x) - shift[j] if ok[j] else 0.0
                complete = complete and ok[j]
            k0 = labels[r] if use_labels else 0
            k1 = k0 + 1 if use_labels else K
            for k in range(k0, k1):
                rk = w if use_labels else w * resp[r, k]
                if rk == 0.0:
                    continue
                nk_g[k] += rk
                if complete:
                    nkc_g[k] += rk
                    # Complete rows count for every pair: summed once per component.
                    for i in range(d):
                        v = rk * xv[i]
                        m1_g[k, i] += v
                        for j in range(i, d):
                            m2_g[k, i, j] += v * xv[j]
                    continue
                for i in range(d):
                    if not ok[i]:
                        continue
                    v = rk * xv[i]
                    for j in range(d):
                        if ok[j]:
                            cnt_g[k, i, j] += rk
                            f1_g[k, i, j] += v
                            f2_g[k, i, j] += v * xv[j]
        nk[g] = nk_g
        nkc[g] = nkc_g
        m1[g] = m1_g
        m2[g] = m2_g
        cnt[g] = cnt_g
        f1[g] = f1_g
        f2[g] = f2_g
    NK = nk.sum(axis=0)
    NC = nkc.sum(axis=0)
    M1 = m1.sum(axis=0)
    M2 = m2.sum(axis=0)
    count = cnt.sum(axis=0)
    first = f1.sum(axis=0)
    second = f2.sum(axis=0)
    for k in range(K):
        for i in range(d):
            for j in range(d):
                count[k, i, j] += NC[k]
                first[k, i, j] += M1[k, i]
                second[k, i, j] += M2[k, min(i, j), max(i, j)]
    return NK, count, first, second


@njit(parallel=True, cache=True, nogil=True)
def sq_distances(X, points):
    """Squared distances over the observed coordinates of each row, (n, len(points))."""
    n, d = X.shape
    m = points.shape[0]
    out = np.empty((n, m))
    for r in prange(n):
        for c in range(m):
            s = 0.0
            for j in range(d):
                x = X[r, j]
                if not np.isnan(x):
                    t = np.float64(x) - points[c, j]
                    s += t * t
            out[r, c] = s
    return out


@njit(parallel=True, cache=True, nogil=True)
def lloyd(X, sample_weight, centers, block_size, n_groups, labels, sq_dist):
    """Nearest centres on the observed coordinates, and one Lloyd pass's sums.

    A missing coordinate counts as sitting on its centre (k-POD), so it adds
    nothing to the distance nor to the sums of ``x - c_k``. Fills ``labels``
    (int32) and ``sq_dist``; returns ``(counts (K,), sums (K, D), inertia)``.
    """
    n, d = X.shape
    K = centers.shape[0]
    weighted = sample_weight.shape[0] > 0
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    counts = np.zeros((n_groups, K))
    sums = np.zeros((n_groups, K, d))
    inertia = np.zeros(n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        # Sums private to the group, stored once (see gaussian.column_moments).
        counts_g = np.zeros(K)
        sums_g = np.zeros((K, d))
        inertia_g = 0.0
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            best = 0
            best_d = np.inf
            for c in range(K):
                s = 0.0
                for j in range(d):
                    x = X[r, j]
                    if not np.isnan(x):
                        t = np.float64(x) - centers[c, j]
                        s += t * t
                if s < best_d:
                    best_d = s
                    best = c
            labels[r] = best
            sq_dist[r] = best_d
            w = sample_weight[r] if weighted else 1.0
            counts_g[best] += w
            inertia_g += w * best_d
            for j in range(d):
                x = X[r, j]
                if not np.isnan(x):
                    sums_g[best, j] += w * (np.float64(x) - centers[best, j])
        counts[g] = counts_g
        sums[g] = sums_g
        inertia[g] = inertia_g
    return counts.sum(axis=0), sums.sum(axis=0), inertia.sum()
