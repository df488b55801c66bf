"""Fused Bernoulli-mixture kernels: the scoring model, the modes and the pass over dense rows.

A component with probabilities ``mu_k`` scores a binary row as
``log p_k(x) = x . (log mu_k - log(1 - mu_k)) + sum_d log(1 - mu_kd)``: linear in
the row with the log-odds as weights, the exponential-family form of
``docs/architecture.md`` with ``T(x) = x``.  ``W`` is the (D, K) matrix of log-odds and
``c`` (K,) the constants (including the log-weights during EM).

Per block of dense rows one product ``X_b @ W`` gives every score and, after
the responsibilities ``R_b``, one product ``X_b^T @ R_b`` adds the statistics
``sum_n w_n r_nk x_n`` to the row group's (D, K) accumulator.  A float64 array
is multiplied in place; other dtypes are first widened into a float64 block,
which is exact for 0/1 values.  CSR rows take the same pass in
:mod:`.bernoulli_csr`, with this module's modes, row finish and accumulators.

The same pass also serves k-means (hard assignments: ``mode=HARD`` with
``W = 2 C^T`` and ``c = -|C|^2`` makes the largest score the nearest centre) and
statistics of given responsibilities (``mode=GIVEN``, for initialisation), so
one compiled function per input kind does all of EM and its initialisation.

Missing entries of dense uint8 rows never reach these kernels as such:
:mod:`.bernoulli_missing` rewrites the rows holding them as ``[x, m]``, on
which the same kernels marginalise the missing features.
"""

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._common import block_layout, column_sums, group_bounds, normalise_columns
from ._gemm import MATMUL_TILED, MATMUL_TILED4, ROW_TILE, round_up
from ._gemm4 import gemm_nt4, gemm_tn4
from ._gemm8 import gemm_tn
from ._simd import exp_nonpositive, store_transposed, vload_widened, zeros_aligned

SOFT = 0
HARD = 1
GIVEN = 2


def _float_rows(X, start, stop, buffer):
    """Rows ``start:stop`` of ``X`` as a C-contiguous float64 (m, D) array."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_float_rows, inline="always")
def _float_rows_impl(X, start, stop, buffer):
    if X.dtype == types.float64 and X.layout == "C":
        # A float64 block is multiplied where it lies, saving a copy pass.
        def impl(X, start, stop, buffer):
            return X[start:stop]

        return impl

    def impl(X, start, stop, buffer):
        m = stop - start
        d = X.shape[1]
        for r in range(m):
            for j in range(d):
                buffer[r, j] = np.float64(X[start + r, j])
        return buffer[:m]

    return impl


@njit(cache=True, inline="always")
def _finish_row(lp, w, hard):
    """Scores of one row (K,) into its weighted responsibilities, in place.

    Returns the row's weighted log-likelihood ``w log sum_k exp(lp_k)`` (soft)
    or ``w max_k lp_k`` (hard; ties go to the first component, as in k-means).
    """
    K = lp.shape[0]
    best = 0
    mx = lp[0]
    for k in range(1, K):
        if lp[k] > mx:
            mx = lp[k]
            best = k
    if hard:
        for k in range(K):
            lp[k] = 0.0
        lp[best] = w
        return w * mx
    # Two loops: without the running sum the exponentials vectorise.
    for k in range(K):
        lp[k] = exp_nonpositive(lp[k] - mx)
    s = 0.0
    for k in range(K):
        s += lp[k]
    scale = w / s
    for k in range(K):
        lp[k] *= scale
    return w * (mx + np.log(s))


@njit(cache=True)
def _group_accumulators(n_groups, d, K):
    """Uninitialised per-group accumulators; each group zeroes its own slice.

    A ``np.zeros`` of the (n_groups, D, K) array inside a ``parallel=True``
    function becomes a parallel fill that can cost more than a whole pass over
    a sparse matrix.
    """
    return np.empty((n_groups, K)), np.empty((n_groups, d, K)), np.empty(n_groups)


@njit(cache=True)
def _reduce(counts, sums, total):
    """Sum the per-group accumulators in a fixed order (reproducible results)."""
    c = counts[0].copy()
    s = sums[0].copy()
    t = total[0]
    for g in range(1, counts.shape[0]):
        c += counts[g]
        s += sums[g]
        t += total[g]
    return c, s, t


@njit(cache=True)
def _padded_weights(W, path):
    """``W`` (D, K) with zero columns up to the register tiles' width (8 on the
    eight-lane path, 4 on the 256-bit one)."""
    if path == MATMUL_TILED:
        unit = 8
    elif path == MATMUL_TILED4:
        unit = 4
    else:
        return W
    Wp = zeros_aligned(W.shape[0], round_up(W.shape[1], unit))
    Wp[:, : W.shape[1]] = W
    return Wp


def _transposed_rows(X, start, stop, T):
    """``T[:, :m] = X[start:stop].T`` in float64 (``m = stop - start``)."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_transposed_rows, inline="always")
def _transposed_rows_impl(X, start, stop, T):
    if not (X.dtype in (types.uint8, types.float32, types.float64) and X.layout == "C"):

        def scalar(X, start, stop, T):
            d = X.shape[1]
            for r0 in range(0, stop - start, 8):
                r1 = min(stop - start, r0 + 8)
                for j in range(d):
                    for r in range(r0, r1):
                        T[j, r] = np.float64(X[start + r, j])

        return scalar

    def impl(X, start, stop, T):
        # 8 x 8 register tiles, widened as loaded: one vector load and store
        # per 8 values instead of one memory operation per value.
        d = X.shape[1]
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
                store_transposed(
                    T,
                    j0,
                    r0,
                    vload_widened(x0, j0),
                    vload_widened(x1, j0),
                    vload_widened(x2, j0),
                    vload_widened(x3, j0),
                    vload_widened(x4, j0),
                    vload_widened(x5, j0),
                    vload_widened(x6, j0),
                    vload_widened(x7, j0),
                )
            for j in range(dv, d):
                for r in range(r0, r0 + 8):
                    T[j, r] = np.float64(X[start + r, j])
        for r in range(mv, m):
            for j in range(d):
                T[j, r] = np.float64(X[start + r, j])

    return impl


@njit(cache=True)
def _widened_rows(X, start, stop, path, buffer):
    """Rows ``start:stop`` as float64 for BLAS; nothing (no copy) for the eight-lane
    tiles, which read the 0/1 rows in their own dtype."""
    if path == MATMUL_TILED:
        return buffer[:0]
    return _float_rows(X, start, stop, buffer)


@njit(cache=True)
def _block_scores(X, start, stop, Xf, Wp, path, out):
    """``X[start:stop] @ Wp`` into ``out[:m]`` (``Xf``: see :func:`_widened_rows`)."""
    if path == MATMUL_TILED:
        gemm_tn(X[start:stop].T, Wp, out[: stop - start])
    else:
        np.dot(Xf, Wp, out[: stop - start])


@njit(cache=True)
def _dense_group(X, sample_weight, Wp, c, resp, mode, block_size, b0, b1, counts, sums, path):
    """Blocks ``b0:b1`` of :func:`dense_stats` into one group's accumulators.

    Serial: the ``prange`` of :func:`dense_stats` hands one call to each row
    group, which zeroes and fills only its own accumulators.
    """
    if path == MATMUL_TILED4:
        return _dense_group4(X, sample_weight, Wp, c, resp, mode, block_size, b0, b1, counts, sums)
    n, d = X.shape
    K = c.shape[0]
    Kp = Wp.shape[1]
    counts[:] = 0.0
    sums[:, :] = 0.0
    weighted = sample_weight.shape[0] > 0
    hard = mode == HARD
    tiled = path == MATMUL_TILED
    buffer = np.empty((0 if tiled else block_size, d))
    scores = zeros_aligned(block_size, Kp)
    part = zeros_aligned(d, Kp)
    total = 0.0
    for b in range(b0, b1):
        start = b * block_size
        stop = min(n, start + block_size)
        m = stop - start
        R = scores[:m]
        Xf = _widened_rows(X, start, stop, path, buffer)
        if mode == GIVEN:
            for r in range(m):
                w = sample_weight[start + r] if weighted else 1.0
                for k in range(K):
                    R[r, k] = resp[start + r, k] * w
        else:
            _block_scores(X, start, stop, Xf, Wp, path, scores)
            for r in range(m):
                w = sample_weight[start + r] if weighted else 1.0
                row = R[r, :K]
                for k in range(K):
                    row[k] += c[k]
                total += _finish_row(row, w, hard)
                # Padding components take no responsibility.
                for k in range(K, Kp):
                    R[r, k] = 0.0
        for r in range(m):
            for k in range(K):
                counts[k] += R[r, k]
        if tiled:
            gemm_tn(X[start:stop], R, part)
        else:
            np.dot(Xf.T, R, part)
        for j in range(d):
            for k in range(K):
                sums[j, k] += part[j, k]
    return total


@njit(cache=True)
def _dense_group4(X, sample_weight, Wp, c, resp, mode, block_size, b0, b1, counts, sums):
    """:func:`_dense_group` on the 256-bit tiles, with the block transposed.

    The block's rows are widened to float64 feature-major, ``T`` (D, B), so
    that both products load vectors from a contiguous operand: the scores
    ``W^T T`` (components by rows) and the statistics ``R T^T`` (a reduction
    along the rows).  The eight-lane tiles' way, broadcasting the rows'
    elements, needs an integer conversion per element that the 256-bit FMA
    rate cannot hide, and reads the rows with a stride of D.  Scores and
    responsibilities stay components by rows, so that the log-sum-exp loops
    run across rows, vectorised as in the Gaussian kernels.
    """
    n, d = X.shape
    K = c.shape[0]
    Kp = Wp.shape[1]
    B = round_up(block_size, ROW_TILE)
    weighted = sample_weight.shape[0] > 0
    T = zeros_aligned(d, B)
    St = zeros_aligned(Kp, B)
    w_block = np.zeros(B)
    mx = np.empty(B)
    total = np.empty(B)
    part = np.empty((Kp, d))
    acc = np.zeros((Kp, d))
    counts[:] = 0.0
    ll = 0.0
    for b in range(b0, b1):
        start = b * block_size
        stop = min(n, start + block_size)
        m = stop - start
        _transposed_rows(X, start, stop, T)
        for r in range(B):
            w = 0.0
            if r < m:
                w = sample_weight[start + r] if weighted else 1.0
            w_block[r] = w
        if mode == GIVEN:
            for k in range(K):
                row = St[k]
                for r in range(m):
                    row[r] = resp[start + r, k] * w_block[r]
                for r in range(m, B):
                    row[r] = 0.0
        else:
            gemm_tn4(Wp, T, St)
            ll += _finish_columns(St, c, w_block, m, mode == HARD, mx, total)
        for k in range(K):
            row = St[k]
            s = 0.0
            for r in range(m):
                s += row[r]
            counts[k] += s
        # Padding components take no part.
        for k in range(K, Kp):
            St[k, :] = 0.0
        gemm_nt4(St, T, part)
        acc += part
    for j in range(d):
        for k in range(K):
            sums[j, k] = acc[k, j]
    return ll


@njit(cache=True)
def _finish_columns(St, c, w_block, m, hard, mx, total):
    """Scores ``St`` (components by rows) plus ``c`` into weighted responsibilities.

    The column form of :func:`_finish_row`; rows from ``m`` on (padding) and
    rows of weight 0 end with zero responsibilities.  Returns the summed
    weighted log-likelihood (soft) or weighted best score (hard) of rows ``:m``.
    """
    K = c.shape[0]
    B = St.shape[1]
    for k in range(K):
        row = St[k]
        ck = c[k]
        for r in range(B):
            row[r] += ck
    row = St[0]
    for r in range(B):
        mx[r] = row[r]
    for k in range(1, K):
        row = St[k]
        for r in range(B):
            mx[r] = max(mx[r], row[r])
    ll = 0.0
    if hard:
        # The first component reaching the maximum takes the row (k-means ties).
        for r in range(B):
            total[r] = w_block[r]
        for k in range(K):
            row = St[k]
            for r in range(B):
                hit = row[r] == mx[r] and total[r] != 0.0
                row[r] = total[r] if hit else 0.0
                if hit:
                    total[r] = 0.0
        for r in range(m):
            ll += w_block[r] * mx[r]
        return ll
    for k in range(K):
        row = St[k]
        for r in range(B):
            row[r] = exp_nonpositive(row[r] - mx[r])
    column_sums(St, K, total)
    for r in range(m):
        ll += w_block[r] * (mx[r] + np.log(total[r]))
    normalise_columns(St, K, total, w_block)
    return ll


@njit(parallel=True, cache=True, nogil=True)
def dense_stats(X, sample_weight, W, c, resp, mode, block_size, n_groups, path):
    """One fused pass over dense rows: responsibilities and statistics.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), uint8, float32 or float64
        C-contiguous rows holding 0 and 1.
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Empty means every row has weight 1.
    W : ndarray of shape (n_features, n_components), float64
        Weights of the scores (log-odds for EM); unread for ``mode=GIVEN``.
    c : ndarray of shape (n_components,), float64
        Constants of the scores; unread for ``mode=GIVEN``.
    resp : ndarray of shape (n_samples, n_components) or (0, n_components)
        Responsibilities, only read for ``mode=GIVEN``.
    mode : int
        SOFT (EM), HARD (k-means assignment) or GIVEN.
    block_size, n_groups : int
        Rows per block and number of row groups.
    path : int
        ``MATMUL_TILED`` (the eight-lane register tiles of ``_gemm8``, which
        read uint8 rows without widening them), ``MATMUL_TILED4`` (the 256-bit
        tiles, on blocks widened and transposed in registers) or ``MATMUL_BLAS``.

    Returns
    -------
    counts : ndarray of shape (n_components,)
        ``sum_n w_n r_nk``.
    sums : ndarray of shape (n_features, n_components)
        ``sum_n w_n r_nk x_n``.
    total : float
        ``sum_n w_n log sum_k exp(score_nk)`` (SOFT), ``sum_n w_n max_k score_nk``
        (HARD) or 0 (GIVEN).
    """
    n, d = X.shape
    K = c.shape[0]
    Wp = _padded_weights(W, path)
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    counts, sums, total = _group_accumulators(n_groups, d, K)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        total[g] = _dense_group(
            X, sample_weight, Wp, c, resp, mode, block_size, b0, b1, counts[g], sums[g], path
        )
    return _reduce(counts, sums, total)


@njit(cache=True)
def _dense_scores_group(X, Wp, c, block_size, b0, b1, path, out):
    """Blocks ``b0:b1`` of :func:`dense_scores` (serial, see :func:`_dense_group`)."""
    n, d = X.shape
    K = c.shape[0]
    if path == MATMUL_TILED4:
        B = round_up(block_size, ROW_TILE)
        T = zeros_aligned(d, B)
        St = zeros_aligned(Wp.shape[1], B)
        for b in range(b0, b1):
            start = b * block_size
            stop = min(n, start + block_size)
            _transposed_rows(X, start, stop, T)
            gemm_tn4(Wp, T, St)
            for r in range(stop - start):
                for k in range(K):
                    out[start + r, k] = St[k, r] + c[k]
        return
    buffer = np.empty((0 if path == MATMUL_TILED else block_size, d))
    scores = zeros_aligned(block_size, Wp.shape[1])
    for b in range(b0, b1):
        start = b * block_size
        stop = min(n, start + block_size)
        Xf = _widened_rows(X, start, stop, path, buffer)
        _block_scores(X, start, stop, Xf, Wp, path, scores)
        for r in range(stop - start):
            for k in range(K):
                out[start + r, k] = scores[r, k] + c[k]


@njit(parallel=True, cache=True, nogil=True)
def dense_scores(X, W, c, block_size, n_groups, path):
    """``X @ W + c`` for dense rows, shape (n_samples, n_components), float64."""
    n = X.shape[0]
    K = c.shape[0]
    Wp = _padded_weights(W, path)
    out = np.empty((n, K))
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        _dense_scores_group(X, Wp, c, block_size, b0, b1, path, out)
    return out
