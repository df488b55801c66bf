"""A plain NumPy/SciPy reference for Gaussian-mixture EM with missing values (NaN).

Row by row, with nothing shared between rows: each row's marginal density
under every component from ``scipy.stats.multivariate_normal`` on its observed
coordinates, and its expected sufficient statistics with the conditional
moments written out (Ghahramani & Jordan 1994):

    E[x_m | x_o, k]      = mu_m + S_mo S_oo^-1 (x_o - mu_o)
    Cov[x_m | x_o, k]    = S_mm - S_mo S_oo^-1 S_om
    E[x x^T | x_o, k]    = xhat xhat^T + Cov[x_m | x_o, k] on the (m, m) block

Slow on purpose; only for small test problems.
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal


def full_covariances(covariances, covariance_type, n_components, n_features):
    """Every component's covariance as a (K, D, D) matrix."""
    if covariance_type == "full":
        return np.asarray(covariances, dtype=np.float64)
    if covariance_type == "tied":
        return np.repeat(np.asarray(covariances, dtype=np.float64)[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in np.asarray(covariances, dtype=np.float64)])
    return np.stack([np.eye(n_features) * c for c in np.asarray(covariances, dtype=np.float64)])


def row_log_prob(x, means, covs, frozen=None):
    """``log p_k(x_o)`` for every component (0 when nothing is observed).

    ``frozen`` (a dict) keeps the frozen distributions per observed pattern
    between calls with the same parameters (building them is the slow part).
    """
    o = ~np.isnan(x)
    if not o.any():
        return np.zeros(len(means))
    key = o.tobytes()
    if frozen is None or key not in frozen:
        dists = [
            multivariate_normal(mu[o], cov[np.ix_(o, o)])
            for mu, cov in zip(means, covs, strict=True)
        ]
        if frozen is None:
            return np.array([dist.logpdf(x[o]) for dist in dists])
        frozen[key] = dists
    return np.array([dist.logpdf(x[o]) for dist in frozen[key]])


def conditional_moments(x, mu, cov):
    """``(xhat, second)``: E[x | x_o] and E[x x^T | x_o] under N(mu, cov)."""
    o = ~np.isnan(x)
    m = ~o
    xhat = np.where(o, x, 0.0)
    cond = np.zeros((len(x), len(x)))
    if m.any():
        if o.any():
            gain = np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)]).T
            xhat[m] = mu[m] + gain @ (x[o] - mu[o])
            cond[np.ix_(m, m)] = cov[np.ix_(m, m)] - gain @ cov[np.ix_(o, m)]
        else:
            xhat = mu.copy()
            cond = cov.copy()
    return xhat, np.outer(xhat, xhat) + cond


def log_likelihood(X, weights, means, covariances, covariance_type, sample_weight=None):
    """Observed-data log-likelihood ``sum_n w_n log sum_k pi_k p_k(x_n,o)``."""
    X = np.asarray(X, dtype=np.float64)
    K, D = means.shape
    covs = full_covariances(covariances, covariance_type, K, D)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    frozen = {}
    return float(
        sum(
            wn * logsumexp(log_w + row_log_prob(x, means, covs, frozen))
            for x, wn in zip(X, w, strict=True)
        )
    )


def em_step(X, weights, means, covariances, covariance_type, reg_covar, sample_weight=None):
    """One EM iteration: ``(weights, means, covariances, log_likelihood)``.

    The log-likelihood is the one under the parameters given (before the step).
    """
    X = np.asarray(X, dtype=np.float64)
    K, D = means.shape
    covs = full_covariances(covariances, covariance_type, K, D)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    nk = np.zeros(K)
    s1 = np.zeros((K, D))
    s2 = np.zeros((K, D, D))
    total = 0.0
    frozen = {}
    for x, wn in zip(X, w, strict=True):
        lp = log_w + row_log_prob(x, means, covs, frozen)
        norm = logsumexp(lp)
        total += wn * norm
        resp = np.exp(lp - norm)
        for k in range(K):
            xhat, second = conditional_moments(x, means[k], covs[k])
            r = wn * resp[k]
            nk[k] += r
            s1[k] += r * xhat
            s2[k] += r * second
    nk_eps = nk + 10 * np.finfo(np.float64).eps
    new_means = s1 / nk_eps[:, None]
    scatter = s2 - nk_eps[:, None, None] * new_means[:, :, None] * new_means[:, None, :]
    eye = np.eye(D)
    if covariance_type == "full":
        new_cov = scatter / nk_eps[:, None, None] + reg_covar * eye
    elif covariance_type == "tied":
        new_cov = scatter.sum(axis=0) / nk_eps.sum() + reg_covar * eye
    elif covariance_type == "diag":
        new_cov = np.diagonal(scatter, axis1=1, axis2=2) / nk_eps[:, None] + reg_covar
    else:
        new_cov = np.trace(scatter, axis1=1, axis2=2) / nk_eps / D + reg_covar
    return nk_eps / nk_eps.sum(), new_means, new_cov, total


def log_prob(X, means, covariances, covariance_type):
    """(n, K) marginal component log-densities of every row."""
    X = np.asarray(X, dtype=np.float64)
    K, D = means.shape
    covs = full_covariances(covariances, covariance_type, K, D)
    frozen = {}
    return np.stack([row_log_prob(x, means, covs, frozen) for x in X])
