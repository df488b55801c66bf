"""Plain NumPy EM for Bernoulli mixtures: obvious, slow, and the yardstick of the tests.

Everything is dense float64 and written as the textbook formulas, with no
attempt at speed or memory economy:

    log p(x, k) = log w_k + sum_d [x_d log mu_kd + (1 - x_d) log(1 - mu_kd)]
    r_nk        = p(x_n, k) / sum_j p(x_n, j)
    N_k         = sum_n s_n r_nk,   S_kd = sum_n s_n r_nk x_nd   (s = sample weights)
    mu_kd       = (S_kd + alpha) / (N_k + 2 alpha),   w_k = N_k / sum_j N_j

With NaN (missing at random) every sum over features runs over the observed
ones and ``N_k`` becomes, per feature, ``O_kd = sum_n s_n r_nk [x_nd observed]``
(the ``*_missing`` functions).
"""

import numpy as np
from scipy.special import logsumexp


def dense(X):
    """Any 0/1 input (scipy sparse or array-like) as a dense float64 array."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


def log_joint(X, weights, means):
    """``log w_k + log p_k(x_n)`` for every row and component, shape (n, K)."""
    X = dense(X)
    means = np.asarray(means, dtype=np.float64)
    log_p = X @ np.log(means).T + (1.0 - X) @ np.log(1.0 - means).T
    return log_p + np.log(weights)


def score_samples(X, weights, means):
    """``log p(x_n)`` of every row."""
    return logsumexp(log_joint(X, weights, means), axis=1)


def responsibilities(X, weights, means):
    """Posterior probabilities ``r_nk``."""
    lj = log_joint(X, weights, means)
    return np.exp(lj - logsumexp(lj, axis=1, keepdims=True))


def em_step(X, weights, means, alpha, sample_weight=None):
    """One EM iteration.

    Returns
    -------
    weights, means : ndarray
        Parameters after the M-step.
    mean_log_likelihood : float
        Weighted mean log-likelihood per sample under the *input* parameters
        (what fastem records in ``lower_bounds_``).
    """
    X = dense(X)
    s = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    ll = score_samples(X, weights, means)
    r = responsibilities(X, weights, means) * s[:, None]
    n_k = r.sum(axis=0)
    s_kd = r.T @ X
    new_means = (s_kd + alpha) / (n_k[:, None] + 2.0 * alpha)
    new_weights = n_k / n_k.sum()
    return new_weights, new_means, float(np.sum(s * ll) / np.sum(s))


def em(X, weights, means, alpha, n_iter, sample_weight=None):
    """``n_iter`` EM iterations; returns weights, means and the list of mean log-likelihoods."""
    bounds = []
    for _ in range(n_iter):
        weights, means, ll = em_step(X, weights, means, alpha, sample_weight)
        bounds.append(ll)
    return weights, means, bounds


# -- missing values (NaN) ---------------------------------------------------------------------
def log_joint_missing(X, weights, means):
    """``log w_k + sum over the observed d of log p(x_nd | k)``, shape (n, K)."""
    X = np.asarray(X, dtype=np.float64)
    observed = ~np.isnan(X)
    ones = np.where(observed, X, 0.0)
    zeros = observed - ones
    means = np.asarray(means, dtype=np.float64)
    log_p = ones @ np.log(means).T + zeros @ np.log(1.0 - means).T
    return log_p + np.log(weights)


def em_step_missing(X, weights, means, alpha, sample_weight=None):
    """One EM iteration on data with NaN; returns as :func:`em_step`."""
    X = np.asarray(X, dtype=np.float64)
    observed = (~np.isnan(X)).astype(np.float64)
    ones = np.where(observed > 0, X, 0.0)
    s = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    lj = log_joint_missing(X, weights, means)
    ll = logsumexp(lj, axis=1)
    r = np.exp(lj - ll[:, None]) * s[:, None]
    n_k = r.sum(axis=0)
    new_means = (r.T @ ones + alpha) / (r.T @ observed + 2.0 * alpha)
    return n_k / n_k.sum(), new_means, float(np.sum(s * ll) / np.sum(s))


def em_missing(X, weights, means, alpha, n_iter, sample_weight=None):
    """``n_iter`` iterations of :func:`em_step_missing`."""
    bounds = []
    for _ in range(n_iter):
        weights, means, ll = em_step_missing(X, weights, means, alpha, sample_weight)
        bounds.append(ll)
    return weights, means, bounds
