"""``fastem fit``, ``predict``, ``score``, ``sample`` and ``info``: one model at a time."""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .data import check_output, data_from_args, read_table, write_array
from .errors import CliError
from .models import (
    check_k,
    describe,
    evaluate,
    fit_statistics,
    load_model,
    make_estimator,
    table_statistics,
)
from .parser import add_data_argument, add_model_argument, positive_int
from .progress import fit_with_progress


def _cmd_fit_tabular(args):
    """``fastem fit --family tabular``: a latent class model of a table; the profiles printed."""
    if args.columns is not None or args.skip_header or args.float32:
        raise CliError(
            "--columns, --skip-header and --float32 do not apply to --family tabular (a table "
            "has a header; its columns' types are inferred)"
        )
    table = read_table(args.data, delimiter=args.delimiter)
    model = make_estimator("tabular", args.k, args, args.covariance)
    if not isinstance(table, str):
        check_k([args.k], table.shape[0])
    fit_params = {}
    if getattr(args, "checkpoint", None):
        fit_params["checkpoint"] = args.checkpoint
    try:
        elapsed = fit_with_progress(model, table, quiet=args.quiet, **fit_params)
    except (ValueError, TypeError) as exc:
        raise CliError(f"{args.data}: {exc}") from None
    stats = table_statistics(model, table)
    if args.output:
        model.save(args.output)
    profiles = model.describe()
    summary = {
        "model": describe(model),
        "n_samples": stats.pop("n_samples"),
        "n_features": int(model.n_features_in_),
        "column_types": {str(k): v for k, v in model.column_types_.items()},
        "n_iter": int(model.n_iter_),
        "converged": bool(model.converged_),
        **stats,
        "time_s": elapsed,
        "output": args.output,
        "profiles": [
            {"column": str(column), "statistic": statistic, **row.to_dict()}
            for (column, statistic), row in profiles.iterrows()
        ],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    kinds = ", ".join(f"{k}: {v}" for k, v in summary["column_types"].items())
    _print_summary(
        f"fitted {summary['model']} to {summary['n_samples']:,} rows x "
        f"{summary['n_features']} columns of {args.data}\n"
        f"  columns          {kinds}",
        model,
        stats,
        elapsed,
        args.output,
    )
    print("\nclass profiles:")
    print(profiles.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


def _print_summary(heading, model, stats, elapsed, output):
    """The text summary of ``fastem fit``: the ``heading`` lines, then the fit's numbers."""
    converged = "converged" if model.converged_ else "did not converge"
    print(
        f"{heading}\n"
        f"  iterations       {model.n_iter_} ({converged})\n"
        f"  log-likelihood   {stats['log_likelihood']:.6g} per sample\n"
        f"  BIC              {stats['bic']:.6g}\n"
        f"  time             {elapsed:.3g} s"
    )
    if output:
        print(f"  saved to         {output}")


def _cmd_fit(args):
    """``fastem fit``: fit one mixture, print a summary, save it."""
    check_output(args.output)
    if args.family == "tabular":
        return _cmd_fit_tabular(args)
    X = data_from_args(args, float32=args.float32)
    check_k([args.k], X.shape[0])
    model = make_estimator(args.family, args.k, args, args.covariance)
    # -- --checkpoint: the fit's state in a file; rerunning the command resumes --
    fit_params = {}
    if getattr(args, "checkpoint", None):
        fit_params["checkpoint"] = args.checkpoint
        if Path(args.checkpoint).exists() and not args.quiet:
            print(f"resuming from the checkpoint {args.checkpoint}", file=sys.stderr)
    elapsed = fit_with_progress(model, X, quiet=args.quiet, **fit_params)
    # -- end of --checkpoint --
    stats = fit_statistics(model, X)
    if args.output:
        model.save(args.output)
    # -- --plot: the fitted components over the rows (fastem.plot.components) --
    if getattr(args, "plot", None):
        from .select import write_plot

        write_plot(args.plot, "components", model, X)
    # -- end of --plot --
    summary = {
        "model": describe(model),
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_iter": int(model.n_iter_),
        "converged": bool(model.converged_),
        **stats,
        "time_s": elapsed,
        "output": args.output,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    _print_summary(
        f"fitted {summary['model']} to {X.shape[0]:,} x {X.shape[1]} rows of {args.data}",
        model,
        stats,
        elapsed,
        args.output,
    )
    return 0


def _model_rows(model, args):
    """The DATA of ``predict``/``score``: a table for a tabular model, rows otherwise."""
    if not hasattr(model, "column_types_"):
        return data_from_args(args)
    table = read_table(args.data, delimiter=args.delimiter)
    if isinstance(table, str):
        import pandas as pd

        table = pd.read_parquet(table)
    return table


def _cmd_predict(args):
    """``fastem predict``: labels or responsibilities of every row."""
    check_output(args.output)
    model = load_model(args.model)
    X = _model_rows(model, args)
    if args.proba:
        write_array(args.output, evaluate(model, X, "predict_proba"), "%.8g")
    else:
        write_array(args.output, evaluate(model, X, "predict"), "%d")
    return 0


def _cmd_score(args):
    """``fastem score``: mean log-likelihood per row."""
    model = load_model(args.model)
    X = _model_rows(model, args)
    stats = table_statistics(model, X) if hasattr(model, "column_types_") else None
    if stats is not None:
        stats.pop("n_samples")
    else:
        stats = fit_statistics(model, X)
    if args.json:
        print(json.dumps({"n_samples": int(X.shape[0]), **stats}, indent=2))
    else:
        print(repr(stats["log_likelihood"]))
    return 0


def _cmd_sample(args):
    """``fastem sample``: draw rows from a saved model."""
    check_output(args.output)
    check_output(args.labels)
    model = load_model(args.model)
    if args.seed is not None:
        model.set_params(random_state=args.seed)
    X, labels = model.sample(args.n)
    if hasattr(X, "to_csv"):  # a tabular model's rows: a table with its column names
        if args.output and not args.output.lower().endswith(".csv"):
            raise CliError(f"{args.output}: a tabular model's rows are written as .csv")
        X.to_csv(args.output if args.output and args.output != "-" else sys.stdout, index=False)
    else:
        write_array(args.output, X, "%.10g")
    if args.labels:
        write_array(args.labels, labels, "%d")
    return 0


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.random.RandomState):
        return "RandomState(...)"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _format_vector(values, limit=8):
    shown = " ".join(f"{v:8.4g}" for v in values[:limit])
    return shown + (" ..." if len(values) > limit else "")


def _fitted_attributes(model):
    """scikit-learn's fitted state: public attributes ending in ``_``."""
    return {
        name: value
        for name, value in vars(model).items()
        if name.endswith("_") and not name.startswith("_")
    }


def _cmd_info(args):
    """``fastem info``: what a model file holds."""
    model = load_model(args.model)
    with np.load(args.model, allow_pickle=False) as data:
        writer = str(data["__fastem_version__"])
        file_format = int(data["__fastem__"])
    params = model.get_params(deep=False)
    fitted = _fitted_attributes(model)
    if args.json:
        info = {
            "class": type(model).__name__,
            "fastem_version": writer,
            "format": file_format,
            "params": {k: _jsonable(v) for k, v in params.items()},
            "fitted": {k: _jsonable(v) for k, v in fitted.items()},
        }
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"{args.model}: {type(model).__name__}, written by fastem {writer} (format {file_format})"
    )
    print("parameters:")
    for name, value in params.items():
        shown = f"array of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
        print(f"  {name:<18} {shown}")
    if "weights_" not in fitted:
        print("not fitted")
        return 0
    converged = "converged" if model.converged_ else "did not converge"
    print(
        f"fitted on {model.n_features_in_} features: {model.n_iter_} iterations ({converged}), "
        f"lower bound {model.lower_bound_:.6g} per sample"
    )
    print(f"  {'k':>3}  {'weight':>8}  mean")
    for k in np.argsort(-model.weights_, kind="stable"):
        print(f"  {k:>3}  {model.weights_[k]:8.4f}  {_format_vector(model.means_[k])}")
    return 0


def add_commands(sub, options):
    """Add ``fit``, ``predict``, ``score``, ``sample`` and ``info`` to the subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``fastem`` parser.
    options : fastem.cli.parser.SharedOptions
        Parent parsers of the shared options.
    """
    o = options
    p = sub.add_parser(
        "fit",
        parents=[
            o.common,
            o.data,
            o.covariance(),
            o.iterations,
            o.fit_estimator,
            o.seed(),
            o.threads,
            o.quiet,
            o.json,
            o.plot("the components over the rows (columns 0 and 1)"),
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="fit a mixture to data and save it",
        description=(
            "Fit a mixture to DATA and save it as a portable .npz model file.\n"
            "DATA is a .npy file (memory-mapped, not copied), a .csv file, or - for CSV\n"
            "on standard input. Progress goes to stderr, the summary to stdout.\n\n"
            "example: fastem fit points.npy --k 5 -o model.npz"
        ),
    )
    add_data_argument(p)
    p.add_argument("--k", type=positive_int, required=True, help="number of components")
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="save the fitted model here")
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="keep the fit's state in FILE (written atomically after every iteration); "
        "rerunning the same command after a crash resumes from it; removed when the fit "
        "completes",
    )
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "predict",
        parents=[o.common, o.data],
        help="component labels (or probabilities) of rows",
        description="Write the most probable component of every row of DATA "
        "(or, with --proba, the probability of every component).",
    )
    add_model_argument(p)
    add_data_argument(p)
    p.add_argument("--proba", action="store_true", help="write the responsibilities (N x K)")
    p.add_argument("-o", "--output", metavar="OUT", help=".npy or .csv (default: CSV on stdout)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "score",
        parents=[o.common, o.data, o.json],
        help="mean log-likelihood of rows under a model",
        description="Print the mean log-likelihood per row of DATA under the model "
        "(--json adds the BIC and AIC).",
    )
    add_model_argument(p)
    add_data_argument(p)
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser(
        "sample",
        parents=[o.common, o.seed(default=None)],
        help="draw random rows from a model",
        description="Draw N rows from the model. The model's saved random_state "
        "is used unless --seed is given.",
    )
    add_model_argument(p)
    p.add_argument("n", metavar="N", type=positive_int, help="number of rows")
    p.add_argument("-o", "--output", metavar="OUT", help=".npy or .csv (default: CSV on stdout)")
    p.add_argument("--labels", metavar="OUT", help="also write each row's component here")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser(
        "info",
        parents=[o.common, o.json],
        help="describe a model file",
        description="Print the class, parameters and fitted components of a model file.",
    )
    add_model_argument(p)
    p.set_defaults(func=_cmd_info)
