"""The fused Bernoulli-mixture pass (:mod:`.bernoulli`) over CSR rows of binary values.

A row's scores are ``c`` plus the rows of ``W`` at its nonzero columns, and its
statistics go to the same rows of the accumulator, so the cost is proportional
to the number of nonzeros, never to N x D.  Offsets are int64; column indices
int32 or int64 (scipy's choice, read without a copy).  Modes, the row finish
and the per-group accumulators are those of the dense pass.
"""

import numpy as np
from numba import njit, prange

from .bernoulli import GIVEN, HARD, _finish_row, _group_accumulators, _reduce


@njit(cache=True, inline="always")
def _csr_group_rows(indptr, n_groups, g):
    """Rows ``[start, stop)`` of group ``g``, splitting the nonzeros (not the rows) evenly.

    The boundaries depend only on the data and ``n_groups``, so the order of
    the sums, and the result, is reproducible.
    """
    n = indptr.shape[0] - 1
    base = indptr[0]
    nnz = indptr[n] - base
    if g == 0:
        start = 0
    else:
        start = np.searchsorted(indptr, base + (g * nnz) // n_groups, side="left")
    if g == n_groups - 1:
        stop = n
    else:
        stop = np.searchsorted(indptr, base + ((g + 1) * nnz) // n_groups, side="left")
    return min(start, n), min(stop, n)


#: Bytes of responsibilities a CSR group computes before it scatters their
#: statistics (26,214 rows at K=20; see :func:`_csr_group`).
CSR_BLOCK_BYTES = 1 << 22


@njit(cache=True)
def _csr_group(indptr, indices, sample_weight, W, c, resp, mode, r0, r1, counts, sums):
    """Rows ``r0:r1`` of :func:`csr_stats` into one group's accumulators.

    Serial, like :func:`.bernoulli._dense_group`. Per block of rows, first every row's
    responsibilities (gathering rows of ``W`` at its nonzero columns), then
    their statistics (scattered to the same rows of the (D, K) accumulator).
    Interleaving the two per row makes W and the accumulator compete for the
    cache when D is large (W and the accumulator then exceed the caches), and
    larger blocks amortise the switch between the two passes.
    """
    K = c.shape[0]
    counts[:] = 0.0
    sums[:, :] = 0.0
    weighted = sample_weight.shape[0] > 0
    hard = mode == HARD
    block_rows = max(1024, CSR_BLOCK_BYTES // (8 * K))
    block = np.empty((min(block_rows, max(r1 - r0, 1)), K))
    total = 0.0
    for b0 in range(r0, r1, block.shape[0]):
        b1 = min(r1, b0 + block.shape[0])
        for i in range(b0, b1):
            w = sample_weight[i] if weighted else 1.0
            lp = block[i - b0]
            if mode == GIVEN:
                for k in range(K):
                    lp[k] = resp[i, k] * w
            else:
                for k in range(K):
                    lp[k] = c[k]
                for p in range(indptr[i], indptr[i + 1]):
                    j = indices[p]
                    for k in range(K):
                        lp[k] += W[j, k]
                total += _finish_row(lp, w, hard)
            for k in range(K):
                counts[k] += lp[k]
        for i in range(b0, b1):
            lp = block[i - b0]
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                for k in range(K):
                    sums[j, k] += lp[k]
    return total


@njit(parallel=True, cache=True, nogil=True)
def csr_stats(indptr, indices, sample_weight, W, c, resp, mode, n_groups):
    """The pass of :func:`.bernoulli.dense_stats` over CSR rows of binary values.

    Parameters
    ----------
    indptr : ndarray of shape (n_samples + 1,), int64
        Row offsets into ``indices`` (absolute: a slice of a larger ``indptr``
        selects a range of rows).
    indices : ndarray of shape (nnz,), int32 or int64
        Column of every stored 1 (explicit zeros must have been removed).
    sample_weight, W, c, resp, mode, n_groups
        As in :func:`.bernoulli.dense_stats`; ``W`` (n_features, n_components) also gives
        the number of features in every mode.

    Returns
    -------
    counts, sums, total
        As in :func:`.bernoulli.dense_stats`. The work is O(nnz * n_components).
    """
    n = indptr.shape[0] - 1
    d = W.shape[0]
    K = c.shape[0]
    n_groups = max(1, min(n_groups, n))
    counts, sums, total = _group_accumulators(n_groups, d, K)
    for g in prange(n_groups):
        r0, r1 = _csr_group_rows(indptr, n_groups, g)
        total[g] = _csr_group(
            indptr, indices, sample_weight, W, c, resp, mode, r0, r1, counts[g], sums[g]
        )
    return _reduce(counts, sums, total)


@njit(cache=True)
def _csr_scores_rows(indptr, indices, W, c, r0, r1, out):
    """Rows ``r0:r1`` of :func:`csr_scores` (serial, see :func:`.bernoulli._dense_group`)."""
    K = c.shape[0]
    for i in range(r0, r1):
        for k in range(K):
            out[i, k] = c[k]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            for k in range(K):
                out[i, k] += W[j, k]


@njit(parallel=True, cache=True, nogil=True)
def csr_scores(indptr, indices, W, c, n_groups):
    """``X @ W + c`` for CSR rows of binary values, shape (n_samples, n_components)."""
    n = indptr.shape[0] - 1
    K = c.shape[0]
    out = np.empty((n, K))
    n_groups = max(1, min(n_groups, n))
    for g in prange(n_groups):
        r0, r1 = _csr_group_rows(indptr, n_groups, g)
        _csr_scores_rows(indptr, indices, W, c, r0, r1, out)
    return out
