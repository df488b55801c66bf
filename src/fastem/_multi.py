"""Many EM runs advanced in the same passes over a source.

Model selection fits many candidates (numbers of components, covariance
types) and each of them from several starts. Fitted one after another, every
run reads the data once per iteration. Here every pass over the source reads
each chunk once and hands it, while it is in memory, to every run that is
still going (:func:`fastem._passes.shared_pass`): each run's own family
computes its statistics on it (``estep_stats``), the M-steps follow, and runs
that converge or fail drop out. A memory-mapped or chunked source is
therefore read (initialisation passes + the most iterations of any run)
times, not the sum over runs.

Runs whose family class computes many models at once (``estep_stats_many``,
the Gaussian families: models of one covariance type share each block's
features and one wider product of their log-densities) are handed to it
together, one call per chunk.

The initialisation is batched the same way (:mod:`fastem._multi_init`).
Every run computes what :func:`fastem._drivers.exact_em` computes for it
alone, on the same chunks in the same order: the results are identical to
the last bit.
"""

import time

import numpy as np

from ._passes import (
    RUN_ERRORS,
    Each,
    _Bound,
    _Failure,
    grouped_by_method,
    per_member,
    shared_pass,
)


class Run:
    """One EM run (a candidate's start): its family, parameters and history.

    :meth:`step` is one iteration of :func:`fastem._drivers.exact_em` given
    the statistics of the pass, with the same convergence rule; failures
    (a singular covariance, a non-finite log-likelihood) end the run and are
    kept as its ``error`` (the message) and ``exception`` instead of being
    raised.

    Parameters
    ----------
    family : fastem.families.Family
        The run's family.
    params : object
        Initial parameters.
    reg : float
        Regularisation of the M-step.
    tol : float
        Convergence threshold on the mean log-likelihood per sample.
    max_iter : int
        Iterations after which the run stops unconverged.
    tag : object, optional
        Whatever the caller wants to find the run by.
    """

    def __init__(self, family, params, *, reg, tol, max_iter, tag=None):
        self.family = family
        self.params = params
        self.reg = reg
        self.tol = tol
        self.max_iter = max_iter
        self.tag = tag
        self.lower_bound = -np.inf
        self.lower_bounds = []
        self.n_iter = 0
        self.converged = False
        self.error = None
        self.exception = None
        self.seconds = 0.0

    @property
    def live(self):
        """Still iterating: not converged, not failed, below ``max_iter``."""
        return self.error is None and not self.converged and self.n_iter < self.max_iter

    def fail(self, exc):
        """End the run with the message of ``exc``."""
        self.exception = exc
        self.error = " ".join(str(exc).split()) or type(exc).__name__

    def estep(self):
        """The function of a chunk that a shared pass computes for this run."""
        return _Bound(_estep, self.family, self.params)

    def step(self, stats):
        """Take the pass's statistics: M-step, bounds, convergence (as ``exact_em``)."""
        if isinstance(stats, _Failure):
            self.fail(stats.exc)
            return
        previous = self.lower_bound
        lower_bound = stats.mean_log_likelihood
        if not np.isfinite(lower_bound):
            # exact_em's error, word for word.
            self.fail(
                ValueError(
                    "The log-likelihood became non-finite during EM; the data or the "
                    "parameters overflow. Scale the input data or use float64."
                )
            )
            return
        try:
            self.params = self.family.m_step(stats, self.reg)
        except (ValueError, np.linalg.LinAlgError) as exc:
            self.fail(exc)
            return
        self.n_iter += 1
        self.lower_bound = lower_bound
        self.lower_bounds.append(lower_bound)
        if abs(lower_bound - previous) < self.tol:
            self.converged = True

    def forget_history(self):
        """Keep the parameters, start the bounds and the iteration count afresh."""
        self.lower_bound = -np.inf
        self.lower_bounds = []
        self.n_iter = 0
        self.converged = False

    def continue_with(self, *, tol, max_iter):
        """Go on iterating under a new tolerance, up to ``max_iter`` iterations in all."""
        self.tol = tol
        self.max_iter = max_iter
        if self.error is None and self.lower_bounds:
            # Converged under the old tolerance says nothing about the new one:
            # the next iteration's change decides, exactly as in one long run.
            change = self.lower_bounds[-1] - (
                self.lower_bounds[-2] if len(self.lower_bounds) > 1 else -np.inf
            )
            self.converged = abs(change) < tol


def _estep(X_chunk, w_chunk, family, params):
    return family.estep_stats(X_chunk, w_chunk, params)


def _estep_many(X_chunk, w_chunk, families, params):
    """The runs' statistics of a chunk in one ``estep_stats_many`` call.

    Where the joint call raises, each run's own E-step tells which of them
    failed (a failure is its run's alone, as in separate functions).
    """
    try:
        return Each(type(families[0]).estep_stats_many(families, X_chunk, w_chunk, params))
    except RUN_ERRORS:
        return Each.of_each(
            [_Bound(_estep, family, p) for family, p in zip(families, params, strict=True)],
            X_chunk,
            w_chunk,
        )


def _estep_functions(live):
    """The functions of a pass for the ``live`` runs, and the runs each one serves.

    Runs whose family class has ``estep_stats_many`` share one function per
    class (two or more of them); every other run has its own.
    """
    groups, alone = grouped_by_method(live, lambda run: run.family, "estep_stats_many")
    funcs = [
        _Bound(_estep_many, [r.family for r in runs], [r.params for r in runs]) for runs in groups
    ]
    return funcs + [run.estep() for run in alone], groups + [[run] for run in alone]


def advance(runs, source, *, max_steps=None, progress=None, on_pass=None):
    """Iterate every live run, all in the same passes, until none is live.

    Parameters
    ----------
    runs : list of Run
        Runs to advance; those that are not :attr:`Run.live` are left alone.
    source : fastem._sources.Source
        The rows.
    max_steps : int, optional
        Stop after this many passes even if runs are still live.
    progress : fastem._progress.Progress, optional
        Advanced per chunk.
    on_pass : callable, optional
        ``on_pass(n_live)`` after every pass.

    Returns
    -------
    int
        The number of passes made.
    """
    n_passes = 0
    while max_steps is None or n_passes < max_steps:
        live = [run for run in runs if run.live]
        if not live:
            break
        funcs, served = _estep_functions(live)
        results, seconds = shared_pass(source, funcs, progress)
        n_passes += 1
        for run, stats, spent in per_member(
            results, seconds, served, lambda run: run.family.n_components
        ):
            start = time.perf_counter()
            run.step(stats)
            run.seconds += spent + time.perf_counter() - start
        if on_pass is not None:
            on_pass(sum(run.live for run in runs))
    return n_passes


__all__ = ["Run", "advance"]
