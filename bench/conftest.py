"""Prints every benchmark's fastem/scikit-learn ratio as one table at the end."""

import sys

import numpy as np
import sklearn

import fastem

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from _common import FULL, RESULTS, machine  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    write = terminalreporter.write_line
    write("")
    write(
        f"fastem {fastem.__version__} vs scikit-learn {sklearn.__version__} "
        f"(numpy {np.__version__}) on {machine()}; sizes: {'full' if FULL else 'smoke'}"
    )
    write(f"{'case':<48}{'fastem s':>11}  {'against':<20}{'its s':>10}{'ratio':>9}  note")
    for row in RESULTS:
        write(
            f"{row['case']:<48}{row['fastem']:>11.4g}  {row['against']:<20}{row['other']:>10.4g}"
            f"{row['other'] / row['fastem']:>8.2f}x  {row.get('note', '')}"
        )
