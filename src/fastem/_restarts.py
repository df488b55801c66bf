"""The ``n_init`` restarts of a mixture advanced together in the same passes.

Every restart is initialised in shared passes (``fastem._multi``) and then
iterated with the others, one read of every chunk per pass; each computes
exactly what it computes alone. See ``docs/architecture.md``.
"""

import copy

import numpy as np
from sklearn.utils import check_random_state

from . import _checkpoint
from ._multi import Run, advance
from ._multi_init import InitRequest, initial_stats_many
from ._progress import Progress
from ._verbose import RestartLog


class _NeedStats(Exception):
    """Raised by the probe of ``_initial_params``: it asks for initial statistics."""


def _ask_for_stats(family, source, random_state):
    raise _NeedStats


def _given_stats(stats):
    """An ``_initial_stats`` that returns ``stats`` (computed for it in shared passes)."""

    def initial_stats(family, source, random_state):
        return stats

    return initial_stats


def _run_state(run):
    """What a checkpoint keeps of a restart advancing with others (see ``_restored_run``)."""
    return {
        "params": run.params,
        "bounds": list(run.lower_bounds),
        "n_iter": run.n_iter,
        "converged": run.converged,
        "max_iter": run.max_iter,
    }


class RestartsMixin:
    """``n_init`` restarts of exact EM for :class:`fastem._mixture.Mixture`."""

    def _em_together(self, family, source, checkpoint, state):
        """``n_init`` restarts of exact EM advanced together: ``(best, make_state)``.

        Every restart is initialised first, all in shared passes
        (:func:`fastem._multi.initial_stats_many`, with the draws from the
        random state in the order of the sequential restarts), then every EM
        pass reads each chunk once for all restarts still iterating
        (:func:`fastem._multi.advance`). Each restart computes exactly what it
        computes alone, so the kept restart (the best lower bound, the first of
        equal ones, as scikit-learn) is the sequential fit's. The first
        failure in the sequential order (restart by restart, initialisation
        before EM) is raised, after the restarts before it have finished; later
        restarts stop at once.

        The callback is called after every pass once per restart that iterated
        in it, in restart order, with that restart's iteration and bound; a
        true return stops that restart. The checkpoint holds every restart.
        """
        n_init, reg = self.n_init, self._reg()
        random_state = check_random_state(self.random_state)
        log = RestartLog(self.verbose, self.verbose_interval, n_init) if self.verbose else None
        failure = None  # (restart, exception) of the first failure in sequential order
        if state is not None:
            if "runs" not in state:
                raise _checkpoint.CheckpointError(
                    "The checkpoint holds restarts fitted one after another (an earlier "
                    "fastem); this one fits them together. Delete it, or fit with "
                    "resume=False, to start over."
                )
            _checkpoint.set_rng_state(random_state, state["rng"])
            runs = [self._restored_run(family, saved, reg) for saved in state["runs"]]
        else:
            runs, failure = self._initial_runs(family, source, random_state, reg)

        def make_state():
            return {
                "runs": [_run_state(run) for run in runs],
                "shift": family.shift,
                "rng": _checkpoint.rng_state(random_state),
            }

        seen = [run.n_iter for run in runs]
        if log is not None:
            for index, run in enumerate(runs):
                if not run.live and run.error is None:
                    log.end(index, run.lower_bound if self.max_iter else None, run.converged)
        if checkpoint is not None and failure is None and state is None:
            checkpoint.save(make_state)
        progress = Progress(self.progress, self.max_iter)
        n_pass = max(seen, default=0)

        def on_pass(n_live):
            nonlocal failure, n_pass
            n_pass += 1
            for index, run in enumerate(runs):
                if run.error is not None and (failure is None or index < failure[0]):
                    failure = (index, run.exception)
                if run.n_iter == seen[index]:
                    continue
                seen[index] = run.n_iter
                bounds = run.lower_bounds
                change = bounds[-1] - (bounds[-2] if len(bounds) > 1 else -np.inf)
                if log is not None:
                    log.iteration(index, run.n_iter, change)
                if self.callback is not None and self.callback(run.n_iter, run.lower_bound):
                    run.max_iter = run.n_iter  # stops this restart (converged as it is)
                if log is not None and not run.live:
                    log.end(index, run.lower_bound, run.converged)
            if failure is not None:
                for run in runs[failure[0] + 1 :]:
                    run.max_iter = run.n_iter  # never reached by sequential restarts
            live = [run.lower_bound for run in runs if run.live]
            progress.iteration(n_pass, max(live or [run.lower_bound for run in runs]))
            if log is not None:
                log.flush()
            if checkpoint is not None and failure is None:
                checkpoint.save(make_state)

        try:
            advance(runs, source, progress=progress, on_pass=on_pass)
        finally:
            progress.close()
        if failure is not None:
            if log is not None:
                log.abort(failure[0])
            raise failure[1]
        if log is not None:
            log.flush()
        best = None
        for run in runs:
            if self.max_iter == 0:
                result = (run.params, -np.inf, [], 0, False)
            else:
                bounds = run.lower_bounds
                result = (run.params, bounds[-1], bounds, run.n_iter, run.converged)
            if best is None or result[1] > best[1] or best[1] == -np.inf:
                best = result
        return best, make_state

    def _initial_runs(self, family, source, random_state, reg):
        """The restarts' runs, initialised in shared passes: ``(runs, failure)``.

        ``failure`` is ``(restart, exception)`` for the first restart whose
        initialisation fails (the runs before it only are returned), or None.
        """
        n_init = self.n_init
        if not self._shared_initialisation:
            # The estimator initialises in its own way: one restart after the
            # other (the same draws, in the same order), then EM in shared passes.
            starts, failure = [], None
            for index in range(n_init):
                try:
                    starts.append(self._initial_params(family, source, random_state))
                except (ValueError, ArithmeticError) as exc:
                    failure = (index, exc)
                    break
            return self._runs(family, starts, reg), failure
        params = self._initial_params_without_stats(family, source, random_state)
        if params is not None:
            # Every start given (weights_init and friends): no draw, the same start each time.
            starts = [copy.deepcopy(params) for _ in range(n_init)]
            failure = None
        else:
            requests = [InitRequest(family, self.init_params, random_state) for _ in range(n_init)]
            initial_stats_many(requests, source, hook="lloyd")
            starts, failure = [], None
            for index, request in enumerate(requests):
                if request.error is not None:
                    failure = (index, request.error)
                    break
                try:
                    starts.append(self._initial_params_from_stats(family, source, request.stats))
                except (ValueError, ArithmeticError) as exc:
                    failure = (index, exc)
                    break
        return self._runs(family, starts, reg), failure

    def _initial_params_without_stats(self, family, source, random_state):
        """The start :meth:`_initial_params` gives without initial statistics, else None.

        None means it asks :meth:`_initial_stats` for them: the caller computes
        them, batched with other runs' in shared passes, and hands them to
        :meth:`_initial_params_from_stats`.
        """
        self._initial_stats = _ask_for_stats
        try:
            return self._initial_params(family, source, random_state)
        except _NeedStats:
            return None
        finally:
            del self._initial_stats

    def _initial_params_from_stats(self, family, source, stats):
        """:meth:`_initial_params` with ``stats`` as its initial statistics."""
        self._initial_stats = _given_stats(stats)
        try:
            return self._initial_params(family, source, None)
        finally:
            del self._initial_stats

    def _runs(self, family, starts, reg):
        """One :class:`fastem._multi.Run` per start, tagged with its restart number."""
        return [
            Run(family, params, reg=reg, tol=self.tol, max_iter=self.max_iter, tag=index)
            for index, params in enumerate(starts)
        ]

    def _restored_run(self, family, saved, reg):
        """A :class:`fastem._multi.Run` in the state a checkpoint saved (see ``_run_state``)."""
        run = Run(family, saved["params"], reg=reg, tol=self.tol, max_iter=saved["max_iter"])
        run.lower_bounds = list(saved["bounds"])
        run.lower_bound = run.lower_bounds[-1] if run.lower_bounds else -np.inf
        run.n_iter = saved["n_iter"]
        run.converged = saved["converged"]
        return run
