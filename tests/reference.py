"""Plain NumPy/SciPy reference EM for Gaussian mixtures: obvious, slow, N x K.

Nothing here is clever on purpose: log-densities come from
``scipy.stats.multivariate_normal.logpdf``, covariances are weighted sums of
outer products of the centred rows, and every convention follows
scikit-learn (``10 * eps`` added to N_k, ``reg_covar`` added to the diagonal,
spherical variances the mean of the diagonal ones, ``precisions_cholesky``
upper-triangular ``U`` with ``precision = U U^T``). The tests compare fastem's
fused kernels with it.
"""

import numpy as np
from scipy import linalg
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def as_full(covariances, covariance_type, n_components, n_features):
    """Covariances of every component as a (K, D, D) stack."""
    if covariance_type == "full":
        return np.asarray(covariances, dtype=np.float64)
    if covariance_type == "tied":
        return np.repeat(np.asarray(covariances, dtype=np.float64)[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(n_features) for c in covariances])


def covariances_from_precisions_cholesky(prec_chol, covariance_type):
    """Covariances ``inv(U U^T)`` in the shape of ``covariance_type``."""
    prec_chol = np.asarray(prec_chol, dtype=np.float64)
    if covariance_type == "full":
        return np.stack([linalg.inv(u @ u.T) for u in prec_chol])
    if covariance_type == "tied":
        return linalg.inv(prec_chol @ prec_chol.T)
    return 1.0 / prec_chol**2


def precisions_cholesky(covariances, covariance_type):
    """Upper-triangular ``U = inv(L)^T``, ``L`` the lower Cholesky factor of each covariance."""
    if covariance_type == "full":
        return np.stack([linalg.inv(linalg.cholesky(c, lower=True)).T for c in covariances])
    if covariance_type == "tied":
        return linalg.inv(linalg.cholesky(covariances, lower=True)).T
    return 1.0 / np.sqrt(covariances)


def log_gaussian_prob(X, means, covariances, covariance_type):
    """(n, K) matrix of ``log N(x_n; mu_k, Sigma_k)`` from SciPy."""
    X = np.asarray(X, dtype=np.float64)
    n_components, n_features = means.shape
    full = as_full(covariances, covariance_type, n_components, n_features)
    return np.stack(
        [
            np.atleast_1d(multivariate_normal.logpdf(X, mean=m, cov=c))
            for m, c in zip(means, full, strict=True)
        ],
        axis=1,
    )


def e_step(X, weights, means, covariances, covariance_type):
    """Per-row log-likelihood ``log p(x_n)`` (n,) and responsibilities (n, K)."""
    weighted = log_gaussian_prob(X, means, covariances, covariance_type) + np.log(weights)
    log_norm = logsumexp(weighted, axis=1)
    return log_norm, np.exp(weighted - log_norm[:, None])


def m_step(X, resp, sample_weight, reg_covar, covariance_type):
    """Weighted maximum-likelihood parameters for responsibilities ``resp``.

    Returns a dict with ``weights``, ``means``, ``covariances`` and
    ``precisions_cholesky``.
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    w = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, float)
    wr = resp * w[:, None]
    nk = wr.sum(axis=0) + 10 * np.finfo(np.float64).eps
    means = wr.T @ X / nk[:, None]
    scatter = []
    for k in range(means.shape[0]):
        diff = X - means[k]
        scatter.append((wr[:, k, None] * diff).T @ diff)
    scatter = np.stack(scatter)
    eye = np.eye(n_features)
    if covariance_type == "full":
        covariances = scatter / nk[:, None, None] + reg_covar * eye
    elif covariance_type == "tied":
        covariances = scatter.sum(axis=0) / nk.sum() + reg_covar * eye
    else:
        diag = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
        covariances = diag if covariance_type == "diag" else diag.mean(axis=1)
    return {
        "weights": nk / nk.sum(),
        "means": means,
        "covariances": covariances,
        "precisions_cholesky": precisions_cholesky(covariances, covariance_type),
    }


def em_step(X, sample_weight, weights, means, covariances, covariance_type, reg_covar):
    """One E-step and M-step; returns (new parameters, weighted mean log-likelihood)."""
    log_norm, resp = e_step(X, weights, means, covariances, covariance_type)
    w = np.ones(len(log_norm)) if sample_weight is None else np.asarray(sample_weight, float)
    params = m_step(X, resp, sample_weight, reg_covar, covariance_type)
    return params, float(np.sum(w * log_norm) / np.sum(w))


def random_params(rng, n_components, n_features, covariance_type, scale=1.0):
    """A random, well-conditioned parameter set (weights, means, covariances)."""
    weights = rng.uniform(0.5, 1.5, n_components)
    weights /= weights.sum()
    means = rng.normal(scale=3.0 * scale, size=(n_components, n_features))

    def spd():
        A = rng.normal(size=(n_features, n_features))
        return scale**2 * (A @ A.T / n_features + 0.5 * np.eye(n_features))

    if covariance_type == "full":
        covariances = np.stack([spd() for _ in range(n_components)])
    elif covariance_type == "tied":
        covariances = spd()
    elif covariance_type == "diag":
        covariances = scale**2 * rng.uniform(0.5, 2.0, (n_components, n_features))
    else:
        covariances = scale**2 * rng.uniform(0.5, 2.0, n_components)
    return weights, means, covariances


def precisions(covariances, covariance_type):
    """Inverse covariances in the shape of ``covariance_type`` (for ``precisions_init``)."""
    if covariance_type == "full":
        return np.stack([linalg.inv(c) for c in covariances])
    if covariance_type == "tied":
        return linalg.inv(covariances)
    return 1.0 / np.asarray(covariances)


def assert_rel_close(actual, desired, rtol, name="", scale=None):
    """``max |actual - desired| <= rtol * scale``, by default ``scale = max |desired|``.

    Element-wise relative errors are meaningless for entries that are zero up to
    round-off (off-diagonal covariances, means near the origin); the error is
    measured against the largest entry of the array instead, or against a
    ``scale`` the round-off is proportional to (such as the data's squared size).
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, f"{name}: shape {actual.shape} != {desired.shape}"
    assert np.all(np.isfinite(actual)), f"{name}: non-finite values {actual}"
    if scale is None:
        scale = np.max(np.abs(desired)) if desired.size else 0.0
    error = np.max(np.abs(actual - desired)) if actual.size else 0.0
    assert error <= rtol * scale, f"{name}: relative error {error / scale:.3e} > {rtol:.1e}"


def log_gaussian_prob_extended(X, mean, covariance):
    """``log N(x_n; mean, covariance)`` through a Cholesky factorisation in long double.

    A check of precision for ill-conditioned covariances, where SciPy's float64
    result carries its own error of order ``cond * eps``: written out loop by loop
    in ``np.longdouble`` (64-bit mantissa on x86).
    """
    ld = np.longdouble
    C = np.asarray(covariance, dtype=ld)
    D = C.shape[0]
    L = np.zeros((D, D), dtype=ld)
    for j in range(D):
        L[j, j] = np.sqrt(C[j, j] - np.sum(L[j, :j] ** 2))
        for i in range(j + 1, D):
            L[i, j] = (C[i, j] - np.sum(L[i, :j] * L[j, :j])) / L[j, j]
    const = -0.5 * D * np.log(2 * ld(np.pi)) - np.sum(np.log(np.diag(L)))
    out = np.empty(len(X), dtype=ld)
    for n, x in enumerate(np.asarray(X, dtype=ld) - np.asarray(mean, dtype=ld)):
        y = np.zeros(D, dtype=ld)
        for i in range(D):
            y[i] = (x[i] - np.sum(L[i, :i] * y[:i])) / L[i, i]
        out[n] = const - 0.5 * np.sum(y * y)
    return out
