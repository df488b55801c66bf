"""EM loops. They see a family only through its contract and rows only through a source."""

import numpy as np


def estep_pass(family, source, params):
    """One E-step over every chunk of ``source``: the summed sufficient statistics."""
    total = None
    for X_chunk, weight_chunk in source.chunks():
        stats = family.estep_stats(X_chunk, weight_chunk, params)
        total = stats if total is None else total + stats
    return total


def exact_em(family, source, params, *, reg, tol, max_iter, lower_bound, on_iteration=None):
    """Exact EM: every iteration is one full pass over the source.

    The convergence rule is scikit-learn's: stop when the mean log-likelihood
    per sample changes by less than ``tol`` between iterations.

    Parameters
    ----------
    family : object
        Implements the family contract (``estep_stats``, ``m_step``).
    source : object
        Yields row chunks (see ``fastem._sources``).
    params : object
        Initial parameters of the family.
    reg : float
        Regularisation passed to the M-step.
    tol : float
        Convergence threshold on the mean log-likelihood.
    max_iter : int
        Maximum number of iterations (at least 1).
    lower_bound : float
        Lower bound before the first iteration (-inf for a fresh start).
    on_iteration : callable, optional
        ``on_iteration(n_iter, change)`` after each iteration.

    Returns
    -------
    params, lower_bounds, n_iter, converged
        Parameters after the last M-step, the mean log-likelihood of every
        iteration, the number of iterations and whether ``tol`` was reached.
    """
    lower_bounds = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        stats = estep_pass(family, source, params)
        lower_bound = stats.mean_log_likelihood
        if not np.isfinite(lower_bound):
            raise ValueError(
                "The log-likelihood became non-finite during EM; the data or the "
                "parameters overflow. Scale the input data or use float64."
            )
        params = family.m_step(stats, reg)
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        if on_iteration is not None:
            on_iteration(n_iter, change)
        if abs(change) < tol:
            converged = True
            break
    return params, lower_bounds, n_iter, converged
