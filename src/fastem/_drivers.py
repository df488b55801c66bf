"""EM loops. They see a family only through its contract and rows only through a source."""

import numpy as np

from ._checkpoint import test_hook


def estep_pass(family, source, params, progress=None):
    """One E-step over every chunk of ``source``: the summed sufficient statistics."""

    def chunk_stats(X_chunk, weight_chunk):
        test_hook("estep")
        return family.estep_stats(X_chunk, weight_chunk, params)

    return source.map_reduce(chunk_stats, progress)


def exact_em(
    family,
    source,
    params,
    *,
    reg,
    tol,
    max_iter,
    lower_bound,
    on_iteration=None,
    progress=None,
    callback=None,
    start_iter=0,
    lower_bounds=None,
    on_step=None,
):
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
        Lower bound before the first iteration (-inf for a fresh start; when
        resuming, the bound of iteration ``start_iter``).
    on_iteration : callable, optional
        ``on_iteration(n_iter, change)`` after each iteration.
    progress : fastem._progress.Progress, optional
        Progress bar advanced per chunk and per iteration.
    callback : callable, optional
        ``callback(n_iter, lower_bound)`` after each iteration; a true return
        value stops EM there (``converged`` stays False).
    start_iter : int, default=0
        Iterations already done (resuming from a checkpoint): ``params`` are
        the parameters after iteration ``start_iter``.
    lower_bounds : list of float, optional
        The bounds of those iterations (a copy is extended).
    on_step : callable, optional
        ``on_step(params, lower_bounds, n_iter, converged, done)`` after each
        iteration, once its callback has run; ``done`` is True for the last
        one. Checkpoints are written here.

    Returns
    -------
    params, lower_bounds, n_iter, converged
        Parameters after the last M-step, the mean log-likelihood of every
        iteration, the number of iterations and whether ``tol`` was reached.
    """
    lower_bounds = [] if lower_bounds is None else list(lower_bounds)
    converged = False
    n_iter = start_iter
    for n_iter in range(start_iter + 1, max_iter + 1):
        previous = lower_bound
        stats = estep_pass(family, source, params, progress)
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
        if progress is not None:
            progress.iteration(n_iter, lower_bound)
        stop = callback is not None and bool(callback(n_iter, lower_bound))
        converged = abs(change) < tol
        done = converged or stop or n_iter == max_iter
        if on_step is not None:
            on_step(params, lower_bounds, n_iter, converged, done)
        if done:
            break
    return params, lower_bounds, n_iter, converged


def step_size(t, decay):
    """Stepwise EM's weight of the ``t``-th mini-batch (``t = 0`` for the first)."""
    return (t + 2.0) ** (-decay)


def stepwise_update(family, running, X_batch, weight_batch, params, *, t, decay, reg):
    """One step of stepwise (online) EM on a mini-batch.

    The batch's statistics, normalised by its weight, are blended into the
    running normalised statistics with step ``(t + 2) ** -decay`` (Cappé and
    Moulines' online EM; the first batch replaces them), then an M-step gives
    the new parameters. Steps decrease so that their sum diverges and the sum
    of their squares converges (``decay`` in (0.5, 1]).

    Returns
    -------
    running : SufficientStats
        Updated running statistics (normalised to unit weight).
    params : object
        Parameters after the M-step.
    batch_mean_log_likelihood : float
        Mean log-likelihood of the batch under the parameters before the step.
    """
    test_hook("estep")
    stats = family.estep_stats(X_batch, weight_batch, params)
    batch_ll = stats.mean_log_likelihood
    normalised = stats.scaled(1.0 / stats.weight_sum)
    if running is None:
        running = normalised
    else:
        rho = step_size(t, decay)
        running = running.scaled(1.0 - rho) + normalised.scaled(rho)
    return running, family.m_step(running, reg), batch_ll
