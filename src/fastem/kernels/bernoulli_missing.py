"""Missing entries of dense uint8 Bernoulli rows: finding them and rewriting their rows.

A missing entry is the code :data:`MISSING` (2).  :func:`incomplete_rows` finds
the rows holding it and :func:`augmented_rows` rewrites them as ``[x, m]``
(observed values, then missing indicators), on which the dense kernels of
:mod:`.bernoulli` marginalise the missing features with weights ``[W; V]``
(see ``fastem.families.bernoulli``).
"""

import numpy as np
from numba import njit, prange

#: Code of a missing entry in uint8 rows (0 and 1 are the observed values).
MISSING = 2


@njit(parallel=True, cache=True)
def incomplete_rows(X):
    """Whether each uint8 row holds a :data:`MISSING` entry, shape (n_samples,), bool."""
    n, d = X.shape
    out = np.empty(n, dtype=np.bool_)
    for i in prange(n):
        # The row's largest code, by a loop without exits that vectorises.
        top = np.uint8(0)
        for j in range(d):
            top = max(top, X[i, j])
        out[i] = top >= MISSING
    return out


@njit(parallel=True, cache=True)
def augmented_rows(X, rows):
    """Rows ``rows`` of uint8 ``X`` as ``[x, m]``, shape (len(rows), 2 D), uint8.

    ``x`` holds the observed 0/1 values with 0 at missing entries and ``m`` the
    missing indicators, so that a score ``x @ W + m @ V + c`` marginalises the
    missing features with ``V = -log(1 - mu)`` and the statistics of ``m`` count
    the responsibility of the rows where a feature is missing. The dense kernels
    then run unchanged on these rows, with ``[W; V]`` as weights.
    """
    d = X.shape[1]
    out = np.empty((rows.shape[0], 2 * d), dtype=np.uint8)
    one = np.uint8(1)
    for r in prange(rows.shape[0]):
        source = X[rows[r]]
        target = out[r]
        # Codes 0, 1, 2 (missing): the value is the low bit, the indicator the high one.
        for j in range(d):
            target[j] = source[j] & one
        for j in range(d):
            target[d + j] = source[j] >> one
    return out
