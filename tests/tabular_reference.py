"""Plain NumPy/SciPy EM for tabular mixtures: obvious, slow, the yardstick of the tests.

A table is given by kind: ``G`` (n, nG) floats, ``B`` (n, nB) 0/1, ``C`` (n, nC)
integer level codes, ``P`` (n, nP) counts, every missing cell NaN (codes too).
Parameters are a dict of ``weights`` (K,), ``means``/``variances`` (K, nG),
``probs`` (K, nB), ``levels`` (a list over categorical columns of (K, L_j)
arrays) and ``rates`` (K, nP). Everything is the textbook formula with SciPy's
densities; missing cells are left out of every sum (missing at random)::

    log p(x, k) = log w_k + sum over observed cells of log p_kj(x_j)
    O_kj        = sum_n s_n r_nk [x_nj observed]
    mean_kj     = sum s r x / O,  var_kj = sum s r (x - mean)^2 / O + reg_covar
    mu_kj       = (sum s r x + alpha) / (O + 2 alpha)
    p_kjl       = (sum s r [x = l] + alpha) / (O + L alpha)
    lambda_kj   = sum s r x / O

With a ``covariances`` entry (K, nG, nG) the gaussian columns are one block
with a full covariance (``covariance_type="full"``): a row's block density is
SciPy's multivariate normal of its observed cells, and the M-step takes, row
by row, the conditional mean of the missing cells and adds their conditional
covariance to the second moments::

    x_hat_m = mu_m + S_mo S_oo^-1 (x_o - mu_o),  C = S_mm - S_mo S_oo^-1 S_om
    mean_k  = sum s r x_hat / N_k
    cov_k   = sum s r ((x_hat - mean)(x_hat - mean)^T + C) / N_k + reg_covar I
"""

import numpy as np
from scipy import stats
from scipy.special import logsumexp


def log_joint(G, B, C, P, params):
    """``log w_k + log p_k(x_n)``, shape (n, K)."""
    K = params["weights"].shape[0]
    n = next(a.shape[0] for a in (G, B, C, P) if a is not None)
    out = np.tile(np.log(params["weights"]), (n, 1))
    full = "covariances" in params
    for k in range(K):
        if full:
            for i in range(n):
                ok = ~np.isnan(G[i])
                if ok.any():
                    S = params["covariances"][k][np.ix_(ok, ok)]
                    out[i, k] += stats.multivariate_normal.logpdf(
                        G[i, ok], params["means"][k, ok], S
                    )
        for j in range(0 if full else G.shape[1]):
            x = G[:, j]
            ok = ~np.isnan(x)
            sd = np.sqrt(params["variances"][k, j])
            out[ok, k] += stats.norm.logpdf(x[ok], params["means"][k, j], sd)
        for j in range(B.shape[1]):
            x = B[:, j]
            ok = ~np.isnan(x)
            out[ok, k] += stats.bernoulli.logpmf(x[ok], params["probs"][k, j])
        for j in range(C.shape[1]):
            x = C[:, j]
            ok = ~np.isnan(x)
            out[ok, k] += np.log(params["levels"][j][k, x[ok].astype(int)])
        for j in range(P.shape[1]):
            x = P[:, j]
            ok = ~np.isnan(x)
            out[ok, k] += stats.poisson.logpmf(x[ok], params["rates"][k, j])
    return out


def em_step(G, B, C, P, params, reg_covar, alpha, sample_weight=None):
    """One EM iteration: the new parameters and the mean log-likelihood under ``params``."""
    r, ll = responsibilities(G, B, C, P, params, sample_weight)
    return m_step(G, B, C, P, r, params, reg_covar, alpha), ll


def responsibilities(G, B, C, P, params, sample_weight=None):
    """Weighted responsibilities ``s r`` (n, K) and the mean log-likelihood under ``params``."""
    lj = log_joint(G, B, C, P, params)
    n = lj.shape[0]
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    ll = logsumexp(lj, axis=1)
    return np.exp(lj - ll[:, None]) * s[:, None], float((s * ll).sum() / s.sum())


def m_step(G, B, C, P, r, params, reg_covar, alpha):
    """Parameters from weighted responsibilities ``r`` (``params``: the levels, the block)."""
    N = r.sum(axis=0)
    new = {"weights": N / N.sum()}

    def observed(x):
        ok = ~np.isnan(x)
        return ok, r[ok].sum(axis=0)

    K = N.shape[0]
    means = np.empty((K, G.shape[1]))
    variances = np.empty((K, G.shape[1]))
    if "covariances" in params:
        new["covariances"] = _full_m_step(G, r, params, reg_covar, means)
        variances = np.array([np.diag(c) for c in new["covariances"]])
    for j in range(0 if "covariances" in new else G.shape[1]):
        ok, O = observed(G[:, j])
        x = G[ok, j]
        means[:, j] = r[ok].T @ x / O
        variances[:, j] = (r[ok] * (x[:, None] - means[:, j]) ** 2).sum(axis=0) / O + reg_covar
    probs = np.empty((K, B.shape[1]))
    for j in range(B.shape[1]):
        ok, O = observed(B[:, j])
        probs[:, j] = (r[ok].T @ B[ok, j] + alpha) / (O + 2 * alpha)
    levels = []
    for j in range(C.shape[1]):
        ok, O = observed(C[:, j])
        L = params["levels"][j].shape[1]
        onehot = np.eye(L)[C[ok, j].astype(int)]
        levels.append((r[ok].T @ onehot + alpha) / (O[:, None] + L * alpha))
    rates = np.empty((K, P.shape[1]))
    for j in range(P.shape[1]):
        ok, O = observed(P[:, j])
        rates[:, j] = r[ok].T @ P[ok, j] / O
    new.update(means=means, variances=variances, probs=probs, levels=levels, rates=rates)
    return new


def per_column_mle(G, B, C, P, n_levels, reg_covar=0.0):
    """K = 1: every column's maximum-likelihood estimate over its observed cells."""
    return {
        "weights": np.ones(1),
        "means": np.nanmean(G, axis=0)[None],
        "variances": (np.nanvar(G, axis=0) + reg_covar)[None],
        "probs": np.nanmean(B, axis=0)[None],
        "levels": [
            (np.bincount(c[~np.isnan(c)].astype(int), minlength=L) / np.sum(~np.isnan(c)))[None]
            for c, L in zip(C.T, n_levels, strict=True)
        ],
        "rates": np.nanmean(P, axis=0)[None],
    }


def _full_m_step(G, r, params, reg_covar, means):
    """Means (into ``means``) and full covariances from conditional expectations, row by row."""
    n, D = G.shape
    K = r.shape[1]
    covariances = np.empty((K, D, D))
    for k in range(K):
        mu, S = params["means"][k], params["covariances"][k]
        xhat = np.empty((n, D))
        cond = np.zeros((n, D, D))
        for i in range(n):
            o, m = ~np.isnan(G[i]), np.isnan(G[i])
            xhat[i, o] = G[i, o]
            B = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)]) if o.any() else None
            if B is None:
                xhat[i, m] = mu[m]
                cond[i][np.ix_(m, m)] = S[np.ix_(m, m)]
            else:
                xhat[i, m] = mu[m] + B @ (G[i, o] - mu[o])
                cond[i][np.ix_(m, m)] = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
        Nk = r[:, k].sum()
        means[k] = r[:, k] @ xhat / Nk
        d = xhat - means[k]
        second = np.einsum("n,ni,nj->ij", r[:, k], d, d) + np.einsum("n,nij->ij", r[:, k], cond)
        covariances[k] = second / Nk + reg_covar * np.eye(D)
    return covariances
