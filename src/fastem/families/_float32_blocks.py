"""When float32 rows may run the Gaussian E-step in float32 blocks, and when a chunk must not.

float32 blocks (float32 features, products and exponentials; sums over blocks
in float64) double the lanes per vector and halve the bytes, but the features
``T(x - shift)`` are taken around one shift, the data's centre, for every
component.  Two things then cost digits:

- Log-densities.  A component whose mean lies far from the shift in its own
  metric (squared distance ``c_k = |(mu_k - shift) U_k|^2``) has terms of size
  ``c_k`` that cancel near its mean, so its log-densities carry about ``c_k``
  float32 roundings.  :func:`block_dtype` takes float32 blocks only while
  every weighted component has ``c_k <= settings.float32_block_max_offset``.
- Second moments.  A covariance is ``S2 / N - mu mu^T`` of moments around the
  shift; where the new covariance is narrow next to its mean's offset (a
  component collapsing onto repeated rows, say) the float32 sums leave it
  unresolved.  :func:`statistics_resolved` checks a chunk's float32 statistics
  and the family recomputes the chunk in float64 blocks where they fail.

Both bounds are in units of float32 roundings, so both compare with the same
setting.
"""

import numpy as np
from scipy import linalg

from .._settings import settings

#: Share of a component's expected weight in a chunk below which the chunk's
#: statistics of that component are not checked: whatever their rounding, they
#: move the component's totals by less than that share of it.
NEGLIGIBLE_SHARE = 1e-3


def mean_offsets(covariance_type, means, shift, prec_chol):
    """``|(mu_k - shift) U_k|^2``: each mean's squared distance from the shift, in its metric."""
    mu = means - shift
    if covariance_type == "full":
        y = np.einsum("kd,kde->ke", mu, prec_chol)
    elif covariance_type == "tied":
        y = mu @ prec_chol
    elif covariance_type == "diag":
        y = mu * prec_chol
    else:
        y = mu * prec_chol[:, None]
    return np.sum(y * y, axis=1)


def block_dtype(family, X, params, W):
    """The dtype of ``family``'s fused E-step blocks for rows ``X`` under ``params``.

    float32 for float32 rows while every component with weight has its mean
    within ``settings.float32_block_max_offset`` of the shift (see the module
    docstring) and the natural parameters ``W`` fit in float32; float64
    otherwise, and for float64 rows.  ``settings.float32_blocks`` forces
    either ("always"/"never").
    """
    mode = settings.float32_blocks
    if X.dtype != np.float32 or mode == "never":
        return np.float64
    if mode == "always":
        return np.float32
    finite = W[np.isfinite(W)]
    if finite.size and not np.max(np.abs(finite)) < np.finfo(np.float32).max:
        return np.float64
    offsets = mean_offsets(
        family.covariance_type, params.means, family.shift, params.precisions_cholesky
    )
    offsets = offsets[np.asarray(params.weights) > 0]
    if offsets.size and not np.max(offsets) <= settings.float32_block_max_offset:
        return np.float64
    return np.float32


def statistics_resolved(covariance_type, n_features, moments, second_moment, weights, vech):
    """Whether a chunk's float32-block statistics resolve every covariance they imply.

    A float32 sum of ``x_i x_j`` around the shift carries a rounding of about
    float32's epsilon times ``sum x_i^2``; in a covariance's own metric that is
    ``q_k = sum_i (Sigma_k^-1)_ii E_k[x_i^2]`` roundings (``d + c_k`` for a
    diagonal covariance).  The statistics are resolved where every component
    with more than :data:`NEGLIGIBLE_SHARE` of its expected weight (``weights``,
    the parameters of the E-step) has a positive definite covariance and
    ``q_k <= settings.float32_block_max_offset``.  ``moments`` and
    ``second_moment`` are :meth:`GaussianFamily.estep_stats`'s for
    ``n_features`` columns; ``vech`` is the pair of upper-triangle indices of
    the full second moments.
    """
    nk = moments[:, 0]
    if not np.all(np.isfinite(moments)) or not np.all(np.isfinite(second_moment)):
        return False
    limit = settings.float32_block_max_offset
    checked = (nk > 0) & (nk >= NEGLIGIBLE_SHARE * np.asarray(weights) * nk.sum())
    if not np.any(checked):
        return True
    D = n_features
    mu = moments[:, 1 : 1 + D] / np.where(nk > 0, nk, 1.0)[:, None]
    if covariance_type != "tied":
        moments, nk, mu = moments[checked], nk[checked], mu[checked]
    if covariance_type == "diag":
        square = moments[:, 1 + D :] / nk[:, None]
        variance = square - mu**2
        with np.errstate(divide="ignore", invalid="ignore"):
            loads = np.where(variance > 0, square / variance, np.inf).sum(axis=1)
        return bool(np.all(loads <= limit))
    if covariance_type == "spherical":
        square = moments[:, 1 + D] / nk
        variance = square - np.sum(mu**2, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            loads = np.where(variance > 0, square / variance * D, np.inf)
        return bool(np.all(loads <= limit))
    if covariance_type == "tied":
        total = nk.sum()
        squares = [second_moment / total]
        covariances = [squares[0] - (nk[:, None] * mu).T @ mu / total]
    else:
        i, j = vech
        squares, covariances = [], []
        for k in range(nk.size):
            square = np.empty((D, D))
            square[i, j] = moments[k, 1 + D :] / nk[k]
            square[j, i] = moments[k, 1 + D :] / nk[k]
            squares.append(square)
            covariances.append(square - np.outer(mu[k], mu[k]))
    for square, covariance in zip(squares, covariances, strict=True):
        try:
            factor = linalg.cholesky(covariance, lower=True)
            inverse = linalg.solve_triangular(factor, np.eye(D), lower=True)
        except (linalg.LinAlgError, ValueError):
            return False
        load = np.sum(inverse**2, axis=0) @ np.diag(square)
        if not load <= limit:
            return False
    return True
