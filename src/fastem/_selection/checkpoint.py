"""The checkpoint of a search of :class:`fastem.selection.MixtureSelector`.

What is saved after every stage and pass (every start of every candidate,
the candidates' bookkeeping, the stage, the passes, the random generator) and
how a resumed search restores it; see docs/architecture.md (Checkpoints).
"""

import numpy as np

from .. import _checkpoint
from .._multi import Run
from .criteria import Evaluation


class SearchCheckpoint:
    """The checkpoint of a search: what ``MixtureSelector.fit`` saves and restores.

    The state lists every start of every candidate (parameters, bounds,
    iterations, tolerance, errors) and the candidates' bookkeeping, the stage
    the search is in, the passes made so far, and the state of the random
    generator of the search (``random_state``, a ``RandomState``), before and
    after the sample of the short runs was drawn.
    """

    def __init__(self, checkpoint, candidates, counter, base, state):
        self.checkpoint = checkpoint
        self.candidates = candidates
        self.counter = counter
        # The passes before the search proper (the data centre, the validating
        # pass), which a resumed fit makes again: the state counts the others.
        self.setup_passes = counter.n_passes
        rng = base.random_state
        self.rng = rng if isinstance(rng, np.random.RandomState) else None
        self.state = state
        self.passes_before = 0 if state is None else int(state["n_passes"])
        self.rng_sample = None if state is None else state["rng_sample"]
        self.chosen = None
        self.sample_mark = None
        self.refit_from = None if state is None else state["refit_from"]

    # -- saving ---------------------------------------------------------------------------
    def before_sample(self, resumed):
        """The generator's state before the sample of the short runs (set back on resume)."""
        # The sample is drawn again on resume: its pass belongs to the stage.
        self.sample_mark = self.counter.n_passes
        if self.rng is None:
            return
        if resumed == "short" and self.rng_sample is not None:
            _checkpoint.set_rng_state(self.rng, self.rng_sample)
        self.rng_sample = _checkpoint.rng_state(self.rng)

    def save(self, stage, force=False):
        self.checkpoint.save(lambda: self._state(stage), force=force)

    def _state(self, stage):
        passes = self.sample_mark if stage == "short" else self.counter.n_passes
        return {
            "stage": stage,
            "n_passes": self.passes_before + passes - self.setup_passes,
            "rng": None if self.rng is None else _checkpoint.rng_state(self.rng),
            "rng_sample": self.rng_sample,
            "chosen": None if self.chosen is None else self.chosen.index,
            "refit_from": self.refit_from,
            "candidates": [_candidate_state(c) for c in self.candidates],
        }

    def finish(self, best):
        """The search completed: keep its final state (``keep_checkpoint``) or remove the file."""
        self.chosen = best
        self.checkpoint.finish(lambda: self._state("done"))

    # -- restoring ------------------------------------------------------------------------
    def restore_runs(self):
        """Every candidate's starts and bookkeeping as saved; the generator as it was."""
        state = self.state
        if self.rng is not None and state["rng"] is not None and state["stage"] != "short":
            _checkpoint.set_rng_state(self.rng, state["rng"])
        for candidate, saved in zip(self.candidates, state["candidates"], strict=True):
            candidate.error = saved["error"]
            candidate.init_errors = [ValueError(message) for message in saved["init_errors"]]
            candidate.seconds = saved["seconds"]
            candidate.n_starts = saved["n_starts"]
            candidate.runs = [_restored_run(candidate, run) for run in saved["runs"]]

    def restore_chosen(self):
        """A checkpoint of the refit: the runs, the picks, the evaluations and the choice."""
        self.restore_runs()
        for candidate, saved in zip(self.candidates, self.state["candidates"], strict=True):
            if saved["best"] is not None:
                candidate.best = candidate.runs[saved["best"]]
                candidate.best.degenerate = saved["degenerate"]
            candidate.degenerate = saved["degenerate"]
            if saved["evaluation"] is not None:
                candidate.evaluation = Evaluation(*saved["evaluation"])
        return self.candidates[self.state["chosen"]]


def _candidate_state(candidate):
    best = candidate.best
    evaluation = candidate.evaluation
    return {
        "error": candidate.error,
        "init_errors": [" ".join(str(e).split()) for e in candidate.init_errors],
        "seconds": float(candidate.seconds),
        "n_starts": int(candidate.n_starts),
        "runs": [
            {
                "params": run.params,
                "scalars": np.array([run.lower_bound, run.tol, run.seconds], dtype=np.float64),
                "lower_bounds": np.asarray(run.lower_bounds, dtype=np.float64),
                "n_iter": int(run.n_iter),
                "max_iter": int(run.max_iter),
                "converged": bool(run.converged),
                "error": run.error,
            }
            for run in candidate.runs
        ],
        "best": None if best is None else candidate.runs.index(best),
        "degenerate": candidate.degenerate,
        "evaluation": (
            None
            if evaluation is None
            else np.array([evaluation.log_likelihood, evaluation.entropy], dtype=np.float64)
        ),
    }


def _restored_run(candidate, saved):
    lower_bound, tol, seconds = (float(v) for v in saved["scalars"])
    run = Run(
        candidate.family,
        saved["params"],
        reg=candidate.estimator._reg(),
        tol=tol,
        max_iter=saved["max_iter"],
        tag=candidate,
    )
    run.lower_bound = lower_bound
    run.lower_bounds = [float(v) for v in saved["lower_bounds"]]
    run.n_iter = saved["n_iter"]
    run.converged = saved["converged"]
    run.error = saved["error"]
    run.seconds = seconds
    return run
