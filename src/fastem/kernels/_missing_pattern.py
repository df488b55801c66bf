"""One missingness pattern under full or tied precisions, and its rows one by one.

Per (pattern, component), one Cholesky factorisation of the block ``P_mm`` of
the precision gives the conditional covariance ``(P_mm)^-1`` and the
regression coefficients ``(P_mm)^-1 P_mo``; a row is completed by its
conditional mean, whose quadratic form is the marginal's. On these, the
row-by-row expected statistics of the NaN E-step (rare patterns, tied models)
and the log-densities for predict (:mod:`.gaussian_missing`).
"""

import numpy as np
from numba import njit

from ._gaussian_features import FULL, TIED
from ._simd import exp_nonpositive
from .missing_rows import _pattern, _same_pattern

_LOG_2PI = np.log(2.0 * np.pi)


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
