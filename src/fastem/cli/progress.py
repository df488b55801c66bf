"""Progress of long fits on standard error, driven by the estimators' ``callback``."""

import math
import sys
from time import perf_counter

from .._mixture import Mixture

#: A fit shows progress only once it has run this many seconds: quick fits stay silent.
DELAY_S = 1.0
#: Least seconds between progress lines when standard error is a log, not a terminal.
LOG_INTERVAL_S = 5.0
#: Least seconds between rewrites of the progress line on a terminal.
TTY_INTERVAL_S = 0.1

_active = None


class FitProgress:
    """Progress lines of one fit, fed with ``(iteration, lower_bound)`` after every iteration.

    On a terminal one line is rewritten in place; otherwise (a log) a line is
    written at most every :data:`LOG_INTERVAL_S` seconds. Nothing is shown
    before :data:`DELAY_S` seconds.

    Parameters
    ----------
    stream : file
        Where the lines go (standard error).
    n_init : int
        Initialisations of the fit; shown when more than one.
    max_iter : int
        Iterations per initialisation.
    label : str, default=""
        Prefix of every line.
    together : bool, default=False
        The initialisations advance together (the mixtures' ``n_init``
        restarts): after every pass the callback is called once per restart
        still iterating, all with the same iteration number. The line then
        shows the pass and the best lower bound in it.
    """

    def __init__(self, stream, *, n_init, max_iter, label="", together=False):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.interval = TTY_INTERVAL_S if self.tty else LOG_INTERVAL_S
        self.delay = DELAY_S
        self.n_init, self.max_iter, self.label = n_init, max_iter, label
        self.start = self.last_time = perf_counter()
        self.last_shown = -math.inf
        self.init = 0
        self.last_iteration = math.inf
        self.last_bound = None
        self.open_line = False
        self.together = together
        self.seen = 0
        self.best = None

    def update(self, iteration, lower_bound):
        """Take the state after an EM iteration; show it when it is time to.

        Parameters
        ----------
        iteration : int
            Iteration number within the current initialisation, from 1.
        lower_bound : float
            Mean log-likelihood per sample after the iteration.
        """
        now = perf_counter()
        if self.together:
            self._update_together(now, iteration, lower_bound)
            return
        if iteration <= self.last_iteration:
            # The estimator numbers iterations from 1 again in every initialisation.
            self.init += 1
            self.last_bound = None
        lapse = now - self.last_time
        change = None if self.last_bound is None else lower_bound - self.last_bound
        self.last_iteration, self.last_bound, self.last_time = iteration, lower_bound, now
        if now - self.start < self.delay or now - self.last_shown < self.interval:
            return
        self.last_shown = now
        inits = f"init {self.init}/{self.n_init}, " if self.n_init > 1 else ""
        # The first iteration's time includes the initialisation before it.
        details = "" if change is None else f", change {change:.2g}, {lapse:.3f} s/iteration"
        self._show(
            f"{self.label}{inits}iteration {iteration}/{self.max_iter}: "
            f"lower bound {lower_bound:.6g}{details}, {now - self.start:.1f} s elapsed"
        )

    def _update_together(self, now, iteration, lower_bound):
        if iteration != self.last_iteration:  # the first restart of a new pass
            self.last_bound, self.best, self.seen = self.best, lower_bound, 0
            self.lapse, self.last_time = now - self.last_time, now
            self.last_iteration = iteration
        self.seen += 1
        self.best = max(self.best, lower_bound)
        if now - self.start < self.delay or now - self.last_shown < self.interval:
            return
        self.last_shown = now
        change = None if self.last_bound is None else self.best - self.last_bound
        details = "" if change is None else f", change {change:.2g}, {self.lapse:.3f} s/iteration"
        self._show(
            f"{self.label}{self.seen} of {self.n_init} restarts together, iteration "
            f"{iteration}/{self.max_iter}: best lower bound {self.best:.6g}{details}, "
            f"{now - self.start:.1f} s elapsed"
        )

    def _show(self, message):
        if self.tty:
            self.stream.write("\r\033[K" + message)
            self.open_line = True
        else:
            self.stream.write(message + "\n")
        self.stream.flush()

    def end_line(self):
        """Finish an in-place line before other output on standard error."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def end_progress_line():
    """End the in-place progress line of the fit under way, if any (before a warning)."""
    if _active is not None:
        _active.end_line()


def fit_with_progress(model, X, *, quiet=False, label="", **fit_params):
    """Fit ``model`` on ``X`` with progress on standard error.

    The progress is fed by the estimator's ``callback`` parameter, set for the
    fit only: afterwards ``model.callback`` is what it was (so a saved model
    carries no callback). A callback the model already had is still called,
    and can still stop the fit.

    Parameters
    ----------
    model : fastem mixture
        Unfitted estimator.
    X : ndarray
        Training rows (memory maps included).
    quiet : bool, default=False
        Show no progress.
    label : str, default=""
        Prefix of the progress lines.
    **fit_params
        Further arguments of ``model.fit`` (``checkpoint``).

    Returns
    -------
    float
        Seconds the fit took.
    """
    global _active
    start = perf_counter()
    if quiet:
        model.fit(X, **fit_params)
        return perf_counter() - start
    original = model.callback
    # KMeans's n_init="auto" is one run or ten; the lines then count the runs seen.
    n_init = model.n_init if isinstance(model.n_init, int) else 1
    # The mixtures advance their restarts together (KMeans runs its one after another).
    together = (
        isinstance(model, Mixture)
        and n_init > 1
        and not (model.warm_start and hasattr(model, "converged_"))
    )
    progress = FitProgress(
        sys.stderr, n_init=n_init, max_iter=model.max_iter, label=label, together=together
    )

    def callback(iteration, lower_bound):
        progress.update(iteration, lower_bound)
        return original is not None and bool(original(iteration, lower_bound))

    model.set_params(callback=callback)
    _active = progress
    try:
        model.fit(X, **fit_params)
    finally:
        progress.end_line()
        _active = None
        model.set_params(callback=original)
    return perf_counter() - start
