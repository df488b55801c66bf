"""Gaussian-mixture kernels for rows with missing values (NaN), missing at random.

A row with observed coordinates ``o`` and missing ``m`` contributes its
marginal density ``N(x_o | mu_o, Sigma_oo)``; the M-step takes the expected
sufficient statistics (Ghahramani & Jordan 1994): the missing coordinates are
replaced by their conditional mean ``E[x_m | x_o, k]`` and the second moments
gain the conditional covariance ``Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om``.

Everything goes through the precisions ``P = U U^T`` (``U`` the precision
Cholesky factor): the conditional covariance is ``(P_mm)^-1``, the conditional
mean ``mu_m - (P_mm)^-1 P_mo (x_o - mu_o)``, and the marginal's quadratic form
is the full quadratic form of the row completed by its conditional mean, so one
factorisation of the small block ``P_mm`` (a few missing values are the usual
case) serves a whole missingness pattern, and ``log det Sigma_oo`` is
``log det Sigma + log det P_mm``.

Every block of rows goes through the fused pipeline of
:func:`fastem.kernels.gaussian.estep_stats` (a block without NaN gives the
same bits as there).

- Diagonal and spherical models: the rows with NaN stay in their block, which
  is read in place (the families pass C-ordered rows). A missing value is
  zeroed in the features ``T(x')`` as they are filled, and marked in its row's
  bits of missing columns: the zero removes every term of its coordinate
  from the product ``T W`` but the constant one,
  ``-log(2 pi s_kj) / 2 - mu_kj^2 / (2 s_kj)``, subtracted per missing value
  (the rows with a NaN, one by one, their columns from the bits);
  its expected statistics (the component's ``mu_kj`` and ``mu_kj^2 + s_kj``)
  are added at the end from the responsibilities summed per component and
  column. No factorisation per pattern.
- Full and tied covariances: the complete rows of a block, gathered in the
  block buffer, take the pipeline;
  the rows with NaN of the whole chunk are sorted by missingness pattern (each
  row group takes an equal slice), and per (pattern, component) one Cholesky
  factorisation of ``P_mm`` gives the regression coefficients and the
  conditional covariance, which is added once per pattern from the summed
  responsibilities. Full models take a pattern with enough rows through the
  pipeline too, with the weights of the marginal on the observed coordinates
  (precision ``P_oo - P_om (P_mm)^-1 P_mo``) and the missing values at 0; the
  conditional mean is affine in the observed values, so the pattern's plain
  sums of ``T(x')`` give its expected statistics. Rarer patterns, and tied
  models, go row by row.

Accumulators are per row group and float64, as in the complete-data kernels.
This module holds the E-step and the log-densities for predict; the pieces are
in :mod:`.missing_rows` (where the NaN are), :mod:`._missing_pattern` (the
factorisation per pattern, rows one by one), :mod:`._missing_block` (a block
through the pipeline, the diag/spherical missing values) and :mod:`._missing_full` (a
full model's frequent pattern); the initialisation's kernels are in
:mod:`.gaussian_missing_init`.
"""

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds
from ._gaussian_block import _padded_shapes, _reduce_groups
from ._gaussian_features import DIAG, FULL, SPHERICAL, TIED, _fill_features
from ._missing_block import _block_rows, _fill_missing_features, n_bit_words
from ._missing_full import _full_pattern_rows
from ._missing_pattern import _LOG_2PI, _full_row, _missing_rows_full, _pattern_factors
from ._simd import zeros_aligned
from .missing_rows import _pattern, _same_pattern, sorted_missing_rows


@njit(parallel=True, cache=True, nogil=True)
def estep_stats(
    X,
    sample_weight,
    shift,
    W,
    tied_prec_chol,
    kind,
    block_size,
    n_groups,
    path,
    means,
    chol,
    prec,
    dprec,
    dlog,
    log_det,
    log_weights,
    min_pattern_rows,
):
    """One fused E-step over rows that may hold NaN; same outputs as the complete-data kernel.

    Parameters
    ----------
    X, sample_weight, shift, W, tied_prec_chol, kind, block_size, n_groups, path
        As :func:`fastem.kernels.gaussian.estep_stats` (complete rows use them).
    means : ndarray of shape (n_components, n_features)
        Component means minus ``shift``.
    chol, prec : ndarray of shape (n_components, n_features, n_features) or (0, 0, 0)
        Transposed (lower) precision Cholesky factors ``U^T`` and precisions
        (full and tied, a tied one repeated per component).
    dprec, dlog : ndarray of shape (n_components, n_features) or (0, 0)
        Diagonal precisions and the logs of their square roots (diag, spherical).
    log_det : ndarray of shape (n_components,)
        ``sum log diag U`` of every component.
    log_weights : ndarray of shape (n_components,)
    min_pattern_rows : int
        Full covariances: a missingness pattern with at least this many rows
        in a row group's share goes through the block pipeline, one with fewer
        row by row.

    Returns
    -------
    stats, second_moment, sum_log_likelihood
        As the complete-data kernel, with expected statistics for the rows with NaN.
    """
    n, d = X.shape
    F, K = W.shape
    Fp, Kp, dp, B = _padded_shapes(path, F, K, d, block_size, 8)
    Wp = np.zeros((Fp, Kp))
    Wp[:F, :K] = W
    Wt = np.ascontiguousarray(Wp.T)
    dxx = d if kind == TIED else 0
    dxp = dp if kind == TIED else 0
    Up = np.zeros((dxx, dxp))
    Up[:, :dxx] = tied_prec_chol
    Ut = np.ascontiguousarray(Up.T)
    n_blocks, n_groups = block_layout(n, B, n_groups)
    acc = np.zeros((n_groups, Kp, Fp))
    acc_xx = np.zeros((n_groups, dxp, dxx))
    # The rows with NaN write the tied second moment in full (D, D).
    acc_xm = np.zeros((n_groups, d if kind == TIED else 0, d if kind == TIED else 0))
    ll = np.zeros(n_groups)
    weighted = sample_weight.shape[0] > 0
    full_like = kind == FULL or kind == TIED
    # Diag and spherical: every row takes the block pipeline; a missing
    # coordinate's value is zeroed, which leaves only its constant terms
    # -log(2 pi s_kj) / 2 - mu_kj^2 / (2 s_kj) in the product, taken out by
    # W_missing; its expected statistics are the component's mu_kj and
    # mu_kj^2 + s_kj, added at the end from the summed responsibilities.
    dm = 0 if full_like else d
    W_missing = np.zeros((dm, K))
    for j in range(dm):
        for k in range(K):
            W_missing[j, k] = (
                0.5 * _LOG_2PI - dlog[k, j] + 0.5 * means[k, j] * means[k, j] * dprec[k, j]
            )
    missing_resp = np.zeros((n_groups, dm, K))
    # Full and tied: the rows with NaN of the whole chunk sorted by pattern, so that
    # one factorisation per (pattern, component) serves every row of the pattern;
    # each row group takes an equal slice of them.
    if full_like:
        sorted_rows, sorted_keys = sorted_missing_rows(X)
    else:
        sorted_rows = np.empty(0, dtype=np.int64)
        sorted_keys = np.empty(0, dtype=np.int64)
    n_sorted = sorted_rows.shape[0]
    dk = d if kind == FULL else 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        T = zeros_aligned(Fp, B)
        xs = T[1 : 1 + d]
        xw = zeros_aligned(dxp, B)
        logp = zeros_aligned(Kp, B)
        mx = np.empty(B)
        total = np.empty(B)
        w_block = np.zeros(B)
        part = np.empty((Kp, Fp))
        part_xx = np.empty((dxp, dxx))
        Y = zeros_aligned(dxp, B)
        Xc = np.empty((B, d), dtype=X.dtype)
        wc = np.zeros(B)
        # Diag and spherical: a block's rows holding NaN and their missing columns' bits.
        nan_rows = np.empty(0 if full_like else B, dtype=np.int64)
        bits = np.zeros((0 if full_like else n_bit_words(d), B), dtype=np.int64)
        scratch = np.empty(K)
        work = (
            np.empty(d, dtype=np.int64),
            np.empty(d, dtype=np.int64),
            np.empty((d, d)),
            np.empty((d, d)),
            np.empty((K, d, d)),
            np.empty((K, d, d)),
            np.empty(K),
            np.empty(d),
            np.empty((K, d)),
            np.empty(K),
            np.empty(K),
        )
        ll_g = 0.0
        for b in range(b0, b1):
            start = b * B
            stop = min(n, start + B)
            if not full_like:
                # Every row takes the block pipeline, read in place; the
                # missing values are zeroed and marked as the block is filled.
                m = stop - start
                for r in range(m):
                    wc[r] = sample_weight[start + r] if weighted else 1.0
                n_nan = _fill_missing_features(X, start, stop, shift, kind, xs, T, bits, nan_rows)
                ll_g = _block_rows(
                    X, stop, min(n, stop + B), m, wc, weighted, kind, K, path, Wp, Wt, Up, Ut,
                    T, xs, xw, logp, mx, total, w_block, part, part_xx, Y, acc[g], acc_xx[g],
                    ll_g, nan_rows, bits, n_nan, W_missing, missing_resp[g], scratch,
                )  # fmt: skip
                continue
            # Full and tied: the complete rows, gathered in the block buffer; the
            # rows with NaN come after, by pattern. int64 from the start: a literal
            # 0 would have the block pipeline compiled once more for the literal
            # types that type inference sees first.
            mc = np.int64(0)
            for r in range(start, stop):
                # Copied before it is known complete (a branch-free loop that
                # vectorises); a row with NaN is overwritten by the next one.
                dst = Xc[mc]
                bad = 0
                for j in range(d):
                    v = X[r, j]
                    dst[j] = v
                    bad += v != v
                if bad:
                    continue
                wc[mc] = sample_weight[r] if weighted else 1.0
                mc += 1
            if mc > 0:
                _fill_features(Xc, 0, mc, shift, kind, xs, T)
                ll_g = _block_rows(
                    X, stop, min(n, stop + B), mc, wc, weighted, kind, K, path, Wp, Wt, Up, Ut,
                    T, xs, xw, logp, mx, total, w_block, part, part_xx, Y, acc[g], acc_xx[g],
                    ll_g, nan_rows, bits, mc * 0, W_missing, missing_resp[g], scratch,
                )  # fmt: skip
        lo = (g * n_sorted) // n_groups
        hi = ((g + 1) * n_sorted) // n_groups
        if kind == TIED and hi > lo:
            ll_g += _missing_rows_full(
                X, sorted_rows[lo:hi], hi - lo, sorted_keys[lo:hi], sample_weight, weighted,
                shift, kind, means, chol, prec, log_det, log_weights, acc[g], acc_xm[g], work,
            )  # fmt: skip
        elif kind == FULL and hi > lo:
            block = (
                T, xs, xw, logp, mx, total, w_block, part, part_xx, Y, Up, Ut, acc_xx[g],
                nan_rows, bits, W_missing, missing_resp[g],
            )  # fmt: skip
            pattern_work = (
                np.empty((d, d)),
                np.empty((d, d)),
                np.empty((K, d, d)),
                np.empty((K, d, d)),
                np.empty((d, d)),
            )
            completion = (np.empty((dk, dk)), np.empty((dk, dk)), np.empty(dk), np.empty(dk))
            Wq = np.zeros((Fp, Kp))
            Wqt = np.zeros((Kp, Fp))
            acc_q = np.zeros((Kp, Fp))
            shift_q = np.empty(d)
            obs, mis = work[0], work[1]
            i = lo
            while i < hi:
                e = i + 1
                while (
                    e < hi
                    and sorted_keys[e] == sorted_keys[i]
                    and _same_pattern(X, sorted_rows[e], sorted_rows[i])
                ):
                    e += 1
                if e - i >= min_pattern_rows:
                    ll_g = _full_pattern_rows(
                        X, sorted_rows[i:e], sample_weight, weighted, shift, means, prec,
                        log_det, log_weights, path, obs, mis, pattern_work, Wq, Wqt, acc_q,
                        shift_q, completion, Xc, wc, block, acc[g], ll_g,
                    )  # fmt: skip
                else:
                    ll_g += _missing_rows_full(
                        X, sorted_rows[i:e], e - i, sorted_keys[i:e], sample_weight, weighted,
                        shift, kind, means, chol, prec, log_det, log_weights, acc[g], acc_xm[g],
                        work,
                    )  # fmt: skip
                i = e
        ll[g] = ll_g
    stats, xx, total_ll = _reduce_groups(acc, acc_xx, ll, K, F)
    if kind == TIED:
        for g in range(n_groups):
            xx += acc_xm[g]
    if not full_like:
        # The missing values' expected statistics, from the summed responsibilities.
        counts = missing_resp[0].copy()
        for g in range(1, n_groups):
            counts += missing_resp[g]
        for k in range(K):
            sq = 0.0
            for j in range(d):
                c = counts[j, k]
                mu = means[k, j]
                stats[k, 1 + j] += c * mu
                second = c * (mu * mu + 1.0 / dprec[k, j])
                if kind == DIAG:
                    stats[k, 1 + d + j] += second
                else:
                    sq += second
            if kind == SPHERICAL:
                stats[k, 1 + d] += sq
    return stats, xx, total_ll


@njit(parallel=True, cache=True, nogil=True)
def log_prob_rows(X, rows, kind, means, chol, prec, dprec, dlog, log_det):
    """Marginal component log-densities of rows ``rows`` of ``X`` (each may hold NaN).

    ``means`` are the raw means; the other arguments are those of
    :func:`estep_stats`. A row with nothing observed has log-density 0 under
    every component. Returns (len(rows), n_components) float64.
    """
    n = rows.shape[0]
    d = X.shape[1]
    K = means.shape[0]
    out = np.empty((n, K))
    zero = np.zeros(d)
    full_like = kind == FULL or kind == TIED
    n_chunks = max(1, min(n, 64))
    for c in prange(n_chunks):
        lo = (c * n) // n_chunks
        hi = ((c + 1) * n) // n_chunks
        obs = np.empty(d, dtype=np.int64)
        mis = np.empty(d, dtype=np.int64)
        A = np.empty((d, d))
        Linv = np.empty((d, d))
        C = np.empty((d, d))
        R = np.empty((d, d))
        dvec = np.empty(d)
        xhat = np.empty(d)
        for i in range(lo, hi):
            r = rows[i]
            no, nm = _pattern(X, r, obs, mis)
            for k in range(K):
                if no == 0:
                    out[i, k] = 0.0
                    continue
                if full_like:
                    ld = _pattern_factors(prec[k], obs, mis, no, nm, A, Linv, C, R)
                    q = _full_row(X, r, zero, means[k], chol[k], R, obs, mis, no, nm, dvec, xhat)
                    out[i, k] = log_det[k] - 0.5 * (no * _LOG_2PI + ld + q)
                else:
                    s = -0.5 * no * _LOG_2PI
                    for t in range(no):
                        j = obs[t]
                        dl = np.float64(X[r, j]) - means[k, j]
                        s += dlog[k, j] - 0.5 * dl * dl * dprec[k, j]
                    out[i, k] = s
    return out
