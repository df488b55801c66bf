"""``fastem select``: every K (and covariance type) in one search, compared by BIC, AIC or ICL.

A thin front end to :class:`fastem.MixtureSelector`: the candidates share
their passes over the data, failed and degenerate ones are marked in the table.
"""

import argparse
import json
import math
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

from fastem import MixtureSelector

from .data import check_output, data_from_args
from .errors import CliError
from .models import check_k, make_estimator
from .parser import PROG, add_data_argument, k_values
from .progress import DELAY_S, LOG_INTERVAL_S, TTY_INTERVAL_S


class _SearchProgress:
    """``pass N: M runs iterating`` on standard error, as long fits show their iterations."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.interval = TTY_INTERVAL_S if self.tty else LOG_INTERVAL_S
        self.start = perf_counter()
        self.last_shown = -math.inf
        self.open_line = False

    def __call__(self, n_pass, n_live):
        now = perf_counter()
        if now - self.start < DELAY_S or now - self.last_shown < self.interval:
            return
        self.last_shown = now
        message = f"pass {n_pass}: {n_live} runs iterating, {now - self.start:.1f} s elapsed"
        if self.tty:
            self.stream.write("\r\033[K" + message)
            self.open_line = True
        else:
            self.stream.write(message + "\n")
        self.stream.flush()

    def end_line(self):
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def write_plot(path, kind, obj, X=None):
    """Draw ``fastem.plot.<kind>(obj[, X])`` into the image file ``path``.

    Parameters
    ----------
    path : str
        Output file; its suffix picks the format (.png, .svg, .pdf).
    kind : {"selection", "components", "convergence"}
        The plot of :mod:`fastem.plot`.
    obj : MixtureSelector or fastem mixture
        What to draw.
    X : array-like, optional
        The rows, for ``components``.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install 'fastem[plot]'") from None
    from fastem import plot

    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = figure.add_subplot()
    if kind == "components":
        plot.components(obj, X, ax=ax)
    else:
        getattr(plot, kind)(obj, ax=ax)
    try:
        figure.savefig(path, dpi=100)
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: {exc}") from None


def _rows(selector):
    """The selector's results as the table's rows (dicts), one per candidate."""
    results = selector.results_
    rows = []
    for i in range(len(results["params"])):
        row = {"k": int(results["n_components"][i]), "covariance": results["covariance_type"][i]}
        if results["error"][i]:
            row["error"] = results["error"][i]
            rows.append(row)
            continue
        row.update(
            n_iter=int(results["n_iter"][i]),
            converged=bool(results["converged"][i]),
            log_likelihood=float(results["mean_log_likelihood"][i]),
            bic=float(results["bic"][i]),
            aic=float(results["aic"][i]),
            icl=float(results["icl"][i]),
            n_parameters=int(results["n_parameters"][i]),
            degenerate=results["degenerate_reason"][i] or None,
            time_s=float(results["fit_time"][i]),
        )
        rows.append(row)
    return rows


def _print_table(args, rows, best):
    criterion = args.criterion.upper()
    print(
        f"{'K':>4}  {'covariance':<10}  {'log-lik/sample':>14}  {criterion:>14}  "
        f"{'iter':>5}  converged"
    )
    for r in rows:
        cov = r["covariance"] or "-"
        if "error" in r:
            print(f"{r['k']:>4}  {cov:<10}  failed: {r['error']}")
            continue
        mark = " *" if r is best else ""
        note = "  degenerate" if r["degenerate"] else ""
        print(
            f"{r['k']:>4}  {cov:<10}  {r['log_likelihood']:14.5f}  {r[args.criterion]:14.1f}  "
            f"{r['n_iter']:>5}  {'yes' if r['converged'] else 'no'}{note}{mark}"
        )
    where = f", covariance={best['covariance']}" if best["covariance"] else ""
    print(f"best (*): K={best['k']}{where}, {criterion} {best[args.criterion]:.1f}")
    if any(r.get("degenerate") for r in rows):
        print(
            "degenerate: a component collapsed onto a few rows (a variance at the reg_covar "
            "floor, or fewer rows than parameters); never chosen"
        )


def _cmd_select(args):
    """``fastem select``: every K (and covariance type), compared by BIC, AIC or ICL."""
    check_output(args.output)
    check_output(args.plot)
    X = data_from_args(args, float32=args.float32)
    check_k(args.k, X.shape[0])
    if args.family != "gaussian" and args.covariance != ["full"]:
        raise CliError(f"--covariance does not apply to the {args.family} family")
    estimator = make_estimator(args.family, args.k[0], args, None)
    selector = MixtureSelector(
        estimator,
        n_components=args.k,
        covariance_type=args.covariance if args.family == "gaussian" else None,
        criterion=args.criterion,
        n_init=args.n_init,
        strategy=args.strategy,
    )
    progress = None if args.quiet else _SearchProgress(sys.stderr)
    selector.set_params(callback=progress)
    fit_params = {}
    if args.checkpoint:
        fit_params["checkpoint"] = args.checkpoint
        if Path(args.checkpoint).exists() and not args.quiet:
            print(f"resuming from the checkpoint {args.checkpoint}", file=sys.stderr)
    try:
        selector.fit(X, **fit_params)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        if progress is not None:
            progress.end_line()
    rows = _rows(selector)
    best = rows[selector.best_index_]
    if not args.quiet:
        for r in rows:
            label = f"K={r['k']}" + (f" {r['covariance']}" if r["covariance"] else "") + ": "
            if "error" in r:
                print(f"{PROG}: {label}fit failed: {r['error']}", file=sys.stderr)
        print(
            f"{PROG}: {len(rows)} candidates in {selector.n_passes_} passes over the data",
            file=sys.stderr,
        )
    if args.output:
        selector.best_estimator_.save(args.output)
    if args.plot:
        write_plot(args.plot, "selection", selector)
    if args.json:
        best_row = {"k": best["k"], "covariance": best["covariance"]}
        print(
            json.dumps(
                {
                    "criterion": args.criterion,
                    "best": best_row,
                    "n_passes": selector.n_passes_,
                    "results": [_jsonable(r) for r in rows],
                }
            )
        )
        return 0
    _print_table(args, rows, best)
    if args.output:
        print(f"saved to {args.output}")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


def _jsonable(row):
    return {
        k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()
    }


def add_commands(sub, options):
    """Add ``select`` to the subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``fastem`` parser.
    options : fastem.cli.parser.SharedOptions
        Parent parsers of the shared options.
    """
    o = options
    p = sub.add_parser(
        "select",
        parents=[
            o.common,
            o.data,
            o.covariance(several=True),
            o.search_iterations,
            o.estimator,
            o.seed(),
            o.threads,
            o.quiet,
            o.json,
            o.plot("the criterion against K, one line per covariance type"),
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="choose K (and covariance type) by BIC, AIC or ICL",
        description=(
            "Fit every K (and every covariance type asked for), all candidates in the\n"
            "same passes over the data, and print the criterion table with the best\n"
            "model marked; -o saves the best model, --plot draws the criterion.\n\n"
            "example: fastem select points.csv --k 1..10 --covariance all -o best.npz"
        ),
    )
    add_data_argument(p)
    p.add_argument(
        "--k",
        type=k_values,
        default=list(range(1, 11)),
        metavar="KS",
        help="K values: 1..10 (default), 2,4,8 or 5",
    )
    p.add_argument(
        "--criterion",
        choices=("bic", "aic", "icl"),
        default="bic",
        help="lower is better (default bic; icl adds twice the entropy of the "
        "responsibilities, favouring well separated components)",
    )
    p.add_argument(
        "--strategy",
        choices=("short-em", "em"),
        default="short-em",
        help="short-em (default): many short EM runs together, the best continued; em: "
        "every start to convergence, exactly as 'fastem fit' with the same --seed",
    )
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="save the best model here")
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="keep the search's state in FILE (written atomically at every stage and "
        "pass); rerunning the same command after a crash resumes from it",
    )
    p.set_defaults(func=_cmd_select)
