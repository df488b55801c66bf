"""The features ``T(x')`` of the Gaussian kernels: covariance kinds, length, a block's fill.

With shifted rows ``x' = x - shift`` the weighted log-density of component k is
linear in ``T(x') = [1, x', q(x')]`` (``q`` = the upper triangle of ``x' x'^T``
for full covariances, ``x'**2`` for diag, ``|x'|^2`` for spherical, nothing for
tied, whose shared quadratic term is added per row). A block's features are
stored feature-major. See docs/architecture.md, "The fused kernel".
"""

from numba import njit

from ._rows import _transpose_shifted

FULL = 0
TIED = 1
DIAG = 2
SPHERICAL = 3


@njit(cache=True)
def n_stat_features(kind, n_features):
    """Length of the feature vector ``T(x)`` for a covariance kind."""
    d = n_features
    if kind == FULL:
        return 1 + d + d * (d + 1) // 2
    if kind == DIAG:
        return 1 + 2 * d
    if kind == SPHERICAL:
        return 2 + d
    return 1 + d


@njit(cache=True, inline="always")
def _constant_and_padding(xs, T, m):
    """The constant feature of a block's ``m`` rows, and zeros in its columns past them."""
    B = T.shape[1]
    for j in range(xs.shape[0]):
        for r in range(m, B):
            xs[j, r] = 0.0
    for r in range(m):
        T[0, r] = 1.0
    for r in range(m, B):
        T[0, r] = 0.0


@njit(cache=True)
def _fill_features(X, start, stop, shift, kind, xs, T):
    """Shifted rows and their features, feature-major, for rows ``start:stop``.

    ``T`` is (n_stat_features, block) and ``xs`` the view ``T[1:1 + n_features]``
    of its linear rows: the inner loops run across rows, so they vectorise, and
    the block products read contiguous rows. Columns past ``stop - start`` are
    zeroed: they meet zero responsibilities, and 0 * stale-inf would be NaN.
    """
    d = X.shape[1]
    B = T.shape[1]
    _transpose_shifted(X, start, stop, shift, xs)
    _constant_and_padding(xs, T, stop - start)
    # Products through row views: indexing ``T`` in 2-D next to its alias ``xs``
    # kept LLVM from vectorising these loops.
    if kind == FULL:
        idx = 1 + d
        for i in range(d):
            a = xs[i]
            for j in range(i, d):
                b = xs[j]
                out = T[idx]
                for r in range(B):
                    out[r] = a[r] * b[r]
                idx += 1
    elif kind == DIAG:
        for j in range(d):
            a = xs[j]
            out = T[1 + d + j]
            for r in range(B):
                out[r] = a[r] * a[r]
    elif kind == SPHERICAL:
        out = T[1 + d]
        for r in range(B):
            out[r] = 0.0
        for j in range(d):
            a = xs[j]
            for r in range(B):
                out[r] += a[r] * a[r]
