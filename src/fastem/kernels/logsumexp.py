"""Log-sum-exp over the components of each row, and the posterior probabilities from it.

Prediction ends where the fused kernels end: weighted log-densities ``(n, K)``
reduced per row to ``log p(x)`` (``score_samples``) or normalised to
responsibilities (``predict_proba``). ``scipy.special.logsumexp`` does this
in several full passes with ``(n, K)`` temporaries, which cost far more than
the log-densities themselves; here it is one row-parallel pass, with scipy's
rule for non-finite values (tested against it).
"""

import numpy as np
from numba import njit, prange

from ._common import group_bounds, sum_groups
from ._simd import exp_nonpositive


@njit(cache=True, inline="always")
def _row_max(a, r, K):
    """The row's largest value, and whether it holds a NaN."""
    mx = -np.inf
    nan = False
    for k in range(K):
        v = a[r, k]
        nan |= v != v
        if v > mx:
            mx = v
    return mx, nan


@njit(cache=True, inline="always")
def _scipy_row_logsumexp(a, r, K, mx):
    # scipy's rule: a non-finite maximum is not subtracted, so a row of -inf gives
    # -inf, a +inf gives +inf, and a NaN anywhere gives NaN.
    shift = mx if np.isfinite(mx) else 0.0
    s = 0.0
    for k in range(K):
        s += np.exp(a[r, k] - shift)
    return np.log(s) + shift


@njit(cache=True, inline="always")
def _row_norm(a, r, K, e):
    """The row's log-sum-exp, and whether it took the vector path (``e``: (K,) scratch).

    A row with a finite maximum and no NaN: exponentials first, sum after (a
    map over the row vectorises); any other row: scipy's rule.
    """
    mx, nan = _row_max(a, r, K)
    if nan or not np.isfinite(mx):
        return _scipy_row_logsumexp(a, r, K, mx), False
    for k in range(K):
        e[k] = exp_nonpositive(a[r, k] - mx)
    s = 0.0
    for k in range(K):
        s += e[k]
    return np.log(s) + mx, True


@njit(parallel=True, cache=True, nogil=True)
def logsumexp_rows(a):
    """``log(sum_k exp(a[r, k]))`` of every row, as ``scipy.special.logsumexp(a, axis=1)``.

    The exponentials of a row with a finite maximum are the vectorised
    :func:`._simd.exp_nonpositive` of the fused kernels (relative error below
    5e-16; terms below ``exp(-708)`` of the maximum count as 0, which cannot
    change a sum of at least 1); rows with non-finite values follow scipy's
    rule exactly.

    Parameters
    ----------
    a : ndarray of shape (n_samples, n_components), float64

    Returns
    -------
    ndarray of shape (n_samples,), float64
    """
    n, K = a.shape
    out = np.empty(n)
    n_chunks = _n_chunks(n)
    for c in prange(n_chunks):
        e = np.empty(K)
        for r in range(*group_bounds(n, n_chunks, c)):
            out[r] = _row_norm(a, r, K, e)[0]
    return out


@njit(parallel=True, cache=True, nogil=True)
def normalise_rows(a):
    """``a[r] = exp(a[r] - logsumexp(a[r]))`` in place: posterior probabilities.

    As :func:`logsumexp_rows`; a row with a NaN, or with no finite value,
    becomes NaN, as with scipy, and probabilities below ``exp(-708)`` keep
    their subnormal values.

    Parameters
    ----------
    a : ndarray of shape (n_samples, n_components), float64
        Weighted log-densities ``log pi_k + log p(x | k)``, overwritten.

    Returns
    -------
    ndarray of shape (n_samples,), float64
        Each row's log-sum-exp (``log p(x)``).
    """
    n, K = a.shape
    out = np.empty(n)
    n_chunks = _n_chunks(n)
    for c in prange(n_chunks):
        x = np.empty(K)
        for r in range(*group_bounds(n, n_chunks, c)):
            norm, vector = _row_norm(a, r, K, x)
            out[r] = norm
            row = a[r]
            if not vector:
                for k in range(K):
                    row[k] = np.exp(row[k] - norm)
                continue
            # exp(a - norm), as scipy's users compute it: the difference is <= 0.
            for k in range(K):
                x[k] = row[k] - norm
                row[k] = exp_nonpositive(x[k])
            for k in range(K):
                if x[k] < -708.0:
                    # exp_nonpositive's 0 below exp(-708): the subnormal value instead.
                    row[k] = np.exp(x[k])
    return out


@njit(parallel=True, cache=True, nogil=True)
def log_likelihood_and_entropy(a, sample_weight):
    """Summed log-likelihood and entropy of the posteriors of weighted log-densities.

    ``sum_r w_r logsumexp(a[r])`` and ``-sum_r w_r sum_k p_rk log p_rk`` with
    ``p_rk = exp(a[r, k] - logsumexp(a[r]))``, in one row-parallel pass with no
    ``(n, K)`` temporary (the model-selection criteria, ICL among them). Terms
    with ``p_rk = 0`` add nothing; rows with non-finite values follow
    :func:`logsumexp_rows` (a row of -inf gives -inf). The rows are summed in
    fixed contiguous runs, so the result does not depend on the thread count.

    Parameters
    ----------
    a : ndarray of shape (n_samples, n_components), float64
        Weighted log-densities ``log pi_k + log p(x | k)``.
    sample_weight : ndarray of shape (n_samples,) or (0,), float64
        Empty means every row has weight 1.

    Returns
    -------
    log_likelihood, entropy : float
    """
    n, K = a.shape
    weighted = sample_weight.shape[0] > 0
    n_chunks = _n_chunks(n)
    sums = np.zeros((n_chunks, 2))  # per chunk: log-likelihood, entropy
    for c in prange(n_chunks):
        e = np.empty(K)
        ll_c = 0.0
        entropy_c = 0.0
        for r in range(*group_bounds(n, n_chunks, c)):
            norm, vector = _row_norm(a, r, K, e)
            terms = 0.0
            if vector:
                # e holds exp(a - max); the posteriors are e / sum(e), no more exponentials.
                total = 0.0
                for k in range(K):
                    total += e[k]
                inv = 1.0 / total
                for k in range(K):
                    p = e[k] * inv
                    if p > 0.0:
                        terms += p * (a[r, k] - norm)
            else:
                for k in range(K):
                    log_p = a[r, k] - norm
                    p = np.exp(log_p)
                    if p > 0.0:
                        terms += p * log_p
            w = sample_weight[r] if weighted else 1.0
            ll_c += w * norm
            entropy_c -= w * terms
        sums[c, 0] = ll_c
        sums[c, 1] = entropy_c
    total = sum_groups(sums)
    return total[0], total[1]


@njit(cache=True, inline="always")
def _n_chunks(n):
    # Contiguous runs of rows per parallel iteration: a row is too little work.
    return max(1, min(n, 256))
