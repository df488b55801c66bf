"""The fused kernel of tabular mixtures: mixed column kinds in one row-parallel pass.

Rows are the encoded matrix of ``fastem._tables``: ``nG`` gaussian columns,
then ``nB`` bernoulli (0/1), ``nC`` categorical (level codes) and ``nP``
poisson (counts) columns, every missing cell NaN. Within a component the
columns are independent, so a row's component log-density is a sum over its
observed cells of per-kind terms added into the same K scores:

* gaussian (diagonal): ``c_jk - h_jk (x' - m_jk)^2`` with ``x' = x - shift_j``,
  ``h = 1 / (2 var)``, ``c = -log(2 pi var) / 2``;
* bernoulli: ``log mu_jk`` or ``log(1 - mu_jk)``;
* categorical: the level's entry ``off_j + code`` of a (K, sum L + 1) table of
  log probabilities (a gather per component over the block's rows; the cost
  grows with the columns, not the levels; a missing cell reads the last
  entry, 0);
* poisson: ``x log lambda_jk - lambda_jk - log x!``, ``log x!`` from a table
  for small counts.

With ``covariance_type="full"`` the gaussian columns are one block read by
the caller (``fastem.families.tabular_full``): the kernel skips them, adds
their (n, K) log-densities given in ``extra`` to the scores and hands back the
weighted responsibilities for their statistics.

The rows of a block are first transposed into a (D, block) float64 buffer
(gaussian columns shifted), so that every per-kind term runs over the block's
rows in the innermost loop (vector lanes over rows). A column with a missing
cell in the block takes loops where a missing cell adds 0 by a select; a
complete one (counted once per block) takes loops without the selects. Then
per row the log-sum-exp (one ``log`` per 32 unweighted rows), the
responsibilities, and every statistic
(``N_k``; per column and component the sums of ``r x'`` and, for gaussians,
``r x'^2``; the weight of the missing cells; the level counts, scattered
from a row-major copy of the block's responsibilities) are added into
the row group's float64 accumulators, reduced in a fixed order. One function,
generic over float32 and float64 rows, serves EM (``SOFT``), statistics of
given responsibilities (``GIVEN``) and prediction (``SCORE``: the (n, K)
log-densities, no statistics).
"""

import math

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds
from ._simd import exp_nonpositive

SOFT = 0
GIVEN = 2
SCORE = 3


@njit(cache=True, inline="always")
def _log_factorial(x, table):
    n = np.int64(x)
    if n < table.shape[0]:
        return table[n]
    return math.lgamma(x + 1.0)


#: Reassociation only (vectorised sums over a block's rows); never "no NaN": NaN
#: marks the missing cells.
_FASTMATH = {"reassoc", "contract", "nsz"}


@njit(cache=True, parallel=True, fastmath=_FASTMATH)
def tabular_pass(
    X,
    sample_weight,
    n_blocks_kind,
    shift,
    g_mean,
    g_half_prec,
    g_const,
    b_log_mu,
    b_log_1m,
    c_offsets,
    c_log_prob,
    p_log_rate,
    p_rate,
    log_factorial,
    const,
    extra,
    resp,
    out,
    mode,
    block_size,
    n_groups,
):
    """One pass over the rows: statistics (``SOFT``/``GIVEN``) or log-densities (``SCORE``).

    Parameters
    ----------
    X : ndarray (n, D), float32 or float64, C-contiguous
        Encoded rows (kind blocks, NaN missing).
    sample_weight : ndarray (n,) or (0,)
        Row weights; empty means 1.
    n_blocks_kind : ndarray (5,) int64
        ``skip, nG, nB, nC, nP``: the first ``skip`` columns are read by the
        caller (a full-covariance gaussian block, whose log-densities come in
        ``extra``), the next ``nG`` are diagonal gaussian columns.
    shift : ndarray (nG,)
        Centre of the gaussian columns.
    g_mean, g_half_prec, g_const : ndarray (nG, K)
        Shifted means, ``1 / (2 var)``, ``-log(2 pi var) / 2``.
    b_log_mu, b_log_1m : ndarray (nB, K)
    c_offsets : ndarray (nC + 1,) int64
        First row of each categorical column in ``c_log_prob``.
    c_log_prob : ndarray (K, sum L + 1)
        Log-probabilities of the levels, transposed, and a last column of 0
        (where a missing cell looks up).
    p_log_rate, p_rate : ndarray (nP, K)
    log_factorial : ndarray (T,)
        ``log x!`` for ``x < T``.
    const : ndarray (K,)
        Added to every row's scores (the log-weights during EM).
    extra : ndarray (n, K) or (0, K)
        Log-densities of the skipped columns, added to every row's scores.
    resp : ndarray (n, K) or (0, K)
        Given responsibilities (``GIVEN``).
    out : ndarray (n, K) or (0, K)
        Log-densities written here (``SCORE``); with ``SOFT`` the weighted
        responsibilities ``w r`` (for the skipped columns' statistics).
    mode : int
    block_size, n_groups : int

    Returns
    -------
    counts : (K,)
    s1 : (D, K)
        ``sum w r x'`` (gaussian, shifted), ``sum w r x`` (bernoulli, poisson); 0
        for categorical columns.
    s2 : (nG, K)
        ``sum w r x'^2``.
    missing : (D, K)
        ``sum w r`` over the missing cells.
    levels : (sum L, K)
        ``sum w r`` per level.
    total : float
        ``sum w log p(x)`` (``SOFT``), else 0.
    """
    n = X.shape[0]
    D = X.shape[1]
    K = const.shape[0]
    g0 = n_blocks_kind[0]
    nG = n_blocks_kind[1]
    nB = n_blocks_kind[2]
    nC = n_blocks_kind[3]
    nP = n_blocks_kind[4]
    b0 = g0 + nG
    c0 = b0 + nB
    p0 = c0 + nC
    has_extra = extra.shape[0] > 0
    keep_resp = out.shape[0] > 0 and mode == SOFT
    n_levels = c_log_prob.shape[1] - 1
    weighted = sample_weight.shape[0] > 0
    stats = mode != SCORE
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    G = n_groups
    B = block_size
    gc = np.empty((G, K))
    gs1 = np.empty((G, D, K))
    gs2 = np.empty((G, nG, K))
    gm = np.empty((G, D, K))
    gl = np.empty((G, n_levels, K))
    gt = np.empty(G)
    for g in prange(G):
        gc[g] = 0.0
        gs1[g] = 0.0
        gs2[g] = 0.0
        gm[g] = 0.0
        gl[g] = 0.0
        total = 0.0
        xb = np.empty((D, B))
        nanb = np.zeros(D, dtype=np.int64)
        lpb = np.empty((K, B))
        rt = np.empty((B, K))
        ci = np.empty(B, dtype=np.int64)
        mx = np.empty(B)
        sb = np.empty(B)
        wb = np.empty(B)
        lf = np.empty(B)
        first, last = group_bounds(n_blocks, G, g)
        for blk in range(first, last):
            i0 = blk * B
            m = min(n, i0 + B) - i0
            for r in range(m):
                for j in range(g0, D):
                    xb[j, r] = X[i0 + r, j]
            # Missing cells per column of the block: complete columns (the common case)
            # take loops without the selects that skip missing cells.
            for j in range(g0, D):
                c = 0
                for r in range(m):
                    c += 0 if xb[j, r] == xb[j, r] else 1
                nanb[j] = c
            for j in range(nG):
                sh = shift[j]
                for r in range(m):
                    xb[g0 + j, r] -= sh
            for r in range(m):
                wb[r] = sample_weight[i0 + r] if weighted else 1.0
            if mode == GIVEN:
                for k in range(K):
                    for r in range(m):
                        lpb[k, r] = wb[r] * resp[i0 + r, k]
            else:
                for k in range(K):
                    for r in range(m):
                        lpb[k, r] = const[k]
                if has_extra:
                    for r in range(m):
                        for k in range(K):
                            lpb[k, r] += extra[i0 + r, k]
                for j in range(nG):
                    row = g0 + j
                    complete = nanb[row] == 0
                    for k in range(K):
                        mu = g_mean[j, k]
                        h = g_half_prec[j, k]
                        c = g_const[j, k]
                        if complete:
                            for r in range(m):
                                d = xb[row, r] - mu
                                lpb[k, r] += c - h * d * d
                        else:
                            for r in range(m):
                                x = xb[row, r]
                                d = x - mu
                                v = c - h * d * d
                                lpb[k, r] += v if x == x else 0.0
                for j in range(nB):
                    row = b0 + j
                    complete = nanb[row] == 0
                    for k in range(K):
                        a = b_log_mu[j, k]
                        b = b_log_1m[j, k]
                        if complete:
                            for r in range(m):
                                lpb[k, r] += b + xb[row, r] * (a - b)
                        else:
                            for r in range(m):
                                x = xb[row, r]
                                v = a if x > 0.5 else b
                                lpb[k, r] += v if x == x else 0.0
                for j in range(nC):
                    row = c0 + j
                    off = c_offsets[j]
                    # A gather per component over the block's rows; a missing cell reads
                    # the table's last column, 0.
                    for r in range(m):
                        x = xb[row, r]
                        ci[r] = off + np.int64(x) if x == x else n_levels
                    for k in range(K):
                        for r in range(m):
                            lpb[k, r] += c_log_prob[k, ci[r]]
                for j in range(nP):
                    row = p0 + j
                    for r in range(m):
                        x = xb[row, r]
                        lf[r] = _log_factorial(x, log_factorial) if x == x else 0.0
                    for k in range(K):
                        a = p_log_rate[j, k]
                        b = p_rate[j, k]
                        for r in range(m):
                            x = xb[row, r]
                            v = x * a - b - lf[r]
                            lpb[k, r] += v if x == x else 0.0
                if not stats:
                    for r in range(m):
                        for k in range(K):
                            out[i0 + r, k] = lpb[k, r]
                    continue
                for r in range(m):
                    mx[r] = lpb[0, r]
                for k in range(1, K):
                    for r in range(m):
                        mx[r] = max(mx[r], lpb[k, r])
                for r in range(m):
                    sb[r] = 0.0
                for k in range(K):
                    for r in range(m):
                        e = exp_nonpositive(lpb[k, r] - mx[r])
                        lpb[k, r] = e
                        sb[r] += e
                if weighted:
                    for r in range(m):
                        total += wb[r] * (mx[r] + np.log(sb[r]))
                else:
                    # Each sum lies in [1, K]: a product of 32 cannot overflow, so one
                    # log per 32 rows instead of one per row.
                    for r in range(m):
                        total += mx[r]
                    for r0 in range(0, m, 32):
                        prod = 1.0
                        for r in range(r0, min(m, r0 + 32)):
                            prod *= sb[r]
                        total += np.log(prod)
                for r in range(m):
                    sb[r] = wb[r] / sb[r]
                for k in range(K):
                    for r in range(m):
                        lpb[k, r] *= sb[r]
                if keep_resp:
                    for r in range(m):
                        for k in range(K):
                            out[i0 + r, k] = lpb[k, r]
            for k in range(K):
                acc = 0.0
                for r in range(m):
                    acc += lpb[k, r]
                gc[g, k] += acc
            for j in range(nG):
                row = g0 + j
                complete = nanb[row] == 0
                for k in range(K):
                    a1 = 0.0
                    a2 = 0.0
                    am = 0.0
                    if complete:
                        for r in range(m):
                            rx = lpb[k, r] * xb[row, r]
                            a1 += rx
                            a2 += rx * xb[row, r]
                    else:
                        for r in range(m):
                            x = xb[row, r]
                            rr = lpb[k, r]
                            ok = x == x
                            xs = x if ok else 0.0
                            rx = rr * xs
                            a1 += rx
                            a2 += rx * xs
                            am += 0.0 if ok else rr
                    gs1[g, row, k] += a1
                    gs2[g, j, k] += a2
                    gm[g, row, k] += am
            for j in range(nB + nC + nP):
                row = b0 + j
                if j >= nB and j < nB + nC:
                    continue
                complete = nanb[row] == 0
                for k in range(K):
                    a1 = 0.0
                    am = 0.0
                    if complete:
                        for r in range(m):
                            a1 += lpb[k, r] * xb[row, r]
                    else:
                        for r in range(m):
                            x = xb[row, r]
                            rr = lpb[k, r]
                            ok = x == x
                            a1 += rr * x if ok else 0.0
                            am += 0.0 if ok else rr
                    gs1[g, row, k] += a1
                    gm[g, row, k] += am
            if nC > 0:
                # Level counts: a scatter of each row's K responsibilities, read
                # row-major so that the K adds are contiguous.
                for r in range(m):
                    for k in range(K):
                        rt[r, k] = lpb[k, r]
                for j in range(nC):
                    row = c0 + j
                    off = c_offsets[j]
                    for r in range(m):
                        x = xb[row, r]
                        if x == x:
                            idx = off + np.int64(x)
                            for k in range(K):
                                gl[g, idx, k] += rt[r, k]
                        else:
                            for k in range(K):
                                gm[g, row, k] += rt[r, k]
        gt[g] = total
    counts = gc[0].copy()
    s1 = gs1[0].copy()
    s2 = gs2[0].copy()
    missing = gm[0].copy()
    levels = gl[0].copy()
    total = gt[0]
    for g in range(1, G):
        counts += gc[g]
        s1 += gs1[g]
        s2 += gs2[g]
        missing += gm[g]
        levels += gl[g]
        total += gt[g]
    return counts, s1, s2, missing, levels, total
