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
    write(f"{'case':<44}{'fastem s':>12}{'sklearn s':>12}{'speed-up':>10}  note")
    for row in RESULTS:
        write(
            f"{row['case']:<44}{row['fastem']:>12.4g}{row['sklearn']:>12.4g}"
            f"{row['sklearn'] / row['fastem']:>9.1f}x  {row.get('note', '')}"
        )
