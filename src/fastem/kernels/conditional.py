"""Conditional distributions of missing coordinates under a Gaussian mixture.

For a row with observed coordinates ``o`` and missing ones ``m``, component
``k`` (weight ``w_k``, mean ``mu_k``, covariance ``S_k``) gives

* the posterior ``p(k | x_o) ~ w_k N(x_o | mu_k,o, S_k,oo)``;
* the conditional mean ``E[x_m | x_o, k] = mu_k,m + S_k,mo S_k,oo^-1 (x_o - mu_k,o)``;
* the conditional covariance ``S_k,mm - S_k,mo S_k,oo^-1 S_k,om``.

With the Cholesky factor ``S_k,oo = L L^T`` and ``B = L^-1 S_k,om`` (computed
once per missingness pattern and component), a row needs one triangular solve
``z = L^-1 (x_o - mu_k,o)``: its Mahalanobis distance is ``|z|^2``, its
conditional mean ``mu_k,m + B^T z``, and the conditional covariance of the
pattern is ``S_k,mm - B^T B``. Rows arrive grouped by pattern; patterns are
spread over the threads by ``prange``.
"""

import numpy as np
from numba import njit, prange

_LOG_2PI = float(np.log(2.0 * np.pi))


@njit(cache=True)
def _cholesky(A, n):
    """Lower Cholesky factor of ``A[:n, :n]`` in place (upper triangle zeroed).

    A non-positive pivot (a singular matrix, as a conditional covariance of a
    degenerate model can be to round-off) gives a zero column instead of
    NaN: a direction without variance.
    """
    for j in range(n):
        s = A[j, j]
        for p in range(j):
            s -= A[j, p] * A[j, p]
        pivot = np.sqrt(s) if s > 0.0 else 0.0
        A[j, j] = pivot
        for i in range(j + 1, n):
            t = A[i, j]
            for p in range(j):
                t -= A[i, p] * A[j, p]
            A[i, j] = t / pivot if pivot > 0.0 else 0.0
        for i in range(j):
            A[i, j] = 0.0


@njit(cache=True)
def _forward(L, n, b):
    """Solve ``L[:n, :n] y = b[:n]`` in place (``L`` lower-triangular, positive diagonal)."""
    for i in range(n):
        s = b[i]
        for p in range(i):
            s -= L[i, p] * b[p]
        b[i] = s / L[i, i]


@njit(cache=True)
def _pattern(X, order, r0, r1, log_weights, means, covariances, draw, u, eps):
    """Rows ``order[r0:r1]`` (one missingness pattern) of :func:`conditional_fill`.

    A row's observed values are read before its missing ones are written.
    """
    K, D = means.shape
    first = order[r0]
    obs = np.empty(D, dtype=np.int64)
    mis = np.empty(D, dtype=np.int64)
    no = 0
    nm = 0
    for j in range(D):
        if np.isnan(X[first, j]):
            mis[nm] = j
            nm += 1
        else:
            obs[no] = j
            no += 1
    L = np.zeros((K, max(no, 1), max(no, 1)))
    B = np.zeros((K, max(no, 1), nm))
    C = np.zeros((K, nm, nm))
    log_norm = np.empty(K)
    for k in range(K):
        S = covariances[k]
        Lk = L[k]
        for a in range(no):
            for b in range(no):
                Lk[a, b] = S[obs[a], obs[b]]
        _cholesky(Lk, no)
        logdet = 0.0
        for a in range(no):
            logdet += 2.0 * np.log(Lk[a, a])
        log_norm[k] = log_weights[k] - 0.5 * (logdet + no * _LOG_2PI)
        column = np.empty(max(no, 1))
        for c in range(nm):
            for a in range(no):
                column[a] = S[obs[a], mis[c]]
            _forward(Lk, no, column)
            for a in range(no):
                B[k, a, c] = column[a]
        if draw:
            Ck = C[k]
            for c in range(nm):
                for e in range(nm):
                    s = S[mis[c], mis[e]]
                    for a in range(no):
                        s -= B[k, a, c] * B[k, a, e]
                    Ck[c, e] = s
            _cholesky(Ck, nm)
    z = np.empty(max(no, 1))
    lp = np.empty(K)
    cm = np.empty((K, nm))
    for r in range(r0, r1):
        i = order[r]
        for k in range(K):
            for a in range(no):
                z[a] = X[i, obs[a]] - means[k, obs[a]]
            _forward(L[k], no, z)
            maha = 0.0
            for a in range(no):
                maha += z[a] * z[a]
            lp[k] = log_norm[k] - 0.5 * maha
            for c in range(nm):
                s = means[k, mis[c]]
                for a in range(no):
                    s += B[k, a, c] * z[a]
                cm[k, c] = s
        top = lp[0]
        for k in range(1, K):
            top = max(top, lp[k])
        total = 0.0
        for k in range(K):
            lp[k] = np.exp(lp[k] - top)
            total += lp[k]
        for k in range(K):
            lp[k] /= total
        if draw:
            # The component by inverse CDF of the posterior, then its conditional draw.
            chosen = K - 1
            cumulative = 0.0
            for k in range(K):
                cumulative += lp[k]
                if u[i] < cumulative:
                    chosen = k
                    break
            Ck = C[chosen]
            for c in range(nm):
                s = cm[chosen, c]
                for e in range(c + 1):
                    s += Ck[c, e] * eps[i, e]
                X[i, mis[c]] = s
        else:
            for c in range(nm):
                s = 0.0
                for k in range(K):
                    s += lp[k] * cm[k, c]
                X[i, mis[c]] = s


@njit(parallel=True, cache=True)
def conditional_fill(X, order, starts, log_weights, means, covariances, draw, u, eps):
    """Fill the NaN entries of ``X``, in place, from their conditional distributions.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        Rows; NaN marks a missing value. Every NaN is replaced; observed
        values are left as they are.
    order : ndarray of shape (n_incomplete,), int64
        The rows holding a NaN, grouped by missingness pattern.
    starts : ndarray of shape (n_patterns + 1,), int64
        Pattern ``p`` is ``order[starts[p]:starts[p + 1]]``.
    log_weights : ndarray of shape (n_components,)
        Logarithms of the mixture weights (``-inf`` for weight 0).
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
        Full, symmetric positive-definite covariances.
    draw : bool
        False: the conditional expectation ``sum_k p(k | x_o) E[x_m | x_o, k]``.
        True: a draw from the conditional distribution, component ``k`` by
        the posterior, then ``x_m ~ N(E[x_m | x_o, k], Cov[x_m | x_o, k])``.
    u : ndarray of shape (n_samples,)
        Uniform draws on [0, 1) choosing the components (read when ``draw``).
    eps : ndarray of shape (n_samples, n_features)
        Standard normal draws (read when ``draw``): row ``i``'s first
        ``len(m)`` values, through the Cholesky factor of the conditional
        covariance.
    """
    for p in prange(starts.shape[0] - 1):
        _pattern(X, order, starts[p], starts[p + 1], log_weights, means, covariances, draw, u, eps)
