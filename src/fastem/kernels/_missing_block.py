"""One block of the NaN E-step through the fused pipeline of the complete-data kernel.

The block's rows are read in place (the families pass C-ordered rows); in
diagonal and spherical models its missing cells are found once in the filled
features, zeroed, their constant terms taken out of the
log-densities and the responsibilities of the rows missing each coordinate
summed (see :mod:`.gaussian_missing`).
"""

from numba import njit

from ._common import column_sums
from ._gaussian_block import (
    _accumulate,
    _product_tn,
    _responsibilities,
    _subtract_tied_quadratic,
    _zero_padding_and_max,
)
from ._gaussian_features import DIAG, SPHERICAL, TIED


@njit(cache=True)
def _find_missing(m, kind, xs, T, flags, cell_row, cell_col):
    """Missing cells of a filled block's ``m`` rows as (local row, column) pairs, in row order.

    A NaN reaches the filled features unchanged (inf is refused at input), so
    a row holds one if the sum of its features is NaN (a sum can also be NaN
    from opposite overflows: that row is only read for nothing). The sums are
    branch-free passes over the block that vectorise (spherical: its squared
    norms alone); only the rows they flag are then read cell by cell.
    ``flags`` (block,) is float64 scratch. Returns the number of cells.
    """
    d = xs.shape[0]
    if kind == SPHERICAL:
        norm = T[1 + d]
        for r in range(m):
            flags[r] = norm[r]
    else:
        column_sums(xs, d, flags)
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
    :func:`fastem.kernels._gaussian_features._fill_features` (by the caller, from the
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
    for r in range(B):
        w_block[r] = wc[r] if r < m else 0.0
    ll = _responsibilities(X, p0, p1, logp, mx, total, w_block, m, K, weighted, ll)
    if n_cells > 0:
        _count_missing(cell_row, cell_col, n_cells, logp, missing_resp, scratch)
    _accumulate(logp, T, xs, xw, w_block, kind, path, part, acc_g, part_xx, acc_xx_g)
    return ll
