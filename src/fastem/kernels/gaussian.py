"""Fused Gaussian-mixture kernels: the E-step with its statistics, log-densities for predict.

The fit kernel uses the exponential-family view of a Gaussian (the features
``T(x')`` of :mod:`._gaussian_features`): per block of rows one product
``T @ W`` gives all K log-densities and, after the responsibilities, one
product ``R^T @ T`` gives every sufficient statistic (N_k, sums of x', and
second moments).  Both products run on cache-resident blocks, on the register
tiles of :mod:`._gemm` (eight-lane with AVX-512, 256-bit with AVX2 + FMA) or
in BLAS or plain loops elsewhere (the steps are in :mod:`._gaussian_block`);
nothing of size N x K or N x D is ever allocated.  For float32 rows the blocks
may be float32 (``block_like``; when, is decided in
:mod:`fastem.families._float32_blocks`), summed into float64 accumulators.

The kernels for ``predict``/``score_samples`` use the direct form through the
Cholesky factors of the precisions, which keeps full accuracy for
ill-conditioned covariances.
"""

import numpy as np
from numba import njit, prange

from ._common import block_layout, group_bounds, sum_groups
from ._gaussian_block import (
    _accumulate,
    _padded_shapes,
    _product_tn,
    _reduce_groups,
    _responsibilities,
    _subtract_tied_quadratic,
    _zero_padding_and_max,
)
from ._gaussian_features import TIED, _fill_features
from ._gemm import (
    COMPONENT_TILE,
    MATMUL_TILED,
    MATMUL_TILED4,
    ROW_TILE,
    matmul_path,
    round_up,
)
from ._gemm4 import gemm_tn4
from ._gemm8 import gemm_tn
from ._rows import _transpose_shifted
from ._simd import zeros_aligned, zeros_aligned_like


def estep_stats(
    X, sample_weight, shift, W, tied_prec_chol, kind, block_size, n_groups, path, block_like
):
    """One fused E-step: responsibilities and sufficient statistics in one pass.

    :func:`estep_stats_many` for one model (the same operations in the same
    order).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Empty means every row has weight 1.
    shift : ndarray of shape (n_features,), float64
        Centre subtracted from every row before any product.
    W : ndarray of shape (n_stat_features, n_components), float64
        Natural parameters of every component, log-weights in row 0.
    tied_prec_chol : ndarray of shape (n_features, n_features) or (0, 0)
        Shared precision Cholesky factor, only read for ``kind == TIED``.
    kind : int
        FULL, TIED, DIAG or SPHERICAL.
    block_size, n_groups : int
        Rows per cache-resident block and number of row groups.
    path : int
        How blocks are multiplied: ``MATMUL_LOOPS``, ``MATMUL_BLAS``,
        ``MATMUL_TILED`` or ``MATMUL_TILED4`` (see
        :func:`fastem.kernels._gemm.matmul_path`).
    block_like : ndarray of shape (0,), float32 or float64
        Its dtype is the blocks' (features, products, exponentials and the
        sums within a block); every block's sums are added in float64.
        float32 blocks halve the bytes and double the lanes per vector, at
        float32's rounding in every log-density and statistic of a block.

    Returns
    -------
    stats : ndarray of shape (n_components, n_stat_features)
        ``sum_n w_n r_nk T(x'_n)``.
    second_moment : ndarray of shape (n_features, n_features) or (0, 0)
        ``sum_n w_n x'_n x'_n^T`` for ``kind == TIED``.
    sum_log_likelihood : float
        ``sum_n w_n log p(x_n)``.
    """
    starts = np.array([0, W.shape[1]], dtype=np.int64)
    if kind == TIED:
        tied = np.array(tied_prec_chol, dtype=np.float64, order="C")[None]
    else:
        tied = NO_TIED_FACTORS
    stats, second_moment, ll, _ = estep_stats_many(
        X,
        sample_weight,
        shift,
        W,
        starts,
        tied,
        kind,
        block_size,
        n_groups,
        path,
        block_like,
        False,
    )
    return stats, second_moment, ll[0]


#: The ``tied_prec_chol`` of :func:`estep_stats_many` for other kinds (writable: a
#: read-only array is another argument type, which would compile the kernel again).
NO_TIED_FACTORS = np.zeros((0, 0, 0))


@njit(parallel=True, cache=True, nogil=True)
def estep_stats_many(
    X,
    sample_weight,
    shift,
    W,
    starts,
    tied_prec_chol,
    kind,
    block_size,
    n_groups,
    path,
    block_like,
    with_entropy,
):
    """Fused E-steps of several models of one covariance kind in one pass.

    The models' natural parameters sit side by side in ``W``: model ``m``
    owns columns ``starts[m]:starts[m + 1]``. Each block's features ``T(x')``
    are filled once and one product gives every model's log-densities; the
    log-sum-exp and the responsibilities are per model (its own columns), and
    one product ``R^T T`` gives every model's statistics. A model gets the
    same bits as alone (:func:`estep_stats`) on the tiled and loop paths,
    whose per-element sums do not depend on the other columns (BLAS may
    block a wider product differently).

    Parameters
    ----------
    X, sample_weight, shift, kind, block_size, n_groups, path, block_like
        As :func:`estep_stats`.
    W : ndarray of shape (n_stat_features, total_components), float64
        Every model's natural parameters, log-weights in row 0.
    starts : ndarray of shape (n_models + 1,), int64
        First column of each model in ``W``, then ``total_components``.
    tied_prec_chol : ndarray of shape (n_models, n_features, n_features) or (0, 0, 0)
        Each model's shared precision Cholesky factor (``kind == TIED`` only).
    with_entropy : bool
        Evaluate instead: sum the entropy of every model's responsibilities
        (model selection's ICL) and leave the statistics (zeros).

    Returns
    -------
    stats : ndarray of shape (total_components, n_stat_features)
        ``sum_n w_n r_nk T(x'_n)``, the models' rows as in ``W``'s columns
        (zeros with ``with_entropy``).
    second_moment : ndarray of shape (n_features, n_features) or (0, 0)
        ``sum_n w_n x'_n x'_n^T`` for ``kind == TIED``, the same for every model
        (zeros with ``with_entropy``).
    sum_log_likelihood : ndarray of shape (n_models,)
        ``sum_n w_n log p_m(x_n)`` of every model.
    entropy : ndarray of shape (n_models,)
        ``-sum_n w_n sum_k r_nk log r_nk`` of every model (zeros without ``with_entropy``).
    """
    n, d = X.shape
    F, K = W.shape
    n_models = starts.shape[0] - 1
    dtype = block_like.dtype
    Fp, Kp, dp, B = _padded_shapes(path, F, K, d, block_size, block_like.itemsize)
    Wp = np.zeros((Fp, Kp), dtype)
    Wp[:F, :K] = W
    Wt = np.ascontiguousarray(Wp.T)
    dxx = d if kind == TIED else 0
    dxp = dp if kind == TIED else 0
    n_tied = n_models if kind == TIED else 0
    Up = np.zeros((n_tied, dxx, dxp), dtype)
    Ut = np.zeros((n_tied, dxp, dxx), dtype)
    for t in range(n_tied):
        Up[t, :, :dxx] = tied_prec_chol[t]
        Ut[t] = Up[t].T
    n_blocks, n_groups = block_layout(n, B, n_groups)
    acc = np.zeros((n_groups, Kp, Fp))
    acc_xx = np.zeros((n_groups, dxp, dxx))
    ll = np.zeros((n_groups, n_models))
    entropy = np.zeros((n_groups, n_models))
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        T = zeros_aligned_like(Fp, B, block_like)
        xs = T[1 : 1 + d]
        xw = zeros_aligned_like(dxp, B, block_like)
        logp = zeros_aligned_like(Kp, B, block_like)
        mx = np.empty(B, dtype)
        total = np.empty(B, dtype)
        w_block = np.zeros(B, dtype)
        part = np.empty((Kp, Fp), dtype)
        part_xx = np.empty((dxp, dxx), dtype)
        Y = zeros_aligned_like(dxp, B, block_like)
        ll_g = np.zeros(n_models)
        entropy_g = np.zeros(n_models)
        # The log-densities less their maxima, kept past the exponentials for the entropy.
        shifted = zeros_aligned_like(Kp if with_entropy else 0, B, block_like)
        for b in range(b0, b1):
            start = b * B
            stop = min(n, start + B)
            m = stop - start
            _fill_features(X, start, stop, shift, kind, xs, T)
            _product_tn(path, Wp, Wt, T, logp)
            for r in range(B):
                w = 0.0
                if r < m:
                    w = sample_weight[start + r] if weighted else 1.0
                w_block[r] = w
            for model in range(n_models):
                k0, k1 = starts[model], starts[model + 1]
                logp_m = logp[k0:k1]
                if kind == TIED:
                    _subtract_tied_quadratic(
                        path, Up[model], Ut[model], xs, Y, total, logp_m, k1 - k0
                    )
                _zero_padding_and_max(logp_m, m, k1 - k0, mx)
                if with_entropy:
                    shifted[k0:k1] = logp_m
                # The next block's rows are prefetched once, during the first model.
                ahead = min(n, stop + B) if model == 0 else stop
                ll_g[model] = _responsibilities(
                    X, stop, ahead, logp_m, mx, total, w_block, m, k1 - k0, weighted, ll_g[model]
                )
                if with_entropy:
                    entropy_g[model] -= _weighted_log_posterior_sum(
                        logp_m, shifted[k0:k1], mx, total, w_block, m
                    )
            # Padding components carry no responsibility, whatever their products held.
            for k in range(K, Kp):
                for r in range(B):
                    logp[k, r] = 0.0
            if not with_entropy:
                _accumulate(logp, T, xs, xw, w_block, kind, path, part, acc[g], part_xx, acc_xx[g])
        ll[g] = ll_g
        entropy[g] = entropy_g
    stats, second_moment, _ = _reduce_groups(acc, acc_xx, np.zeros(n_groups), K, F)
    return stats, second_moment, sum_groups(ll), sum_groups(entropy)


@njit(cache=True)
def _weighted_log_posterior_sum(resp_w, logp, mx, total, w_block, m):
    """``sum_r w_r sum_k r_rk log r_rk`` over a block's ``m`` rows, with no log per term.

    After the E-step's responsibilities, ``resp_w`` holds ``w_r r_rk``, ``mx``
    the rows' maxima and ``total`` the ratios ``w_r / s_r`` of the weights to
    the sums ``s_r = sum_k exp(logp_rk - mx_r)`` (what the normalisation
    leaves); ``logp`` is a copy of the log-densities from before the
    exponentials, so ``log r_rk = logp_rk - mx_r - log s_r``. Both terms are
    of the size of ``log K``, so the sum keeps its digits however large the
    log-likelihood. Terms with ``r_rk = 0`` add nothing.
    """
    s = 0.0
    for k in range(resp_w.shape[0]):
        rw = resp_w[k]
        lp = logp[k]
        for r in range(m):
            if rw[r] > 0.0:
                s += np.float64(rw[r]) * (np.float64(lp[r]) - np.float64(mx[r]))
    for r in range(m):
        w = np.float64(w_block[r])
        if w > 0.0:
            s -= w * np.log(w / np.float64(total[r]))
    return s


@njit(parallel=True, cache=True, nogil=True)
def resp_stats(
    X, sample_weight, shift, resp, labels, kind, n_features_t, block_size, n_groups, path
):
    """Sufficient statistics for given responsibilities (initialisation).

    Either ``resp`` (n_samples, n_components) soft responsibilities or
    ``labels`` (n_samples,) hard assignments is non-empty; the other has length 0.
    ``n_features_t`` is :func:`n_stat_features` for ``kind``. Returns the same
    ``stats, second_moment`` as :func:`estep_stats` (its log-likelihood is 0).
    """
    n, d = X.shape
    use_labels = labels.shape[0] > 0
    K = resp.shape[1]
    F = n_features_t
    Fp, Kp, dp, B = _padded_shapes(path, F, K, d, block_size, 8)
    n_blocks, n_groups = block_layout(n, B, n_groups)
    dxx = d if kind == TIED else 0
    dxp = dp if kind == TIED else 0
    acc = np.zeros((n_groups, Kp, Fp))
    acc_xx = np.zeros((n_groups, dxp, dxx))
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        T = zeros_aligned(Fp, B)
        xs = T[1 : 1 + d]
        xw = zeros_aligned(dxp, B)
        Rt = zeros_aligned(Kp, B)
        w_block = np.zeros(B)
        part = np.empty((Kp, Fp))
        part_xx = np.empty((dxp, dxx))
        for b in range(b0, b1):
            start = b * B
            stop = min(n, start + B)
            m = stop - start
            _fill_features(X, start, stop, shift, kind, xs, T)
            for r in range(B):
                w = 0.0
                if r < m:
                    w = sample_weight[start + r] if weighted else 1.0
                w_block[r] = w
                for k in range(K):
                    Rt[k, r] = 0.0
                if r < m:
                    if use_labels:
                        Rt[labels[start + r], r] = w
                    else:
                        for k in range(K):
                            Rt[k, r] = resp[start + r, k] * w
            _accumulate(Rt, T, xs, xw, w_block, kind, path, part, acc[g], part_xx, acc_xx[g])
    stats, xx, _ = _reduce_groups(acc, acc_xx, np.zeros(n_groups), K, F)
    return stats, xx


def log_prob_cholesky(X, means, prec_chol, log_det, block_size, n_groups, path=None):
    """Component log-densities through upper-triangular precision Cholesky factors.

    ``prec_chol`` has shape (n_components, n_features, n_features) (a tied
    factor is passed broadcast to every component); ``log_det`` is the
    log-determinant of each factor. Returns (n_samples, n_components) float64.

    The direct form ``-0.5 |(x - mu_k) U_k|^2``: each difference is taken
    before any product, which keeps full accuracy for ill-conditioned
    covariances (scikit-learn #29989, where ``x U - mu U`` loses it).  ``path``
    (a ``MATMUL_*`` constant; None: the CPU's, see
    :func:`._gemm.matmul_path`) runs the products on the register tiles or,
    for the other paths, on BLAS.
    """
    if path is None:
        path = matmul_path(X.shape[1] ** 2, means.shape[0])
    if path == MATMUL_TILED or path == MATMUL_TILED4:
        return _log_prob_cholesky_tiled(X, means, prec_chol, log_det, block_size, n_groups, path)
    return _log_prob_cholesky_blas(X, means, prec_chol, log_det, block_size, n_groups)


@njit(parallel=True, cache=True, nogil=True)
def _log_prob_cholesky_tiled(X, means, prec_chol, log_det, block_size, n_groups, path):
    """:func:`log_prob_cholesky` on the register tiles, per block of rows.

    The block's rows are transposed once (feature-major, float64); per
    component, the differences ``x - mu_k`` (the same float64 subtraction as
    the BLAS form), one tiled product ``U_k^T (x - mu_k)`` and the squared
    norms run across the rows, so every loop is a vector loop.
    """
    n, d = X.shape
    K = means.shape[0]
    dp = round_up(d, COMPONENT_TILE)
    B = round_up(block_size, ROW_TILE)
    Up = np.zeros((K, d, dp))
    Up[:, :, :d] = prec_chol
    zero = np.zeros(d)
    out = np.empty((n, K))
    const = -0.5 * d * np.log(2.0 * np.pi)
    n_blocks, n_groups = block_layout(n, B, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        xs = zeros_aligned(d, B)
        diff = zeros_aligned(d, B)
        Y = zeros_aligned(dp, B)
        s = np.empty(B)
        for b in range(b0, b1):
            start = b * B
            stop = min(n, start + B)
            m = stop - start
            _transpose_shifted(X, start, stop, zero, xs)
            for k in range(K):
                for j in range(d):
                    src = xs[j]
                    dst = diff[j]
                    mu = means[k, j]
                    for r in range(B):
                        dst[r] = src[r] - mu
                if path == MATMUL_TILED:
                    gemm_tn(Up[k], diff, Y)
                else:
                    gemm_tn4(Up[k], diff, Y)
                for r in range(B):
                    s[r] = 0.0
                for j in range(d):
                    row = Y[j]
                    for r in range(B):
                        s[r] += row[r] * row[r]
                c = const + log_det[k]
                for r in range(m):
                    out[start + r, k] = c - 0.5 * s[r]
    return out


@njit(parallel=True, cache=True, nogil=True)
def _log_prob_cholesky_blas(X, means, prec_chol, log_det, block_size, n_groups):
    """:func:`log_prob_cholesky` with one BLAS product per component and block."""
    n, d = X.shape
    K = means.shape[0]
    out = np.empty((n, K))
    const = -0.5 * d * np.log(2.0 * np.pi)
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        diff = np.empty((block_size, d))
        Y = np.empty((block_size, d))
        for b in range(b0, b1):
            start = b * block_size
            stop = min(n, start + block_size)
            m = stop - start
            for k in range(K):
                for r in range(m):
                    for j in range(d):
                        diff[r, j] = np.float64(X[start + r, j]) - means[k, j]
                for r in range(m, block_size):
                    for j in range(d):
                        diff[r, j] = 0.0
                np.dot(diff, prec_chol[k], Y)
                for r in range(m):
                    s = 0.0
                    for j in range(d):
                        s += Y[r, j] * Y[r, j]
                    out[start + r, k] = const + log_det[k] - 0.5 * s
    return out


@njit(parallel=True, cache=True, nogil=True)
def log_prob_diagonal(X, means, prec_chol, log_det, block_size, n_groups):
    """Component log-densities for diagonal precision Cholesky factors (K, D).

    The direct form ``-0.5 sum_j ((x_j - mu_kj) u_kj)^2``, summed in the
    order of ``j``: each block's rows are transposed once (feature-major), so
    that every loop runs across rows and vectorises, with the same operations
    per row as a row-by-row loop (and so its bits).
    """
    n, d = X.shape
    K = means.shape[0]
    out = np.empty((n, K))
    const = -0.5 * d * np.log(2.0 * np.pi)
    zero = np.zeros(d)
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        xs = zeros_aligned(d, block_size)
        s = np.empty(block_size)
        for b in range(b0, b1):
            start = b * block_size
            stop = min(n, start + block_size)
            m = stop - start
            _transpose_shifted(X, start, stop, zero, xs)
            for k in range(K):
                for r in range(m):
                    s[r] = 0.0
                for j in range(d):
                    row = xs[j]
                    mu = means[k, j]
                    u = prec_chol[k, j]
                    for r in range(m):
                        y = (row[r] - mu) * u
                        s[r] += y * y
                c = const + log_det[k]
                for r in range(m):
                    out[start + r, k] = c - 0.5 * s[r]
    return out


@njit(parallel=True, cache=True, nogil=True)
def column_moments(X, sample_weight, origin, block_size, n_groups):
    """Weighted sum, and sums of ``x - origin`` and its square, per column.

    Returns ``(weight_sum, sum_dx (D,), sum_dx2 (D,))`` in float64; used for the
    data centre (the statistics' shift) and the k-means tolerance.
    """
    n, d = X.shape
    n_blocks, n_groups = block_layout(n, block_size, n_groups)
    s0 = np.zeros(n_groups)
    s1 = np.zeros((n_groups, d))
    s2 = np.zeros((n_groups, d))
    weighted = sample_weight.shape[0] > 0
    for g in prange(n_groups):
        b0, b1 = group_bounds(n_blocks, n_groups, g)
        # Sums private to the group, stored once: for narrow rows the groups' rows of
        # s1 and s2 share cache lines, and adding into them row by row had the threads
        # take those lines from each other on every row.
        a0 = 0.0
        a1 = np.zeros(d)
        a2 = np.zeros(d)
        for b in range(b0, b1):
            start = b * block_size
            stop = min(n, start + block_size)
            for r in range(start, stop):
                w = sample_weight[r] if weighted else 1.0
                a0 += w
                for j in range(d):
                    v = np.float64(X[r, j]) - origin[j]
                    a1[j] += w * v
                    a2[j] += w * v * v
        s0[g] = a0
        s1[g] = a1
        s2[g] = a2
    return s0.sum(), s1.sum(axis=0), s2.sum(axis=0)
