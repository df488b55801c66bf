"""The ``fastem`` parser with every subcommand, and the entry point that runs one."""

import argparse
import os
import sys
import warnings

from fastem import __version__

from . import demo, fit, impute, segment, select
from .errors import one_line
from .parser import PROG, SharedOptions
from .progress import end_progress_line

#: The modules that each add a group of subcommands, in the order ``--help`` lists them.
_COMMAND_MODULES = (fit, impute, select, segment, demo)


def build_parser():
    """The ``fastem`` argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fit mixture models by EM on fast Numba kernels, from the command line.",
        epilog=f"Run '{PROG} demo' for a first look, '{PROG} COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    options = SharedOptions()
    for module in _COMMAND_MODULES:
        module.add_commands(sub, options)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    end_progress_line()
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv=None):
    """Run the ``fastem`` command line.

    Every subcommand reports errors as one line on standard error with exit
    status 1 (2 for usage errors), never a traceback unless ``--debug`` is
    given. Progress goes to standard error, results to standard output.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        Exit status: 0 on success, 1 on errors, 2 on usage errors, 130 when
        interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): not an error of ours. Point
        # stdout at /dev/null so that flushing at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 1
