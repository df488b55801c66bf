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
  is read in place (C-ordered rows; other layouts through a block buffer). The
  block's missing cells are found once, in the filled features, as a list of
  (row, column) pairs that the three corrections share: a missing value is
  zeroed in the features ``T(x')``, which removes every term of its coordinate
  from the product ``T W`` but the constant one,
  ``-log(2 pi s_kj) / 2 - mu_kj^2 / (2 s_kj)``, subtracted per missing cell;
  its expected statistics (the component's ``mu_kj`` and ``mu_kj^2 + s_kj``)
  are added at the end from the responsibilities summed per component and
  column. No row-by-row path.
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
"""

import numpy as np
from numba import njit, prange
from numba.extending import overload

from ._common import block_layout, group_bounds
from ._simd import exp_nonpositive, zeros_aligned
from .gaussian import (
    DIAG,
    FULL,
    SPHERICAL,
    TIED,
    _accumulate,
    _column_sums,
    _fill_features,
    _padded_shapes,
    _prefetch_rows,
    _product_tn,
    _reduce_groups,
    _subtract_tied_quadratic,
    _sum_log_plus,
    _zero_padding_and_max,
)

_LOG_2PI = np.log(2.0 * np.pi)


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


# -- per pattern: the factorisation of P_mm ------------------------------------------------
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


@njit(cache=True)
def _pattern_factors(P, obs, mis, no, nm, A, Linv, C, R):
    """Conditional covariance ``C = (P_mm)^-1``, ``R = C P_mo`` and ``log det P_mm``.

    ``A`` and ``Linv`` are (D, D) scratch. One Cholesky factorisation of the
    ``nm x nm`` block serves every row of the pattern.
    """
    for a in range(nm):
        for b in range(nm):
            A[a, b] = P[mis[a], mis[b]]
    log_det = 0.0
    tiny = 1e-300
    for j in range(nm):
        s = A[j, j]
        for c in range(j):
            s -= A[j, c] * A[j, c]
        # P is positive definite, so is its principal block; the floor only keeps a
        # round-off casualty of an extremely ill-conditioned precision finite.
        s = max(s, tiny)
        diag = np.sqrt(s)
        A[j, j] = diag
        log_det += 2.0 * np.log(diag)
        for i in range(j + 1, nm):
            t = A[i, j]
            for c in range(j):
                t -= A[i, c] * A[j, c]
            A[i, j] = t / diag
    # Linv = L^-1 (lower), then C = Linv^T Linv.
    for j in range(nm):
        for i in range(nm):
            Linv[i, j] = 0.0
        Linv[j, j] = 1.0 / A[j, j]
        for i in range(j + 1, nm):
            t = 0.0
            for c in range(j, i):
                t -= A[i, c] * Linv[c, j]
            Linv[i, j] = t / A[i, i]
    for a in range(nm):
        for b in range(a, nm):
            s = 0.0
            for c in range(b, nm):
                s += Linv[c, a] * Linv[c, b]
            C[a, b] = s
            C[b, a] = s
    for a in range(nm):
        for t in range(no):
            s = 0.0
            for b in range(nm):
                s += C[a, b] * P[mis[b], obs[t]]
            R[a, t] = s
    return log_det


@njit(cache=True, fastmath={"reassoc", "contract"})
def _lower_quadratic(L, v):
    """``|L v|^2`` for lower-triangular ``L`` (row dot products, reassociated to vectorise)."""
    q = 0.0
    for c in range(v.shape[0]):
        row = L[c]
        s = 0.0
        for j in range(c + 1):
            s += row[j] * v[j]
        q += s * s
    return q


@njit(cache=True)
def _full_row(X, r, shift, mean, Ut, R, obs, mis, no, nm, dvec, xhat):
    """Completed shifted row ``xhat`` (conditional mean) and its quadratic form.

    ``mean`` is the component's shifted mean and ``Ut`` the transposed
    (lower) precision Cholesky factor; ``dvec`` (D,) scratch receives
    ``xhat - mean``. Returns ``(xhat - mean)^T P (xhat - mean) = |Ut dvec|^2``.
    """
    d = X.shape[1]
    for t in range(no):
        j = obs[t]
        dvec[j] = (np.float64(X[r, j]) - shift[j]) - mean[j]
    for a in range(nm):
        s = 0.0
        for t in range(no):
            s += R[a, t] * dvec[obs[t]]
        dvec[mis[a]] = -s
    q = _lower_quadratic(Ut, dvec)
    for j in range(d):
        xhat[j] = mean[j] + dvec[j]
    return q


@njit(cache=True)
def _responsibilities(lp, K):
    """``lp`` turned into responsibilities in place; returns ``log sum exp(lp)``."""
    mx = lp[0]
    for k in range(1, K):
        mx = max(mx, lp[k])
    for k in range(K):
        lp[k] = exp_nonpositive(lp[k] - mx)
    total = 0.0
    for k in range(K):
        total += lp[k]
    for k in range(K):
        lp[k] /= total
    return mx + np.log(total)


@njit(cache=True)
def _vech_index(i, j, d):
    """Position of ``x_i x_j`` (i <= j) among the upper-triangle features."""
    return i * d - (i * (i - 1)) // 2 + (j - i)


@njit(cache=True)
def _missing_rows_full(
    X,
    rows,
    n_rows,
    keys,
    sample_weight,
    weighted,
    shift,
    kind,
    means,
    chol,
    prec,
    log_det,
    log_weights,
    acc,
    acc_xx,
    work,
):
    """Statistics of rows ``rows[:n_rows]`` (each with a NaN), full or tied; their log-lik sum.

    The rows come sorted by their pattern ``keys``: consecutive rows of one
    pattern share its factorisation.
    """
    obs, mis, A, Linv, Cs, Rs, ldA, dvec, xhat, lp, rsum = work
    d = X.shape[1]
    K = means.shape[0]
    ll = 0.0
    i = 0
    n_factors = 1 if kind == TIED else K
    while i < n_rows:
        r0 = rows[i]
        e = i + 1
        while e < n_rows and keys[e] == keys[i] and _same_pattern(X, rows[e], r0):
            e += 1
        no, nm = _pattern(X, r0, obs, mis)
        for k in range(n_factors):
            ldA[k] = _pattern_factors(prec[k], obs, mis, no, nm, A, Linv, Cs[k], Rs[k])
        for k in range(K):
            rsum[k] = 0.0
        for q in range(i, e):
            r = rows[q]
            w = sample_weight[r] if weighted else 1.0
            for k in range(K):
                f = 0 if kind == TIED else k
                qf = _full_row(
                    X, r, shift, means[k], chol[k], Rs[f], obs, mis, no, nm, dvec, xhat[k]
                )
                if no == 0:
                    lp[k] = log_weights[k]
                else:
                    lp[k] = log_weights[k] + log_det[k] - 0.5 * (no * _LOG_2PI + ldA[f] + qf)
            ll += w * _responsibilities(lp, K)
            for k in range(K):
                rk = w * lp[k]
                if rk == 0.0:
                    continue
                rsum[k] += rk
                xk = xhat[k]
                acc[k, 0] += rk
                for j in range(d):
                    acc[k, 1 + j] += rk * xk[j]
                if kind == FULL:
                    idx = 1 + d
                    for a in range(d):
                        v = rk * xk[a]
                        for b in range(a, d):
                            acc[k, idx] += v * xk[b]
                            idx += 1
                else:
                    for a in range(d):
                        v = rk * xk[a]
                        for b in range(d):
                            acc_xx[a, b] += v * xk[b]
        # The conditional covariance, once per pattern from the summed responsibilities.
        if kind == FULL:
            for k in range(K):
                C = Cs[k]
                for a in range(nm):
                    for b in range(a, nm):
                        acc[k, 1 + d + _vech_index(mis[a], mis[b], d)] += rsum[k] * C[a, b]
        else:
            total = 0.0
            for k in range(K):
                total += rsum[k]
            C = Cs[0]
            for a in range(nm):
                for b in range(nm):
                    acc_xx[mis[a], mis[b]] += total * C[a, b]
        i = e
    return ll


def _rows_source(X, Xc, start, stop):
    """``(source, offset)``: rows ``start:stop`` of ``X`` as rows ``offset:`` of ``source``."""
    raise NotImplementedError  # pragma: no cover - only the Numba overload is used


@overload(_rows_source, inline="always")
def _rows_source_impl(X, Xc, start, stop):
    if X.layout == "C":
        # Read in place: the block pipeline's fill streams C rows as they are.
        def in_place(X, Xc, start, stop):
            return X, start

        return in_place

    def copied(X, Xc, start, stop):
        # Any other layout goes through the block buffer, so that the fill is
        # compiled for C rows only.
        for r in range(start, stop):
            dst = Xc[r - start]
            for j in range(X.shape[1]):
                dst[j] = X[r, j]
        return Xc, 0

    return copied


@njit(cache=True)
def _find_missing(m, kind, xs, T, flags, cell_row, cell_col):
    """Missing cells of a filled block's ``m`` rows as (local row, column) pairs, in row order.

    A NaN reaches the filled features unchanged (inf is refused at input), so
    a row holds one if the sum of its features is NaN (a sum can also be NaN
    from opposite overflows: that row is only read for nothing). The sums are
    branch-free passes over the block that vectorise (spherical: its squared
    norms alone); only the rows they flag are then read cell by cell.
    ``flags`` (m,) is float64 scratch. Returns the number of cells.
    """
    d = xs.shape[0]
    if kind == SPHERICAL:
        norm = T[1 + d]
        for r in range(m):
            flags[r] = norm[r]
    else:
        a = xs[0]
        for r in range(m):
            flags[r] = a[r]
        for j in range(1, d):
            a = xs[j]
            for r in range(m):
                flags[r] += a[r]
    nc = 0
    for r in range(m):
        if flags[r] != flags[r]:
            for j in range(d):
                # Branch-free: a cell is written every time and kept if missing.
                v = xs[j, r]
                cell_row[nc] = r
                cell_col[nc] = j
                nc += v != v
    return nc


@njit(cache=True)
def _patch_missing(cell_row, cell_col, n_cells, kind, xs, T):
    """Zero the missing cells ``(cell_row, cell_col)[:n_cells]`` (local rows) of a filled block.

    The shifted value and its square (diag) or the row's squared norm
    (spherical) become those of a row with ``x' = 0`` there, so that the
    block product leaves out every term of the missing coordinates but the
    constant ones, which :func:`_drop_missing_terms` takes out.
    """
    d = xs.shape[0]
    for c in range(n_cells):
        r = cell_row[c]
        j = cell_col[c]
        xs[j, r] = 0.0
        if kind == DIAG:
            T[1 + d + j, r] = 0.0
    if kind == SPHERICAL:
        # The cells come in row order: one norm per row holding NaN.
        c = 0
        while c < n_cells:
            r = cell_row[c]
            norm = 0.0
            for j in range(d):
                norm += xs[j, r] * xs[j, r]
            T[1 + d, r] = norm
            while c < n_cells and cell_row[c] == r:
                c += 1


@njit(cache=True)
def _drop_missing_terms(cell_row, cell_col, n_cells, W_missing, logp, v):
    """Subtract each missing cell's constant terms from its row's log-densities.

    Summed per row in the contiguous ``v`` (K,) first, so that a row's
    log-densities (a column of ``logp``) are visited once.
    """
    K = W_missing.shape[1]
    c = 0
    while c < n_cells:
        r = cell_row[c]
        for k in range(K):
            v[k] = 0.0
        while c < n_cells and cell_row[c] == r:
            w = W_missing[cell_col[c]]
            for k in range(K):
                v[k] += w[k]
            c += 1
        for k in range(K):
            logp[k, r] += v[k]


@njit(cache=True)
def _count_missing(cell_row, cell_col, n_cells, logp, missing_resp, v):
    """``missing_resp[j, k] += r_nk w_n`` for every missing cell ``(n, j)``.

    A row's responsibilities (a column of ``logp``) are gathered once into the
    contiguous ``v`` (K,).
    """
    K = missing_resp.shape[1]
    c = 0
    while c < n_cells:
        r = cell_row[c]
        for k in range(K):
            v[k] = logp[k, r]
        while c < n_cells and cell_row[c] == r:
            out = missing_resp[cell_col[c]]
            for k in range(K):
                out[k] += v[k]
            c += 1


@njit(cache=True)
def _block_rows(
    X,
    p0,
    p1,
    m,
    wc,
    weighted,
    kind,
    K,
    path,
    Wp,
    Wt,
    Up,
    Ut,
    T,
    xs,
    xw,
    logp,
    mx,
    total,
    w_block,
    part,
    part_xx,
    Y,
    acc_g,
    acc_xx_g,
    ll,
    cell_row,
    cell_col,
    n_cells,
    W_missing,
    missing_resp,
    scratch,
):
    """The fused block pipeline of ``kernels.gaussian.estep_stats`` on a filled block.

    ``T`` (and its view ``xs``) hold the features of ``m`` rows, filled by
    :func:`fastem.kernels.gaussian._fill_features` (by the caller, from the
    block buffer or in place), and ``wc[:m]`` their weights. Rows ``p0:p1`` of
    ``X`` (the next block) are prefetched between the components'
    exponentials, as in the complete-data kernel. Returns ``ll`` plus the rows'
    log-likelihood sum, added in the complete-data kernel's order (so that a
    block without NaN gives its bits). Diagonal and spherical models: the cells
    ``(cell_row, cell_col)[:n_cells]`` (local rows) hold NaN, which are zeroed
    first; ``W_missing`` (D, K) takes out the missing coordinates' constant
    terms and ``missing_resp`` (D, K) sums the responsibilities of the rows
    missing each coordinate; ``scratch`` holds at least K values.
    """
    B = T.shape[1]
    if n_cells > 0:
        _patch_missing(cell_row, cell_col, n_cells, kind, xs, T)
    _product_tn(path, Wp, Wt, T, logp)
    if kind == TIED:
        _subtract_tied_quadratic(path, Up, Ut, xs, Y, total, logp, K)
    if n_cells > 0:
        _drop_missing_terms(cell_row, cell_col, n_cells, W_missing, logp, scratch)
    _zero_padding_and_max(logp, m, K, mx)
    for k in range(K):
        row = logp[k]
        for r in range(B):
            row[r] = exp_nonpositive(row[r] - mx[r])
        _prefetch_rows(X, p0, p1, k, K)
    _column_sums(logp, K, total)
    for r in range(B):
        w_block[r] = wc[r] if r < m else 0.0
    if weighted:
        for r in range(m):
            ll += w_block[r] * (mx[r] + np.log(total[r]))
    else:
        ll += _sum_log_plus(mx, total, m)
    for r in range(B):
        total[r] = w_block[r] / total[r]
    for k in range(K):
        row = logp[k]
        for r in range(B):
            row[r] *= total[r]
    for k in range(K, logp.shape[0]):
        for r in range(B):
            logp[k, r] = 0.0
    if n_cells > 0:
        _count_missing(cell_row, cell_col, n_cells, logp, missing_resp, scratch)
    _accumulate(logp, T, xs, xw, w_block, kind, path, part, acc_g, part_xx, acc_xx_g)
    return ll


@njit(cache=True)
def _pattern_weights(prec, means, log_det, log_weights, obs, mis, no, nm, work, Wq, Wqt):
    """Natural parameters of every component's marginal on a pattern's observed coordinates.

    ``Wq`` (F, K) gets, per component, the weights of ``N(x_o | mu_o, Sigma_oo)``
    on the features ``T(x')`` of rows whose missing ``x'`` are 0: the marginal
    precision is the Schur complement ``Lam = P_oo - P_om (P_mm)^-1 P_mo``, and
    ``log det Lam = log det P - log det P_mm``. ``Wqt`` is ``Wq.T``. Leaves
    every component's ``(P_mm)^-1`` and ``(P_mm)^-1 P_mo`` in ``work``.
    """
    A, Linv, Cs, Rs, Lam = work
    d = means.shape[1]
    K = means.shape[0]
    for f in range(Wq.shape[0]):
        for k in range(Wq.shape[1]):
            Wq[f, k] = 0.0
    for k in range(K):
        P = prec[k]
        R = Rs[k]
        mu = means[k]
        ld = _pattern_factors(P, obs, mis, no, nm, A, Linv, Cs[k], R)
        for t in range(no):
            for u in range(t, no):
                s = P[obs[t], obs[u]]
                for a in range(nm):
                    s -= P[obs[t], mis[a]] * R[a, u]
                Lam[t, u] = s
                Lam[u, t] = s
        quad = 0.0
        for t in range(no):
            s = 0.0
            for u in range(no):
                s += Lam[t, u] * mu[obs[u]]
            Wq[1 + obs[t], k] = s
            quad += s * mu[obs[t]]
            Wq[1 + d + _vech_index(obs[t], obs[t], d), k] = -0.5 * Lam[t, t]
            for u in range(t + 1, no):
                Wq[1 + d + _vech_index(obs[t], obs[u], d), k] = -Lam[t, u]
        if no == 0:
            Wq[0, k] = log_weights[k]
        else:
            Wq[0, k] = log_weights[k] + log_det[k] - 0.5 * (no * _LOG_2PI + ld + quad)
    for f in range(Wq.shape[0]):
        for k in range(Wq.shape[1]):
            Wqt[k, f] = Wq[f, k]


@njit(cache=True)
def _complete_pattern_stats(src, dst, mean, C, R, obs, mis, no, nm, S2, GS, bvec, g1):
    """Add the expected statistics of a pattern's rows to ``dst`` from their plain ones.

    ``src`` holds ``sum r T(x')`` of the rows with their missing ``x'`` at 0.
    The conditional mean ``xhat_m = b + G x'_o`` (``b = mu_m + R mu_o``,
    ``G = -R``) is affine in ``x'_o``, so the sums of ``xhat`` and ``xhat xhat^T``
    follow from ``s0 = sum r``, ``s1 = sum r x'`` and ``S2 = sum r x' x'^T``;
    the conditional covariance ``C`` adds ``s0 C`` on the missing block.
    """
    d = mean.shape[0]
    n_stat = 1 + d + d * (d + 1) // 2
    s0 = src[0]
    if s0 == 0.0:
        return
    for f in range(n_stat):
        dst[f] += src[f]
    for a in range(d):
        for b in range(a, d):
            v = src[1 + d + _vech_index(a, b, d)]
            S2[a, b] = v
            S2[b, a] = v
    for a in range(nm):
        ja = mis[a]
        bb = mean[ja]
        gg = 0.0
        for t in range(no):
            bb += R[a, t] * mean[obs[t]]
            gg -= R[a, t] * src[1 + obs[t]]
        bvec[a] = bb
        g1[a] = gg
        dst[1 + ja] += s0 * bb + gg
        for t in range(no):
            jt = obs[t]
            s = 0.0
            for u in range(no):
                s -= R[a, u] * S2[obs[u], jt]
            GS[a, t] = s
            dst[1 + d + _vech_index(min(ja, jt), max(ja, jt), d)] += bb * src[1 + jt] + s
    for a in range(nm):
        for c in range(a, nm):
            s = s0 * (bvec[a] * bvec[c] + C[a, c]) + bvec[a] * g1[c] + g1[a] * bvec[c]
            for u in range(no):
                s -= GS[a, u] * R[c, u]
            dst[1 + d + _vech_index(mis[a], mis[c], d)] += s


@njit(cache=True)
def _full_pattern_rows(
    X,
    rows,
    sample_weight,
    weighted,
    shift,
    means,
    prec,
    log_det,
    log_weights,
    path,
    obs,
    mis,
    pattern_work,
    Wq,
    Wqt,
    acc_q,
    shift_q,
    completion,
    Xc,
    wc,
    block,
    acc_g,
    ll,
):
    """Rows ``rows`` (all of one missingness pattern) of a full model, in blocks on the tiles.

    One set of marginal weights per (pattern, component) serves every block:
    the rows, their missing values at 0 (and a 0 shift there), go through the
    block pipeline into the pattern's own ``acc_q``, which then becomes the
    expected statistics. Returns ``ll`` plus the rows' log-likelihood sum.
    """
    T, xs, xw, logp, mx, total, w_block, part, part_xx, Y, Up, Ut, acc_xx_g, cells, Wm, mr = block
    S2, GS, bvec, g1 = completion
    # Runtime values, not the constants, so that this call of the block pipeline
    # shares its compiled form with the one of the complete rows.
    kind = shift.shape[0] * 0 + FULL
    no_nan = kind * 0
    d = X.shape[1]
    K = means.shape[0]
    B = T.shape[1]
    n = rows.shape[0]
    no, nm = _pattern(X, rows[0], obs, mis)
    _pattern_weights(prec, means, log_det, log_weights, obs, mis, no, nm, pattern_work, Wq, Wqt)
    for j in range(d):
        shift_q[j] = shift[j]
    for a in range(nm):
        shift_q[mis[a]] = 0.0
    for k in range(acc_q.shape[0]):
        for f in range(acc_q.shape[1]):
            acc_q[k, f] = 0.0
    for q0 in range(0, n, B):
        mb = min(n, q0 + B) - q0
        for t in range(mb):
            r = rows[q0 + t]
            dst = Xc[t]
            for j in range(d):
                dst[j] = X[r, j]
            for a in range(nm):
                dst[mis[a]] = 0.0
            wc[t] = sample_weight[r] if weighted else 1.0
        _fill_features(Xc, 0, mb, shift_q, kind, xs, T)
        ll = _block_rows(
            X, no_nan, no_nan, mb, wc, weighted, kind, K, path, Wq, Wqt, Up, Ut, T, xs, xw,
            logp, mx, total, w_block, part, part_xx, Y, acc_q, acc_xx_g, ll, cells, cells,
            no_nan, Wm, mr, mx,
        )  # fmt: skip
    _, _, Cs, Rs, _ = pattern_work
    for k in range(K):
        _complete_pattern_stats(
            acc_q[k], acc_g[k], means[k], Cs[k], Rs[k], obs, mis, no, nm, S2, GS, bvec, g1
        )
    return ll


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
    Fp, Kp, dp, B = _padded_shapes(path, F, K, d, block_size)
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
        # Diag and spherical: a block's missing cells, found once per block.
        n_cells_max = 0 if full_like else B * d
        cell_row = np.empty(n_cells_max, dtype=np.int64)
        cell_col = np.empty(n_cells_max, dtype=np.int64)
        flags = np.empty(0 if full_like else B)
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
                # Every row takes the block pipeline, read in place (C rows); the
                # missing cells are found in the filled block.
                m = stop - start
                for r in range(m):
                    wc[r] = sample_weight[start + r] if weighted else 1.0
                src, s0 = _rows_source(X, Xc, start, stop)
                _fill_features(src, s0, s0 + m, shift, kind, xs, T)
                nc = _find_missing(m, kind, xs, T, flags, cell_row, cell_col)
                ll_g = _block_rows(
                    X, stop, min(n, stop + B), m, wc, weighted, kind, K, path, Wp, Wt, Up, Ut,
                    T, xs, xw, logp, mx, total, w_block, part, part_xx, Y, acc[g], acc_xx[g],
                    ll_g, cell_row, cell_col, nc, W_missing, missing_resp[g], scratch,
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
                    ll_g, cell_row, cell_col, mc * 0, W_missing, missing_resp[g], scratch,
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
                cell_row, W_missing, missing_resp[g],
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


# -- prediction ----------------------------------------------------------------------------
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


# -- initialisation ------------------------------------------------------------------------
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
        for r in range(b0 * block_size, min(n, b1 * block_size)):
            w = sample_weight[r] if weighted else 1.0
            for j in range(d):
                x = X[r, j]
                if np.isnan(x):
                    n_missing[g] += 1
                    continue
                v = np.float64(x) - origin[j]
                s0[g, j] += w
                s1[g, j] += w * v
                s2[g, j] += w * v * v
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
                nk[g, k] += rk
                if complete:
                    nkc[g, k] += rk
                    # Complete rows count for every pair: summed once per component.
                    for i in range(d):
                        v = rk * xv[i]
                        m1[g, k, i] += v
                        for j in range(i, d):
                            m2[g, k, i, j] += v * xv[j]
                    continue
                for i in range(d):
                    if not ok[i]:
                        continue
                    v = rk * xv[i]
                    for j in range(d):
                        if ok[j]:
                            cnt[g, k, i, j] += rk
                            f1[g, k, i, j] += v
                            f2[g, k, i, j] += v * xv[j]
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


# -- k-means geometry on the observed coordinates -------------------------------------------
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
            counts[g, best] += w
            inertia[g] += w * best_d
            for j in range(d):
                x = X[r, j]
                if not np.isnan(x):
                    sums[g, best, j] += w * (np.float64(x) - centers[best, j])
    return counts.sum(axis=0), sums.sum(axis=0), inertia.sum()
