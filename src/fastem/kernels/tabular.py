"""The fused kernel of tabular mixtures: mixed column kinds in one row-parallel pass.

Rows are the encoded matrix of ``fastem._tables``: ``nG`` gaussian columns,
then ``nB`` bernoulli (0/1), ``nC`` categorical (level codes) and ``nP``
poisson (counts) columns, every missing cell NaN. Within a component the
columns are independent, so a row's component log-density is a sum over its
observed cells of per-kind terms added into the same K scores:

* gaussian (diagonal): ``c_jk - h_jk (x' - m_jk)^2`` with ``x' = x - shift_j``,
  ``h = 1 / (2 var)``, ``c = -log(2 pi var) / 2``;
* bernoulli: ``log mu_jk`` or ``log(1 - mu_jk)``;
* categorical: a lookup in a table of log-probabilities, never a one-hot
  product. Adjacent categorical columns are read as groups
  (:func:`categorical_groups`): a row's levels in a group, a missing cell
  counting as one more level, form one mixed-radix code, and a (K, states)
  table holds each code's summed log-probabilities. One gather per component
  and row serves the whole group, and the level counts come from one scatter
  of the row's K responsibilities into the group's code counts, summed into
  each column's levels (and its missing weight) once per pass. The table is
  built per pass from the levels' log-probabilities; its size is capped by the
  caller (``settings.categorical_table_bytes``), so the cost grows with the
  groups, not the levels;
* poisson: ``x log lambda_jk - lambda_jk - log x!``, ``log x!`` from a table
  for small counts.

With ``covariance_type="full"`` the gaussian columns are one block read by
the caller (``fastem.families.tabular_full``): the kernel skips them, adds
their (n, K) log-densities given in ``extra`` to the scores and hands back the
weighted responsibilities for their statistics.

The rows of a block are first transposed into a (D, block) float64 buffer
(gaussian columns shifted) by the Gaussian kernels' transposition
(``_rows``), so that every per-kind term runs over the block's
rows in the innermost loop (vector lanes over rows). A column with a missing
cell in the block takes loops where a missing cell adds 0 by a select; a
complete one (counted once per block) takes loops without the selects. Then
per row the log-sum-exp (one ``log`` per 32 unweighted rows), the
responsibilities, and every statistic
(``N_k``; per column and component the sums of ``r x'`` and, for gaussians,
``r x'^2``; the weight of the missing cells; the code counts, scattered
straight from the block's component-major responsibilities) are added into
the row group's float64 accumulators, reduced in a fixed order. One function,
generic over float32 and float64 rows, serves EM (``SOFT``), statistics of
given responsibilities (``GIVEN``) and prediction (``SCORE``: the (n, K)
log-densities, no statistics).
"""

import math

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds
from ._rows import _transpose_shifted
from ._simd import exp_nonpositive

SOFT = 0
GIVEN = 2
SCORE = 3


def categorical_groups(n_levels, n_components, table_bytes):
    """Boundaries of the runs of categorical columns that the kernel reads as one code.

    Adjacent columns join while the product of their state counts (levels
    plus one state for a missing cell) keeps the group's (K, states) table of
    float64 within ``table_bytes``; a column whose own table is larger stands
    alone.

    Parameters
    ----------
    n_levels : sequence of int
        Levels of each categorical column.
    n_components : int
    table_bytes : int
        Below two columns' table (e.g. 1), every column is a group of its own.

    Returns
    -------
    groups : ndarray of shape (n_groups + 1,), int64
        Group ``q`` holds columns ``groups[q]:groups[q + 1]``.
    """
    cap = max(1, table_bytes // (8 * max(1, int(n_components))))
    bounds = [0]
    states = 1
    for j, n_lev in enumerate(n_levels):
        n_states = int(n_lev) + 1
        if j > bounds[-1] and states * n_states > cap:
            bounds.append(j)
            states = 1
        states *= n_states
    if len(n_levels):
        bounds.append(len(n_levels))
    return np.asarray(bounds, dtype=np.int64)


@njit(cache=True)
def _joint_tables(c_offsets, c_log_prob, c_groups):
    """Strides of the columns in their group's code, the groups' offsets, the joint table.

    A group's code is ``offset + sum_j stride_j d_j`` with ``d_j`` the level
    of column ``j`` (its number of levels for a missing cell); the table's
    entry for a code is the sum of its observed columns' log-probabilities.
    """
    K = c_log_prob.shape[0]
    n_cols = c_offsets.shape[0] - 1
    n_joint = c_groups.shape[0] - 1
    stride = np.empty(n_cols, dtype=np.int64)
    offsets = np.zeros(n_joint + 1, dtype=np.int64)
    for q in range(n_joint):
        size = 1
        for j in range(c_groups[q], c_groups[q + 1]):
            stride[j] = size
            size *= c_offsets[j + 1] - c_offsets[j] + 1
        offsets[q + 1] = offsets[q] + size
    table = np.zeros((K, offsets[n_joint]))
    for q in range(n_joint):
        for code in range(offsets[q + 1] - offsets[q]):
            for j in range(c_groups[q], c_groups[q + 1]):
                n_lev = c_offsets[j + 1] - c_offsets[j]
                level = (code // stride[j]) % (n_lev + 1)
                if level < n_lev:
                    for k in range(K):
                        table[k, offsets[q] + code] += c_log_prob[k, c_offsets[j] + level]
    return stride, offsets, table


@njit(cache=True)
def _marginal_levels(joint, c_offsets, c_groups, stride, offsets, c0, levels, missing):
    """Level counts (and the missing cells' weight) of every column from its group's codes."""
    K = joint.shape[1]
    for q in range(c_groups.shape[0] - 1):
        for code in range(offsets[q + 1] - offsets[q]):
            row = joint[offsets[q] + code]
            for j in range(c_groups[q], c_groups[q + 1]):
                n_lev = c_offsets[j + 1] - c_offsets[j]
                level = (code // stride[j]) % (n_lev + 1)
                if level < n_lev:
                    for k in range(K):
                        levels[c_offsets[j] + level, k] += row[k]
                else:
                    for k in range(K):
                        missing[c0 + j, k] += row[k]


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
    c_groups,
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
    c_log_prob : ndarray (K, sum L)
        Log-probabilities of the levels, transposed.
    c_groups : ndarray (n_groups_c + 1,) int64
        Boundaries of the runs of categorical columns read as one joint code
        (:func:`categorical_groups`).
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
    n_levels = c_offsets[c_offsets.shape[0] - 1]
    weighted = sample_weight.shape[0] > 0
    stats = mode != SCORE
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    G = n_groups
    B = block_size
    lf_last = np.float64(log_factorial.shape[0] - 1)
    stride, joint_offsets, joint_log_prob = _joint_tables(c_offsets, c_log_prob, c_groups)
    n_joint_groups = c_groups.shape[0] - 1
    S = joint_offsets[n_joint_groups]
    gc = np.empty((G, K))
    gs1 = np.empty((G, D, K))
    gs2 = np.empty((G, nG, K))
    gm = np.empty((G, D, K))
    gj = np.empty((G, S, K))
    gt = np.empty(G)
    # Every column goes through the shared transposition; only the gaussian ones shift.
    shift_all = np.zeros(D)
    shift_all[g0 : g0 + nG] = shift
    for g in prange(G):
        gc[g] = 0.0
        gs1[g] = 0.0
        gs2[g] = 0.0
        gm[g] = 0.0
        gj[g] = 0.0
        total = 0.0
        xb = np.empty((D, B))
        nanb = np.zeros(D, dtype=np.int64)
        lpb = np.empty((K, B))
        codes = np.empty((n_joint_groups, B), dtype=np.uint32)
        mx = np.empty(B)
        sb = np.empty(B)
        wb = np.empty(B)
        lf = np.empty(B)
        first, last = group_bounds(n_blocks, G, g)
        for blk in range(first, last):
            i0 = blk * B
            m = min(n, i0 + B) - i0
            _transpose_shifted(X, i0, i0 + m, shift_all, xb)
            # Missing cells per column of the block: complete columns (the common case)
            # take loops without the selects that skip missing cells.
            for j in range(g0, D):
                if j >= c0 and j < p0:
                    continue
                c = 0
                for r in range(m):
                    c += 0 if xb[j, r] == xb[j, r] else 1
                nanb[j] = c
            for r in range(m):
                wb[r] = sample_weight[i0 + r] if weighted else 1.0
            for q in range(n_joint_groups):
                # 32 bits: AVX2 converts float64 to 32-bit integers four lanes at a
                # time, to 64-bit ones one lane at a time. Unsigned: an index that
                # cannot be negative needs no wraparound in the gathers and scatters.
                base = np.uint32(joint_offsets[q])
                cq = codes[q]
                for r in range(m):
                    cq[r] = base
                for j in range(c_groups[q], c_groups[q + 1]):
                    n_lev = np.uint32(c_offsets[j + 1] - c_offsets[j])
                    st = np.uint32(stride[j])
                    xr = xb[c0 + j]
                    for r in range(m):
                        x = xr[r]
                        cq[r] += np.uint32(st * (np.uint32(x) if x == x else n_lev))
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
                for q in range(n_joint_groups):
                    # One gather per component for the group's columns together.
                    cq = codes[q]
                    for k in range(K):
                        jl = joint_log_prob[k]
                        lk = lpb[k]
                        for r in range(m):
                            lk[r] += jl[cq[r]]
                for j in range(nP):
                    row = p0 + j
                    # log x! from the table, branch-free (a missing cell reads entry 0
                    # and its term is dropped below); counts past the table, rare, after.
                    xr = xb[row]
                    top = 0.0
                    for r in range(m):
                        x = xr[r]
                        xv = x if x == x else 0.0
                        top = max(top, xv)
                        lf[r] = log_factorial[np.uint64(min(xv, lf_last))]
                    if top > lf_last:
                        for r in range(m):
                            if xr[r] > lf_last:
                                lf[r] = math.lgamma(xr[r] + 1.0)
                    for k in range(K):
                        a = p_log_rate[j, k]
                        b = p_rate[j, k]
                        for r in range(m):
                            x = xr[r]
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
                # Level counts: a scatter of the responsibilities into the codes' counts,
                # straight from the component-major block (each count still summed in
                # row order).
                gjg = gj[g]
                for q in range(n_joint_groups):
                    cq = codes[q]
                    for k in range(K):
                        lk = lpb[k]
                        for r in range(m):
                            gjg[cq[r], k] += lk[r]
        gt[g] = total
    counts = gc[0].copy()
    s1 = gs1[0].copy()
    s2 = gs2[0].copy()
    missing = gm[0].copy()
    joint = gj[0].copy()
    total = gt[0]
    for g in range(1, G):
        counts += gc[g]
        s1 += gs1[g]
        s2 += gs2[g]
        missing += gm[g]
        joint += gj[g]
        total += gt[g]
    levels = np.zeros((n_levels, K))
    _marginal_levels(joint, c_offsets, c_groups, stride, joint_offsets, c0, levels, missing)
    return counts, s1, s2, missing, levels, total
