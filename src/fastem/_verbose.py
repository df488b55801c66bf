"""Verbose output of a fit, printed as scikit-learn prints it."""

from time import perf_counter


class VerboseMixin:
    """``verbose`` / ``verbose_interval`` lines of scikit-learn's mixtures."""

    # -- verbose output, as scikit-learn prints it -------------------------------------
    def _verbose_init_begin(self, init):
        if self.verbose >= 1:
            print(f"Initialization {init}")
            self._init_prev_time = self._iter_prev_time = perf_counter()

    def _verbose_iteration(self, n_iter, change):
        if self.verbose and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = perf_counter()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self._iter_prev_time:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._iter_prev_time = now

    def _verbose_init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self._init_prev_time
            print(
                f"Initialization {message}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )


class RestartLog:
    """The verbose lines of ``n_init`` restarts that advance together in the same passes.

    Each restart's block (``Initialization i``, its iteration lines, its end
    line: what scikit-learn prints for it) is printed once that restart has
    ended and every restart before it has been printed, so the output reads
    as that of restarts fitted one after another. Time lapses are wall time
    of the shared passes (and of the shared initialisation, counted from the
    start of the fit's initialisation).

    Parameters
    ----------
    verbose, verbose_interval : int
        The estimator's parameters (``verbose`` at least 1).
    n_runs : int
        Restarts.
    """

    def __init__(self, verbose, verbose_interval, n_runs):
        self.verbose = verbose
        self.interval = verbose_interval
        self.start = perf_counter()
        self.lines = [[] for _ in range(n_runs)]
        self.ends = [None] * n_runs
        self.printed = 0

    def iteration(self, index, n_iter, change):
        """Restart ``index`` finished its iteration ``n_iter`` (bound change ``change``)."""
        self.lines[index].append((n_iter, change, perf_counter()))

    def end(self, index, lower_bound=None, converged=False):
        """Restart ``index`` ended (no end line with ``lower_bound`` None: ``max_iter=0``)."""
        self.ends[index] = (lower_bound, converged, perf_counter())

    def flush(self):
        """Print every ended restart whose predecessors are printed."""
        while self.printed < len(self.ends) and self.ends[self.printed] is not None:
            self._print(self.printed)
            self.printed += 1

    def abort(self, index):
        """The fit fails at restart ``index``: print up to it, its lines so far included."""
        self.flush()
        if self.printed == index and index < len(self.ends):
            self._print(index)
            self.printed += 1

    def _print(self, index):
        print(f"Initialization {index}")
        previous = self.start
        for n_iter, change, when in self.lines[index]:
            if n_iter % self.interval:
                continue
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                print(
                    f"  Iteration {n_iter}\t time lapse {when - previous:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                previous = when
        end = self.ends[index]
        if end is None or end[0] is None:
            return
        lower_bound, converged, when = end
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        else:
            print(
                f"Initialization {message}. time lapse {when - self.start:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )
