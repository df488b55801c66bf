"""The ``fastem`` command line: fit, use and inspect mixtures without writing Python.

Every subcommand reports errors as one line on standard error with exit status
1 (2 for usage errors), never a traceback unless ``--debug`` is given. Progress
goes to standard error, results to standard output.

The modules: :mod:`~fastem.cli.parser` (argument types and the options shared by
several subcommands), one module per group of subcommands (:mod:`~fastem.cli.fit`,
:mod:`~fastem.cli.select`, :mod:`~fastem.cli.segment`, :mod:`~fastem.cli.demo`),
:mod:`~fastem.cli.data` (reading rows, writing arrays), :mod:`~fastem.cli.models`
(estimators from options, model files, statistics) and :mod:`~fastem.cli.progress`
(progress on standard error); :mod:`~fastem.cli.app` puts them together.
"""

from .app import build_parser, main
from .data import read_data
from .errors import CliError
from .progress import fit_with_progress

__all__ = ["CliError", "build_parser", "fit_with_progress", "main", "read_data"]
