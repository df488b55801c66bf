"""``fastem impute``: the missing values of a table filled in from a saved Gaussian mixture."""

import io
import sys
from pathlib import Path

import numpy as np

from fastem import GaussianMixture
from fastem.impute import impute

from .data import _read_csv, check_output, data_path, read_data, write_array
from .errors import CliError
from .models import load_model
from .parser import add_data_argument, add_model_argument


def read_table(spec, *, skip_header=False, columns=None, delimiter=","):
    """Rows with missing values from a ``.npy`` file, a CSV file or CSV on standard input.

    Parameters
    ----------
    spec : str
        Path of a ``.npy`` or ``.csv``/``.txt``/``.tsv`` file, or ``-`` for CSV on stdin.
    skip_header : bool, default=False
        CSV: the first line holds column names.
    columns : list of int, optional
        Columns to keep (0-based); all by default.
    delimiter : str, default=","
        CSV field separator.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        NaN at the missing values: NaN in a ``.npy`` file; empty fields,
        ``NA`` and ``NaN`` (any case) in CSV.
    header : str or None
        The CSV header line (with ``skip_header``), to write back.
    """
    if spec != "-" and Path(spec).suffix.lower() == ".npy":
        return np.asarray(read_data(spec, columns=columns), dtype=np.float64), None
    if spec == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        text, name = data_path(spec).read_text(encoding="utf-8", errors="replace"), spec
    lines = text.splitlines()
    header = lines[0] if skip_header and lines else None
    if header is not None and columns is not None:
        names = header.split(delimiter)
        header = delimiter.join(names[j] for j in columns if j < len(names))
    X = _read_csv(io.StringIO(text), name, skip_header, columns, delimiter)
    return X, header


def _cmd_impute(args):
    """``fastem impute``: write DATA with its missing values filled in."""
    check_output(args.output)
    model = load_model(args.model)
    if not isinstance(model, GaussianMixture):
        raise CliError(
            f"{args.model} holds a {type(model).__name__}; impute needs a Gaussian mixture "
            "(fastem fit --family gaussian)"
        )
    X, header = read_table(
        args.data, skip_header=args.skip_header, columns=args.columns, delimiter=args.delimiter
    )
    if X.shape[1] != model.n_features_in_:
        raise CliError(
            f"{args.data} has {X.shape[1]} columns; the model was fitted on {model.n_features_in_}"
        )
    if np.isinf(X).any():
        row, col = np.argwhere(np.isinf(X))[0]
        raise CliError(f"{args.data}: infinite value at row {row + 1}, column {col + 1}")
    n_missing = int(np.count_nonzero(np.isnan(X)))
    filled = impute(model, X, sample_posterior=args.sample_posterior, random_state=args.seed)
    if header is not None and (args.output is None or Path(args.output).suffix != ".npy"):
        target = sys.stdout if args.output in (None, "-") else args.output
        np.savetxt(target, filled, fmt="%.15g", delimiter=",", header=header, comments="")
    else:
        write_array(args.output, filled, "%.15g")
    if not args.quiet and args.output not in (None, "-"):
        print(
            f"imputed {n_missing:,} missing values in {X.shape[0]:,} rows of {args.data}; "
            f"saved to {args.output}",
            file=sys.stderr,
        )
    return 0


def add_commands(sub, options):
    """Add ``impute`` to the subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``fastem`` parser.
    options : fastem.cli.parser.SharedOptions
        Parent parsers of the shared options.
    """
    o = options
    p = sub.add_parser(
        "impute",
        parents=[o.common, o.data, o.seed(default=None), o.quiet],
        help="fill in the missing values of a table from a Gaussian mixture",
        description=(
            "Replace every missing value of DATA by its conditional expectation given the "
            "observed values of its row, under the Gaussian mixture in MODEL (from 'fastem "
            "fit', which accepts missing values). In CSV, empty fields, NA and NaN are "
            "missing; in .npy, NaN. Observed values are written unchanged."
        ),
    )
    add_model_argument(p)
    add_data_argument(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help=".npy or .csv (default: CSV on stdout); a CSV header read with --skip-header "
        "is written back",
    )
    p.add_argument(
        "--sample-posterior",
        action="store_true",
        help="draw each row's missing values from their conditional distribution instead "
        "(multiple imputation; --seed makes the draws reproducible)",
    )
    p.set_defaults(func=_cmd_impute)
