"""k-means kernels: one fused pass assigns rows to centres and sums what Lloyd needs.

Lloyd's algorithm is hard-assignment EM. Per block of rows (cache-resident,
handed out over fixed row groups as in the mixture kernels) the shifted rows
are transposed and one product of the shifted centres with them gives every
``v_k = |c'_k|^2 - 2 x'.c'_k``, which orders the centres for a row as the
squared distance does. The two smallest ``v`` per row and the argmin are
kept in vector registers across the centres; then, per row, the weighted
count and the sum of ``x - shift`` go into the row group's float64
accumulators and, where asked for (the inertia, ``sq_dist``), the nearest
centre's squared distance in the direct form ``sum_j (x_j - c_kj)^2``.
Nothing of size N x K is ever allocated.

Labels are those of the direct distances summed in column order
(:func:`_direct`). The expanded form loses accuracy to cancellation, so a
row whose two smallest ``v`` lie within a rigorous bound of its rounding
error (:func:`tie_margin`) has every centre inside that bound compared by
direct distances (ties to the lower index, as ``numpy.argmin``). The bound
holds for any summation order, so BLAS, the register tiles of :mod:`._gemm`
and the fused loops of :mod:`._kmeans_block` (which ranks the centres of a
block) give the same labels, and so does a float32 product, which runs
twice as many lanes per vector: the product only ranks the centres, it never
decides a near-tie. The direct distances of rows to any points are
:mod:`fastem.kernels.kmeans_distances`.

Shapes: ``X`` (n, D) float32/float64 C-contiguous rows; centres ``C``
(K, D) float64; ``shift`` (D,) float64 (the data centre: it only improves
the ranking's accuracy, never the results).
"""

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds
from ._gemm import MATMUL_LOOPS, ROW_TILE32, round_up
from ._kmeans_block import (
    _fill,
    _fill_single,
    _fused_rank,
    _product,
    _rank_products,
)
from ._rows import _prefetch_rows
from ._simd import (
    vfma,
    vload,
    vload_widened,
    vsplat,
    vstore,
    vsub,
    vsum,
    vzero,
    zeros_aligned,
)

#: Unit roundoff of float64 and float32.
UNIT_DOUBLE = 2.0**-53
UNIT_SINGLE = 2.0**-24
#: Largest scaled squared row norm a float32 product is trusted with; rows
#: beyond it are compared directly with every centre (their products could
#: overflow float32).
SINGLE_ROW_LIMIT = 2.0**100


def tie_margin(n_features, single):
    """Coefficient ``c`` of a row's tie margin ``c * (|x'|^2 + max_k |c'_k|^2)``.

    With ``v_k = |c'_k|^2 - 2 x'.c'_k`` evaluated in a precision of unit
    roundoff ``u_p`` (any summation order) and ``d_k`` the direct float64
    squared distance: if the centre ``k*`` nearest by ``d`` is not ``b``,
    the one with the smallest ``v``, then ``v_k* - v_b`` is at most the
    margin with ``c = (6 D + 18) u + (2 D + 4) u_p`` (``u`` the float64
    unit roundoff: the shift, the norms and the direct sums), plus ``6 u_p``
    when ``v`` itself is formed in float32, widened by 1 % for the
    second-order terms. A float32 product also has its row norms summed in
    float32 (relative error below ``D u_p``): its margin is widened by
    ``4 (D + 1) u_p`` more.
    """
    d = float(n_features)
    if single:
        extra = (2.0 * d + 10.0) * UNIT_SINGLE
        widen = 1.01 * (1.0 + 4.0 * (d + 1.0) * UNIT_SINGLE)
    else:
        extra = (2.0 * d + 4.0) * UNIT_DOUBLE
        widen = 1.01
    return widen * ((6.0 * d + 18.0) * UNIT_DOUBLE + extra)


def block_rows(n_features, n_clusters, max_rows):
    """Rows per block: the block's products (K x B) and rows (D x B) near 256 KiB.

    A multiple of the register tiles' row count in either precision
    (:data:`._gemm.ROW_TILE32`), at least one such tile and at most about
    ``max_rows`` (``settings.kmeans_block_rows``).
    """
    rows = 32768 // max(1, n_clusters + n_features)
    rows = max(ROW_TILE32, min(int(max_rows), rows))
    return round_up(rows, ROW_TILE32)


# -- per row -----------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _direct(X, i, C, k):
    """``sum_j (X[i, j] - C[k, j])^2`` in float64, in column order: the reference distance."""
    s = 0.0
    for j in range(X.shape[1]):
        v = np.float64(X[i, j]) - C[k, j]
        s += v * v
    return s


@njit(cache=True)
def _resolve(X, i, C, out, r, cn, threshold, use_out):
    """Nearest centre by direct distances among those whose ``v`` is within ``threshold``.

    ``v = cn - 2 out[:, r]`` and ``threshold`` are in the product's units.
    Without a product block (``use_out`` False) or with a threshold that is
    not finite, every centre is compared.
    """
    best = 0
    best_d = np.inf
    everything = (not use_out) or not (threshold < np.inf)
    for k in range(C.shape[0]):
        if everything or np.float64(cn[k]) - 2.0 * np.float64(out[k, r]) <= threshold:
            d = _direct(X, i, C, k)
            if d < best_d:
                best_d = d
                best = k
    return best


@njit(cache=True, inline="always")
def _row_sum(Xf, xo, shift, Sf, so, d, w):
    """``Sf[so:so + d] += w (x - shift)`` for ``x = Xf[xo:xo + d]``, on flat arrays.

    Flat views with offsets, not per-row views (those would cost reference
    counting per row). From 8 columns on, 8 columns at a time in vector
    lanes; narrower rows one value at a time.
    """
    if d < 8:
        for j in range(d):
            Sf[so + j] += w * (np.float64(Xf[xo + j]) - shift[j])
        return
    d8 = d - d % 8
    wv = vsplat(w)
    for j0 in range(0, d8, 8):
        diff = vsub(vload_widened(Xf, xo + j0), vload(shift, j0))
        vstore(Sf, so + j0, vfma(wv, diff, vload(Sf, so + j0)))
    for j in range(d8, d):
        Sf[so + j] += w * (np.float64(Xf[xo + j]) - shift[j])


@njit(cache=True, inline="always")
def _row_dist(Xf, xo, Cf, co, d):
    """``|x - c|^2`` for ``x = Xf[xo:xo + d]``, ``c = Cf[co:co + d]`` (the direct form)."""
    if d < 8:
        s = 0.0
        for j in range(d):
            v = np.float64(Xf[xo + j]) - Cf[co + j]
            s += v * v
        return s
    d8 = d - d % 8
    acc = vzero()
    for j0 in range(0, d8, 8):
        diff = vsub(vload_widened(Xf, xo + j0), vload(Cf, co + j0))
        acc = vfma(diff, diff, acc)
    s = vsum(acc)
    for j in range(d8, d):
        v = np.float64(Xf[xo + j]) - Cf[co + j]
        s += v * v
    return s


@njit(cache=True)
def _rows(
    X, sample_weight, shift, C, start, stop, B, rank, out, cn, margin, single, use_out, acc_in
):
    """The per-row part of a block: labels, counts, sums and, when asked, distances.

    ``acc_in`` is ``(labels, sq_dist, update, track, distances, counts,
    sums)``; returns the block's inertia (0 without ``distances``) and number
    of changed labels.
    """
    labels, sq_dist, update, track, distances, counts, sums = acc_in
    coef, bmax2, tiny, _ = margin
    lo, nx, labf = rank
    n, d = X.shape
    m = stop - start
    weighted = sample_weight.shape[0] > 0
    write_labels = labels.shape[0] > 0
    write_dist = sq_dist.shape[0] > 0
    Xf = X.reshape(X.size)
    Cf = C.reshape(C.size)
    Sf = sums.reshape(sums.size)
    acc = 0.0
    n_changed = 0
    n_parts = (m + 31) // 32
    for r in range(m):
        if r % 32 == 0:
            # The next block's rows arrive while this block's are summed.
            _prefetch_rows(X, stop, min(n, stop + B), r // 32, n_parts)
        i = start + r
        k = np.int64(labf[r])
        if k < 0:
            # Within the tie margin (or not trusted to float32): direct distances.
            norm = np.float64(nx[r])
            threshold = np.float64(lo[r]) + coef * (norm + bmax2) + tiny
            if single and not (norm < SINGLE_ROW_LIMIT):
                threshold = np.inf
            k = _resolve(X, i, C, out, r, cn, threshold, use_out)
        w = sample_weight[i] if weighted else 1.0
        if update:
            _row_sum(Xf, i * d, shift, Sf, k * d, d, w)
            counts[k] += w
        if distances:
            s = _row_dist(Xf, i * d, Cf, k * d, d)
            acc += w * s
            if write_dist:
                sq_dist[i] = s
        if write_labels:
            if track:
                n_changed += labels[i] != k
            labels[i] = k
    return acc, n_changed


@njit(cache=True)
def _group_pass(
    X,
    sample_weight,
    shift,
    C,
    Cs,
    Ct,
    Cs32,
    cn,
    cn32,
    scale,
    margin,
    labels,
    sq_dist,
    update,
    track,
    distances,
    B,
    path,
    b0,
    b1,
    counts,
    sums,
):
    """Blocks ``b0:b1`` of :func:`lloyd_pass` into one group's ``counts`` and ``sums``.

    Returns the group's inertia and number of changed labels.
    """
    n, d = X.shape
    K = C.shape[0]
    single = Cs32.shape[0] > 0
    fused = path == MATMUL_LOOPS
    xs = zeros_aligned(0 if single else d, B)
    out = zeros_aligned(0 if (single or fused) else K, B)
    xs32 = np.zeros((d if single else 0, B), dtype=np.float32)
    out32 = np.zeros((K if (single and not fused) else 0, B), dtype=np.float32)
    Ct32 = np.ascontiguousarray(Cs32.T)
    rank = (np.empty(B), np.empty(B), np.empty(B))
    rank32 = (
        np.empty(B, dtype=np.float32),
        np.empty(B, dtype=np.float32),
        np.empty(B, dtype=np.float32),
    )
    acc_in = (labels, sq_dist, update, track, distances or sq_dist.shape[0] > 0, counts, sums)
    acc = 0.0
    n_changed = 0
    for b in range(b0, b1):
        start = b * B
        stop = min(n, start + B)
        if single:
            _fill_single(X, start, stop, shift, scale, xs32)
            if fused:
                _fused_rank(xs32, Cs32, cn32, margin, rank32)
            else:
                _product(path, Cs32, Ct32, xs32, out32)
                _rank_products(xs32, out32, cn32, margin, rank32)
            a, c = _rows(
                X,
                sample_weight,
                shift,
                C,
                start,
                stop,
                B,
                rank32,
                out32,
                cn32,
                margin,
                True,
                not fused,
                acc_in,
            )
        else:
            _fill(X, start, stop, shift, xs)
            if fused:
                _fused_rank(xs, Cs, cn, margin, rank)
            else:
                _product(path, Cs, Ct, xs, out)
                _rank_products(xs, out, cn, margin, rank)
            a, c = _rows(
                X,
                sample_weight,
                shift,
                C,
                start,
                stop,
                B,
                rank,
                out,
                cn,
                margin,
                False,
                not fused,
                acc_in,
            )
        acc += a
        n_changed += c
    return acc, n_changed


@njit(parallel=True, cache=True, nogil=True)
def lloyd_pass(
    X,
    sample_weight,
    shift,
    C,
    Cs,
    Ct,
    Cs32,
    cn,
    cn32,
    bmax2,
    coef,
    tiny,
    scale,
    labels,
    sq_dist,
    update,
    track,
    distances,
    block_size,
    n_groups,
    path,
):
    """One fused pass: nearest centres and, with ``update``, Lloyd's statistics.

    Parameters
    ----------
    X : ndarray of shape (n, D), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n,) or (0,)
        Empty means every weight is 1.
    shift : ndarray of shape (D,)
        Centre subtracted from rows and centres before the product.
    C : ndarray of shape (K, D)
        The centres (direct distances are taken to these).
    Cs, Ct : ndarray of shape (K, D) and (D, K)
        ``C - shift`` and its transpose, contiguous (the float64 product's operands).
    Cs32 : ndarray of shape (K, D) or (0, 0), float32
        ``(C - shift) * scale`` rounded to float32: if not empty, the product
        runs in float32 (BLAS or loops paths).
    cn, cn32 : ndarray of shape (K,), float64, and (K,) or (0,), float32
        ``|C - shift|^2`` per centre, and ``scale^2`` times it in float32.
    bmax2 : float
        ``max(cn)``.
    coef, tiny : float
        A row's tie margin is ``coef * (|x'|^2 + bmax2) + tiny`` (see
        :func:`tie_margin`; ``tiny`` covers underflow).
    scale : float
        Power of two applied to both operands of a float32 product (1 otherwise).
    labels : ndarray of shape (n,) or (0,), int32
        Out: each row's nearest centre. In, with ``track``: the previous labels.
    sq_dist : ndarray of shape (n,) or (0,), float64
        Out: each row's squared distance to its nearest centre.
    update : bool
        Accumulate counts and sums of ``x - shift``.
    track : bool
        Count the rows whose label differs from ``labels`` on entry.
    distances : bool
        Compute every row's direct squared distance to its centre (for the
        inertia; always done when ``sq_dist`` is given). Lloyd iterations
        need only the labels and sums, so a pass without them is cheaper.
    block_size, n_groups : int
        Rows per block (a multiple of 24) and number of row groups.
    path : int
        How the product runs (see :mod:`fastem.kernels._kmeans_block`).

    Returns
    -------
    counts : ndarray of shape (K,)
        Weighted number of rows per centre (zeros without ``update``).
    sums : ndarray of shape (K, D)
        ``sum w (x - shift)`` over each centre's rows (zeros without ``update``).
    inertia : float
        ``sum w |x - c_label|^2`` (0 without ``distances`` or ``sq_dist``).
    n_changed : int
        Rows whose label changed (0 without ``track``).
    """
    n, d = X.shape
    K = C.shape[0]
    B = block_size
    single = Cs32.shape[0] > 0
    n_blocks, n_groups = block_layout(n, B, n_groups)
    counts = np.zeros((n_groups, K))
    sums = np.zeros((n_groups, K, d if update else 0))
    inertia = np.zeros(n_groups)
    changed = np.zeros(n_groups, dtype=np.int64)
    scale2 = scale * scale
    # The rank functions and the tie checks work in the product's units (the
    # operands scaled by ``scale``, distances by its square); the float32
    # comparisons get a relative slack of 2^-20 on the margin.
    if single:
        margin = (coef * (1.0 + 2.0**-20), bmax2 * scale2, tiny * scale2, SINGLE_ROW_LIMIT)
    else:
        margin = (coef, bmax2, tiny, np.inf)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        # Sums private to the group, stored once: with few centres the groups' rows
        # of counts and sums share cache lines, which adding into them row by row
        # made the threads take from each other.
        counts_g = np.zeros(K)
        sums_g = np.zeros((K, d if update else 0))
        # The group's work in a function of its own: LLVM optimises the row
        # loops there markedly better than inside the parallel region's body.
        inertia[g], changed[g] = _group_pass(
            X,
            sample_weight,
            shift,
            C,
            Cs,
            Ct,
            Cs32,
            cn,
            cn32,
            scale,
            margin,
            labels,
            sq_dist,
            update,
            track,
            distances,
            B,
            path,
            b0,
            b1,
            counts_g,
            sums_g,
        )
        counts[g] = counts_g
        sums[g] = sums_g
    total_counts = counts[0].copy()
    total_sums = np.zeros((K, d))
    total_inertia = inertia[0]
    total_changed = changed[0]
    for g in range(n_groups):
        if update:
            total_sums += sums[g]
        if g > 0:
            total_counts += counts[g]
            total_inertia += inertia[g]
            total_changed += changed[g]
    return total_counts, total_sums, total_inertia, total_changed
