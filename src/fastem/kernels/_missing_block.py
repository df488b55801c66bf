"""One block of the NaN E-step through the fused pipeline of the complete-data kernel.

The block's rows are read in place (the families pass C-ordered rows). In
diagonal and spherical models the block's missing values are zeroed as its
features are filled, which also marks each row's missing columns as bits;
their constant terms are then taken out of the log-densities and the
responsibilities of the rows missing each coordinate summed, row by row over
the few rows with a NaN only (see :mod:`.gaussian_missing`).
"""

import numpy as np
from numba import njit

from ._gaussian_block import (
    _accumulate,
    _product_tn,
    _responsibilities,
    _subtract_tied_quadratic,
    _zero_padding_and_max,
)
from ._gaussian_features import DIAG, TIED, _constant_and_padding
from ._rows import _transpose_shifted
from ._simd import trailing_zeros

#: Columns per word of a row's missing-column bits (an int64 holding 32 bits
#: never sees its sign bit).
BITS_PER_WORD = 32


@njit(cache=True)
def n_bit_words(n_features):
    """Words of :data:`BITS_PER_WORD` bits that mark one row's missing columns."""
    return (n_features + BITS_PER_WORD - 1) // BITS_PER_WORD


@njit(cache=True)
def _fill_missing_features(X, start, stop, shift, kind, xs, T, bits, nan_rows):
    """Diag/spherical features of rows ``start:stop`` with every NaN taken as ``x' = 0``.

    As :func:`fastem.kernels._gaussian_features._fill_features`, in the same
    pass over the block that squares the shifted values: a missing value
    becomes 0 (so the block product keeps only its coordinate's constant
    terms, which :func:`_drop_missing_terms` takes out), and bit ``j % 32`` of
    ``bits[j // 32, r]`` (int64, shape (words, block)) marks it. A NaN reaches
    the shifted values unchanged (inf is refused at input). The local indices
    of the rows holding one go to ``nan_rows``, in order; returns their number.
    """
    d = xs.shape[0]
    m = stop - start
    B = T.shape[1]
    _transpose_shifted(X, start, stop, shift, xs)
    _constant_and_padding(xs, T, m)
    for w in range(bits.shape[0]):
        row = bits[w]
        for r in range(B):
            row[r] = 0
    # Through row views, the loops over the block's rows vectorise (see _fill_features).
    if kind == DIAG:
        for j in range(d):
            a = xs[j]
            out = T[1 + d + j]
            marks = bits[j // BITS_PER_WORD]
            bit = np.int64(1) << (j % BITS_PER_WORD)
            for r in range(B):
                v = a[r]
                missing = v != v
                v = 0.0 if missing else v
                a[r] = v
                out[r] = v * v
                marks[r] |= bit if missing else 0
    else:
        out = T[1 + d]
        for r in range(B):
            out[r] = 0.0
        for j in range(d):
            a = xs[j]
            marks = bits[j // BITS_PER_WORD]
            bit = np.int64(1) << (j % BITS_PER_WORD)
            for r in range(B):
                v = a[r]
                missing = v != v
                v = 0.0 if missing else v
                a[r] = v
                out[r] += v * v
                marks[r] |= bit if missing else 0
    n_nan = 0
    first = bits[0]
    for r in range(m):
        marked = first[r]
        for w in range(1, bits.shape[0]):
            marked |= bits[w, r]
        # Branch-free: every row is written, and kept if it holds a NaN.
        nan_rows[n_nan] = r
        n_nan += marked != 0
    return n_nan


@njit(cache=True)
def _drop_missing_terms(nan_rows, bits, n_nan, W_missing, logp, v):
    """Subtract each missing value's constant terms from its row's log-densities.

    Summed per row in the contiguous ``v`` (K,) first, so that a row's
    log-densities (a column of ``logp``) are visited once; the missing
    columns come from the row's bits, lowest first.
    """
    K = W_missing.shape[1]
    for i in range(n_nan):
        r = nan_rows[i]
        for k in range(K):
            v[k] = 0.0
        for w in range(bits.shape[0]):
            marks = bits[w, r]
            while marks != 0:
                wj = W_missing[w * BITS_PER_WORD + trailing_zeros(marks)]
                marks &= marks - 1
                for k in range(K):
                    v[k] += wj[k]
        for k in range(K):
            logp[k, r] += v[k]


@njit(cache=True)
def _count_missing(nan_rows, bits, n_nan, logp, missing_resp, v):
    """``missing_resp[j, k] += r_nk w_n`` for every missing value ``(n, j)``.

    A row's responsibilities (a column of ``logp``) are gathered once into the
    contiguous ``v`` (K,).
    """
    K = missing_resp.shape[1]
    for i in range(n_nan):
        r = nan_rows[i]
        for k in range(K):
            v[k] = logp[k, r]
        for w in range(bits.shape[0]):
            marks = bits[w, r]
            while marks != 0:
                out = missing_resp[w * BITS_PER_WORD + trailing_zeros(marks)]
                marks &= marks - 1
                for k in range(K):
                    out[k] += v[k]


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
    nan_rows,
    bits,
    n_nan,
    W_missing,
    missing_resp,
    scratch,
):
    """The fused block pipeline of ``kernels.gaussian.estep_stats`` on a filled block.

    ``T`` (and its view ``xs``) hold the features of ``m`` rows, filled by
    :func:`fastem.kernels._gaussian_features._fill_features` or
    :func:`_fill_missing_features` (by the caller, from the block buffer or in
    place), and ``wc[:m]`` their weights. Rows ``p0:p1`` of
    ``X`` (the next block) are prefetched between the components'
    exponentials, as in the complete-data kernel. Returns ``ll`` plus the rows'
    log-likelihood sum, added in the complete-data kernel's order (so that a
    block without NaN gives its bits). Diagonal and spherical models: the
    ``n_nan`` rows ``nan_rows`` (local) held NaN in the columns marked by
    ``bits``, zeroed by the fill; ``W_missing`` (D, K) takes out the missing
    coordinates' constant terms and ``missing_resp`` (D, K) sums the responsibilities of the rows
    missing each coordinate; ``scratch`` holds at least K values.
    """
    B = T.shape[1]
    _product_tn(path, Wp, Wt, T, logp)
    if kind == TIED:
        _subtract_tied_quadratic(path, Up, Ut, xs, Y, total, logp, K)
    if n_nan > 0:
        _drop_missing_terms(nan_rows, bits, n_nan, W_missing, logp, scratch)
    _zero_padding_and_max(logp, m, K, mx)
    for r in range(B):
        w_block[r] = wc[r] if r < m else 0.0
    ll = _responsibilities(X, p0, p1, logp, mx, total, w_block, m, K, weighted, ll)
    if n_nan > 0:
        _count_missing(nan_rows, bits, n_nan, logp, missing_resp, scratch)
    _accumulate(logp, T, xs, xw, w_block, kind, path, part, acc_g, part_xx, acc_xx_g)
    return ll
