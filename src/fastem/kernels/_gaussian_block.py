"""The steps of the fused Gaussian block pipeline, shared by the complete and NaN E-steps.

Per block of rows: the product ``T @ W`` on the chosen path (register tiles,
BLAS or plain loops), the tied quadratic form, the zeroed padding and per-row
maximum, the column sums and the log-likelihood sum, and the accumulation of
``R^T @ T``; then the padded block shapes of each path and the fixed-order
reduction of the row groups' accumulators. See docs/architecture.md, "The
fused kernel".
"""

import numpy as np
from numba import njit

from ._common import column_sums, normalise_columns
from ._exp32 import exp_nonpositive_in
from ._gaussian_features import TIED
from ._gemm import (
    COMPONENT_TILE,
    FEATURE_TILE,
    FEATURE_TILE4,
    MATMUL_BLAS,
    MATMUL_TILED,
    MATMUL_TILED4,
    ROW_TILE,
    ROW_TILE32,
    round_up,
)
from ._gemm4 import gemm_nt4, gemm_tn4
from ._gemm8 import gemm_nt, gemm_tn
from ._rows import _prefetch_rows


@njit(cache=True)
def _small_matmul(A, B, out):
    """``out = A @ B`` for tiny operands, vectorised along ``B``'s rows (no BLAS call)."""
    for i in range(A.shape[0]):
        for c in range(B.shape[1]):
            out[i, c] = 0.0
        for k in range(A.shape[1]):
            a = A[i, k]
            for c in range(B.shape[1]):
                out[i, c] += a * B[k, c]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _small_matmul_bt(A, B, out):
    """``out = A @ B.T`` for tiny operands (row dot products, reassociated to vectorise)."""
    for i in range(A.shape[0]):
        for j in range(B.shape[0]):
            s = 0.0
            for c in range(A.shape[1]):
                s += A[i, c] * B[j, c]
            out[i, j] = s


@njit(cache=True)
def _sum_log_plus(mx, total, m):
    """``sum_r mx[r] + log(total[r])`` over the first ``m`` rows, with few logs.

    Each ``total[r]`` lies in [1, n_components], so a product of 32 of them
    cannot overflow; one scalar ``log`` per 32 rows instead of per row matters
    when D is small and the rest of a row costs a few dozen flops.
    """
    s = 0.0
    for r in range(m):
        s += mx[r]
    for r0 in range(0, m, 32):
        prod = 1.0
        for r in range(r0, min(m, r0 + 32)):
            prod *= total[r]
        s += np.log(prod)
    return s


@njit(cache=True)
def _product_tn(path, W, Wt, T, out):
    """``out = W.T @ T`` by ``path``; ``Wt`` is ``W.T`` contiguous (the BLAS and loop form)."""
    if path == MATMUL_TILED:
        gemm_tn(W, T, out)
    elif path == MATMUL_TILED4:
        gemm_tn4(W, T, out)
    elif path == MATMUL_BLAS:
        np.dot(Wt, T, out)
    else:
        _small_matmul(Wt, T, out)


@njit(cache=True)
def _product_nt(path, R, T, out):
    """``out = R @ T.T`` by ``path``."""
    if path == MATMUL_TILED:
        gemm_nt(R, T, out)
    elif path == MATMUL_TILED4:
        gemm_nt4(R, T, out)
    elif path == MATMUL_BLAS:
        np.dot(R, T.T, out)
    else:
        _small_matmul_bt(R, T, out)


@njit(cache=True)
def _subtract_tied_quadratic(path, Up, Ut, xs, Y, total, logp, K):
    """Tied covariance: ``logp[k] -= |U^T (x - mu)|^2 / 2`` for the block's rows.

    The shared factor's quadratic form is the same for every component, so it
    is one product ``Y = U^T xs`` per block rather than a term of ``T W``.
    """
    _product_tn(path, Up, Ut, xs, Y)
    B = total.shape[0]
    for r in range(B):
        total[r] = 0.0
    for j in range(Y.shape[0]):
        for r in range(B):
            total[r] += Y[j, r] * Y[j, r]
    for k in range(K):
        for r in range(B):
            logp[k, r] -= 0.5 * total[r]


@njit(cache=True)
def _zero_padding_and_max(logp, m, K, mx):
    """Zero the block's columns past its ``m`` rows; ``mx`` = per-row maximum over components.

    Columns past the data multiply zero features: a component of weight 0
    (log-weight -inf) would make them NaN, and 0 * NaN reaches every sum.
    """
    B = mx.shape[0]
    for k in range(K):
        row = logp[k]
        for r in range(m, B):
            row[r] = 0.0
    # Row views (see _fill_features) so that every loop vectorises.
    row = logp[0]
    for r in range(B):
        mx[r] = row[r]
    for k in range(1, K):
        row = logp[k]
        for r in range(B):
            mx[r] = max(mx[r], row[r])


@njit(cache=True)
def _responsibilities(X, p0, p1, logp, mx, total, w_block, m, K, weighted, ll):
    """Weighted responsibilities in ``logp`` from log-densities less their row maxima ``mx``.

    The exponentials (rows ``p0:p1`` of ``X``, the next block, are prefetched
    a part between components), the column sums, then ``logp[k] *= w / sum``
    with the padding components zeroed.  ``w_block`` holds the block's
    weights (zero past its ``m`` rows).  Returns ``ll`` plus the block's
    weighted log-likelihood, added row by row.  The complete and NaN E-steps
    share it, so that a block without NaN gives the same bits in both.
    """
    B = mx.shape[0]
    # Exponentials first, sums after: with the running sum in the same loop LLVM
    # keeps the polynomial exp scalar.  The prefetch lets the next block's rows
    # arrive during the products instead of stalling the next fill.
    for k in range(K):
        row = logp[k]
        for r in range(B):
            row[r] = exp_nonpositive_in(row[r] - mx[r])
        _prefetch_rows(X, p0, p1, k, K)
    column_sums(logp, K, total)
    if weighted:
        for r in range(m):
            ll += np.float64(w_block[r]) * (np.float64(mx[r]) + np.log(total[r]))
    else:
        ll += _sum_log_plus(mx, total, m)
    normalise_columns(logp, K, total, w_block)
    # Padding components carry no responsibility, whatever their products held.
    for k in range(K, logp.shape[0]):
        for r in range(B):
            logp[k, r] = 0.0
    return ll


@njit(cache=True)
def _accumulate(Rt, T, xs, xw, w_block, kind, path, part, acc, part_xx, acc_xx):
    """Add ``R^T T`` (and the tied second moment) of a block to a group's accumulators."""
    _product_nt(path, Rt, T, part)
    acc += part
    if kind == TIED:
        for j in range(xs.shape[0]):
            for r in range(xs.shape[1]):
                xw[j, r] = xs[j, r] * w_block[r]
        _product_nt(path, xw, xs, part_xx)
        acc_xx += part_xx


#: Bytes of a block's feature rows ``T`` on the 256-bit path.  Each step of
#: ``gemm_tn4`` reads one row of every feature, so the rows' pages must all stay
#: in the first-level data TLB (64 entries on Zen 3, some taken by the other
#: operands); a block of wide features past it misses the TLB on every step.
TILE4_BLOCK_BYTES = 48 * 4096


@njit(cache=True)
def _padded_shapes(path, n_features_t, n_components, n_features, block_size, itemsize):
    """Block shapes for ``path``: (features, components, tied rows, rows per block).

    The 512-bit tiles need components in fours, features in sixes and rows in
    three vectors (24 float64 rows, 48 float32); the 256-bit tiles components
    in fours, features in fours and rows in 24s (12 float64 rows and, for
    float32 blocks, 24), in blocks of at most
    :data:`TILE4_BLOCK_BYTES` of ``itemsize``-byte elements.  The padding is
    zero weights and zero rows, which add nothing.
    """
    if path == MATMUL_TILED:
        return (
            round_up(n_features_t, FEATURE_TILE),
            round_up(n_components, COMPONENT_TILE),
            round_up(n_features, COMPONENT_TILE),
            round_up(block_size, ROW_TILE if itemsize == 8 else ROW_TILE32),
        )
    if path == MATMUL_TILED4:
        Fp = round_up(n_features_t, FEATURE_TILE4)
        fit = (TILE4_BLOCK_BYTES // (itemsize * Fp)) // ROW_TILE * ROW_TILE
        return (
            Fp,
            round_up(n_components, COMPONENT_TILE),
            round_up(n_features, COMPONENT_TILE),
            min(round_up(block_size, ROW_TILE), max(ROW_TILE, fit)),
        )
    return n_features_t, n_components, n_features, block_size


@njit(cache=True)
def _reduce_groups(acc, acc_xx, ll, n_components, n_features_t):
    """Sum the per-group accumulators in a fixed order, dropping the tile padding."""
    stats = acc[0].copy()
    xx = acc_xx[0].copy()
    total = ll[0]
    for g in range(1, acc.shape[0]):
        stats += acc[g]
        xx += acc_xx[g]
        total += ll[g]
    d = xx.shape[1]
    return (
        np.ascontiguousarray(stats[:n_components, :n_features_t]),
        np.ascontiguousarray(xx[:d]),
        total,
    )
