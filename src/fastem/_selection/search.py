"""The EM stages of a search of the selector: its runs advanced, short-em, the refit.

Every stage advances its runs together in the same passes
(``fastem._multi.advance``), writing the search's checkpoint at its start and
after every pass, and reports the passes to the selector's ``callback``.
"""

import warnings
from numbers import Integral

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from .. import _multi
from .._sources import ArraySource
from .criteria import evaluate
from .grid import n_starts, random_states
from .starts import initial_runs, seeded_runs
from .ties import by_bound

#: Iterations the chosen model may take beyond its fit to reach ``refit_tol``.
REFIT_MAX_ITER = 1000

#: Most rows the short runs of "short-em" read (a uniform sample of larger data).
SHORT_EM_ROWS = 1 << 15


class Search:
    """The stages of one search: the selector's settings, the pass counter, the checkpoint.

    ``saver`` is the search's :class:`fastem._selection.checkpoint.SearchCheckpoint`,
    None without a checkpoint.
    """

    def __init__(self, selector, counter, saver):
        self.strategy = selector.strategy
        self.n_init = selector.n_init
        self.short_iter = selector.short_iter
        self.n_continued = selector.n_continued
        self.refit_tol = selector.refit_tol
        self.callback = selector.callback
        self.counter = counter
        self.saver = saver

    def advance(self, runs, source, stage=None, **kwargs):
        """Advance ``runs`` together; a checkpoint of ``stage`` at its start and per pass.

        ``stage`` None (the short runs on a sample) writes no checkpoint.
        """
        counter = self.counter
        callback = self.callback
        saver = self.saver if stage is not None else None
        if saver is not None:
            saver.save(stage, force=True)

        def on_pass(n_live):
            if saver is not None:
                saver.save(stage)
            if callback is not None:
                callback(
                    counter.n_passes + (0 if self.saver is None else self.saver.passes_before),
                    n_live,
                )

        return _multi.advance(runs, source, on_pass=on_pass, **kwargs)

    def run(self, candidates, source, base, stage=None):
        """The starts of every candidate, run; ``stage`` resumes a checkpoint's stage."""
        if stage is not None:
            # Every start as the checkpoint left it: no initialisation to run again.
            self.saver.restore_runs()
        else:
            states = random_states(base, candidates)
            for candidate in candidates:
                candidate.n_starts = n_starts(
                    base, candidate.n_components, self.n_init, self.strategy
                )
        if self.strategy == "em":
            if stage is None:
                initial_runs(candidates, source, states, lambda c: c.n_starts)
            self.advance([run for c in candidates for run in c.runs], source, "em")
        elif stage == "continue":
            self.advance([run for c in candidates for run in c.runs], source, "continue")
        else:
            self.short_em(
                candidates, source, None if stage else states, base.random_state, resumed=stage
            )
        for candidate in candidates:
            if candidate.error is None and not candidate.runs:
                errors = candidate.init_errors or [ValueError("no start succeeded")]
                candidate.fail(errors[0])

    def short_em(self, candidates, source, states, seed, resumed=None):
        """emEM: many short runs together, the best few of each candidate continued.

        The first start of every candidate is the estimator's own
        initialisation (``init_params``), the others k-means++ seeds. The short
        runs read a uniform sample of at most :data:`SHORT_EM_ROWS` rows held in
        memory (every row for smaller data), so that many starts
        cost no pass over a large source; the runs kept are then continued on
        every row. ``resumed="short"``: the runs were restored from a
        checkpoint taken at the start of the short stage (the sample is drawn
        again from the generator's state of then).
        """
        if resumed is None:
            initial_runs(candidates, source, states, lambda c: 1)
        if self.saver is not None:
            self.saver.before_sample(resumed)
        rows, weights, everything = _short_sample(source, seed)
        if everything and source.in_memory:
            short_source = source
        else:
            short_source = ArraySource(rows, weights)
        if resumed is None:
            seeded_runs(candidates, states, lambda c: c.n_starts - 1, rows, weights, short_source)
            for candidate in candidates:
                for run in candidate.runs:
                    run.max_iter = min(run.max_iter, self.short_iter)
        if self.saver is not None:
            # The stage's start: the starts are drawn (those of k-means read the data).
            self.saver.save("short", force=True)
        self.advance([run for c in candidates for run in c.runs], short_source)
        continued = []
        for candidate in candidates:
            alive = by_bound([r for r in candidate.runs if r.error is None])
            kept = alive[: self.n_continued]
            for run in kept:
                if not everything:
                    # Bounds on the sample do not compare with bounds on every row.
                    run.forget_history()
                run.continue_with(
                    tol=candidate.estimator.tol, max_iter=candidate.estimator.max_iter
                )
            for run in candidate.runs:
                if run.error is not None:
                    candidate.init_errors.append(ValueError(run.error))
                elif run not in kept:
                    candidate.seconds += run.seconds
            candidate.runs = kept
            continued.extend(kept)
        self.advance(continued, source, "continue")

    def refit(self, best, source, resumed=False):
        """Continue the chosen model to ``refit_tol``; ``resumed``: a checkpoint's refit."""
        run = best.best
        if resumed:
            if self.saver.refit_from is None:
                return  # the chosen model needed no refit
            n_iter, spent = self.saver.refit_from, run.seconds
        else:
            run.continue_with(tol=self.refit_tol, max_iter=run.n_iter + REFIT_MAX_ITER)
            if not run.live:
                return
            n_iter, spent = run.n_iter, run.seconds
        if self.saver is not None:
            self.saver.chosen, self.saver.refit_from = best, n_iter
        self.advance([run], source, "refit")
        best.seconds += run.seconds - spent
        if run.error is not None:
            # The continuation's last M-step failed (a covariance became
            # singular): keep the last valid parameters rather than lose the search.
            warnings.warn(
                f"Continuing the chosen model {best.params} to refit_tol stopped: {run.error}",
                ConvergenceWarning,
                stacklevel=4,
            )
            run.error = None
            run.max_iter = run.n_iter
        if run.n_iter > n_iter:
            evaluated = evaluate([best], source)
            if evaluated:
                best.evaluation = evaluated[0][1]


def _short_sample(source, seed):
    """Rows (and weights) of the short runs: every row, or a uniform sample.

    Returns ``(rows, weights, everything)``; weights are empty for unit
    weights in memory.
    """
    n_samples = source.n_samples
    limit = SHORT_EM_ROWS
    if n_samples <= limit and source.in_memory:
        return source.X, source.sample_weight, True
    if n_samples <= limit:
        indices = np.arange(n_samples)
    else:
        rng = (
            np.random.RandomState(int(seed))
            if isinstance(seed, Integral | np.integer) and not isinstance(seed, bool)
            else check_random_state(seed)
        )
        indices = np.sort(rng.choice(n_samples, size=limit, replace=False))
    rows, weights = source.take(indices)
    if source.in_memory and not source.sample_weight.size:
        weights = np.empty(0)
    return rows, weights, n_samples <= limit
