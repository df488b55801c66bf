"""Progress feedback for long fits: a tqdm bar over EM iterations and rows."""

import sys


class Progress:
    """A progress bar over EM iterations, showing rows/s and the mean log-likelihood.

    Disabled instances do nothing, so drivers call it unconditionally.

    Parameters
    ----------
    enabled : bool
        Show the bar (on standard error).
    total : int or None
        Expected number of iterations (or online steps).
    description : str
        Label of the bar.
    """

    def __init__(self, enabled, total=None, description="EM"):
        self.enabled = enabled
        self._bar = None
        self._rows = 0
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, desc=description, unit="it", file=sys.stderr, dynamic_ncols=True
            )

    def rows(self, n_rows):
        """Count rows read in the current pass (shown as rows/s)."""
        if self._bar is not None:
            self._rows += n_rows
            elapsed = self._bar.format_dict.get("elapsed") or 0.0
            if elapsed > 0:
                self._bar.set_postfix_str(f"{self._rows / elapsed:,.0f} rows/s")

    def iteration(self, n_iter, lower_bound):
        """Advance one iteration and show the current mean log-likelihood."""
        if self._bar is not None:
            elapsed = self._bar.format_dict.get("elapsed") or 0.0
            rows_per_s = self._rows / elapsed if elapsed > 0 else 0.0
            self._bar.set_postfix_str(
                f"mean log-lik {lower_bound:.6g}, {rows_per_s:,.0f} rows/s", refresh=False
            )
            self._bar.update(1)

    def close(self):
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
