"""Many Gaussian models of a chunk in one kernel call: the E-steps and the evaluation.

``GaussianFamily.estep_stats_many`` and ``GaussianFamily.evaluate_many`` (the
optional methods of the family contract that the drivers use for many runs
sharing a pass): models of one covariance type whose chunk features coincide
have their natural parameters side by side in one ``W``, and
:func:`fastem.kernels.gaussian.estep_stats_many` fills every block's features
once for all of them.
"""

import numpy as np

from .._threads import row_groups
from ..kernels import _gaussian_features as gf
from ..kernels import gaussian as gk
from ..kernels._gemm import MATMUL_BLAS
from . import _float32_blocks as f32


def estep_stats_many(families, X, sample_weight, params):
    """``GaussianFamily.estep_stats`` of several families on one chunk, each with its parameters.

    Families of one covariance type that share the chunk's features
    (the same shift, block shapes, product path and block dtype) run in
    one kernel call, :func:`fastem.kernels.gaussian.estep_stats_many`:
    the features of every block are filled once and one wider product
    gives every model's log-densities. Each model's statistics are those
    of its own ``GaussianFamily.estep_stats``, bit for bit (on the BLAS path, which
    may round a wider product differently, each model runs alone);
    chunks with NaN, and float32 statistics that fail their check, are
    computed model by model as ``GaussianFamily.estep_stats`` does.

    Parameters
    ----------
    families : list of GaussianFamily
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or (0,)
    params : list of GaussianParams
        One per family.

    Returns
    -------
    list of fastem._stats.SufficientStats
        One per family, in order.
    """
    results = [None] * len(families)
    for i, family in enumerate(families):
        if family._has_missing(X):
            results[i] = family.estep_stats(X, sample_weight, params[i])
    rest = [i for i, r in enumerate(results) if r is None]
    for members, (moments, second, ll, _), starts, dtype in _stacked_calls(
        [families[i] for i in rest], X, sample_weight, [params[i] for i in rest], None
    ):
        for m, (j, W) in enumerate(members):
            i = rest[j]
            family, p = families[i], params[i]
            moments_m = np.ascontiguousarray(moments[starts[m] : starts[m + 1]])
            second_m, ll_m = second.copy(), ll[m]
            if dtype == np.float32 and not family._float32_resolved(p, moments_m, second_m, ll_m):
                moments_m, second_m, ll_m = gk.estep_stats(
                    *family._kernel_args(X, sample_weight, p, W), np.empty(0, np.float64)
                )
            results[i] = family._wrap(X, sample_weight, moments_m, second_m, ll_m)
    return results


def evaluate_many(families, X, sample_weight, params):
    """Log-likelihood and entropy of the responsibilities of several models on a chunk.

    Model selection's final pass (BIC, AIC and ICL of every candidate):
    for each family, ``sum_n w_n log p(x_n)`` and ``-sum_n w_n sum_k r_nk
    log r_nk`` under its parameters, from the fused E-step in float64
    blocks (models of one covariance type in one product, as
    :func:`estep_stats_many`). None for a family whose chunk holds NaN
    (the caller scores those rows through the estimator's ``log_prob``).

    Returns
    -------
    list of (float, float) or None
        One per family, in order.
    """
    results = [None] * len(families)
    rest = [i for i, family in enumerate(families) if not family._has_missing(X)]
    for members, (_, _, ll, entropy), _, _ in _stacked_calls(
        [families[i] for i in rest], X, sample_weight, [params[i] for i in rest], np.float64
    ):
        for m, (j, _) in enumerate(members):
            results[rest[j]] = (float(ll[m]), float(entropy[m]))
    return results


def _stacked_calls(families, X, sample_weight, params, block_dtype):
    """One :func:`fastem.kernels.gaussian.estep_stats_many` call per group of families.

    Families whose chunk features coincide (covariance kind, shift, block
    shapes, product path and block dtype: each family's own, or ``block_dtype``
    for all) are one group, except on the BLAS path, where each is alone.
    Yields ``(members, kernel results, starts, block dtype)`` where
    ``members`` lists ``(index into families, natural weights)``; with
    ``block_dtype`` given, the kernel evaluates (log-likelihood and entropy,
    no statistics).
    """
    groups = {}
    for i, (family, p) in enumerate(zip(families, params, strict=True)):
        W = family.natural_weights(p)
        dtype = np.dtype(f32.block_dtype(family, X, p, W) if block_dtype is None else block_dtype)
        key = (
            family.kind,
            family.n_features,
            family.block_size,
            family.matmul_path,
            dtype,
            family.shift.tobytes(),
            # BLAS may round a wider product differently: alone there, so that a
            # model's bits never depend on the models beside it.
            i if family.matmul_path == MATMUL_BLAS else None,
        )
        groups.setdefault(key, []).append((i, W))
    for (kind, _, block_size, path, dtype, _, _), members in groups.items():
        weights = [W for _, W in members]
        starts = np.cumsum([0] + [W.shape[1] for W in weights], dtype=np.int64)
        if kind == gf.TIED:
            tied = np.stack([families[i]._tied_factor(params[i]) for i, _ in members])
            tied = np.ascontiguousarray(tied, dtype=np.float64)
        else:
            tied = gk.NO_TIED_FACTORS
        out = gk.estep_stats_many(
            X,
            sample_weight,
            families[members[0][0]].shift,
            np.concatenate(weights, axis=1),
            starts,
            tied,
            kind,
            block_size,
            row_groups(X.shape[0]),
            path,
            np.empty(0, dtype),
            block_dtype is not None,
        )
        yield members, out, starts, dtype
