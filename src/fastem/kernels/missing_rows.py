"""Where the NaN of a chunk are: counts, rows holding NaN, rows sorted by missingness pattern.

Also a row's observed and missing columns and whether two rows share them;
used by the Gaussian family's validation and by the NaN kernels
(:mod:`.gaussian_missing`).
"""

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds


@njit(cache=True, inline="always")
def _row_has_nan(X, r):
    for j in range(X.shape[1]):
        if np.isnan(X[r, j]):
            return True
    return False


@njit(parallel=True, cache=True, nogil=True)
def nan_summary(X, block_size, n_groups):
    """``(observed (D,) int64, n_rows_with_nan, n_rows_all_missing)`` of ``X``."""
    n, d = X.shape
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    observed = np.zeros((n_groups, d), dtype=np.int64)
    with_nan = np.zeros(n_groups, dtype=np.int64)
    empty = np.zeros(n_groups, dtype=np.int64)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            seen = 0
            for j in range(d):
                if not np.isnan(X[r, j]):
                    observed[g, j] += 1
                    seen += 1
            if seen < d:
                with_nan[g] += 1
            if seen == 0:
                empty[g] += 1
    return observed.sum(axis=0), with_nan.sum(), empty.sum()


@njit(cache=True)
def nan_rows(X):
    """Indices (int64) of the rows holding at least one NaN."""
    n = X.shape[0]
    count = 0
    for r in range(n):
        if _row_has_nan(X, r):
            count += 1
    out = np.empty(count, dtype=np.int64)
    count = 0
    for r in range(n):
        if _row_has_nan(X, r):
            out[count] = r
            count += 1
    return out


@njit(cache=True)
def observed_rows(X):
    """Boolean (n,): True where a row has at least one observed value."""
    n, d = X.shape
    out = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        for j in range(d):
            if not np.isnan(X[r, j]):
                out[r] = True
                break
    return out


@njit(parallel=True, cache=True, nogil=True)
def sorted_missing_rows(X):
    """``(rows, keys)``: the rows holding NaN, sorted (stably) by a key of their pattern.

    Rows of one missingness pattern share a key, so they become adjacent; the
    rare different patterns with equal keys are told apart row by row.
    """
    n, d = X.shape
    keys = np.zeros(n, dtype=np.int64)
    flags = np.zeros(n, dtype=np.bool_)
    for r in prange(n):
        h = np.int64(0)
        flag = False
        for j in range(d):
            if np.isnan(X[r, j]):
                h = h * np.int64(1000003) + np.int64(j + 1)
                flag = True
        keys[r] = h
        flags[r] = flag
    rows = np.nonzero(flags)[0].astype(np.int64)
    row_keys = keys[rows]
    order = np.argsort(row_keys, kind="mergesort")
    return rows[order], row_keys[order]


@njit(cache=True)
def _pattern(X, r, obs, mis):
    """Observed and missing columns of row ``r`` into ``obs``/``mis``; returns their counts."""
    no = 0
    nm = 0
    for j in range(X.shape[1]):
        if np.isnan(X[r, j]):
            mis[nm] = j
            nm += 1
        else:
            obs[no] = j
            no += 1
    return no, nm


@njit(cache=True)
def _same_pattern(X, r, s):
    for j in range(X.shape[1]):
        if np.isnan(X[r, j]) != np.isnan(X[s, j]):
            return False
    return True
