"""``fastem select``: fit every K (and covariance type), compare by BIC or AIC."""

import argparse
import json
import sys

from .data import check_output, data_from_args
from .errors import CliError, one_line
from .models import check_k, fit_statistics, make_estimator
from .parser import PROG, add_data_argument, k_values
from .progress import fit_with_progress


def _fit_all(args, X):
    """One result row per (covariance, K): statistics and model, or the error."""
    covariances = [None] if args.family != "gaussian" else args.covariance
    results = []
    for covariance in covariances:
        for k in args.k:
            model = make_estimator(args.family, k, args, covariance)
            label = f"K={k}" + (f" {covariance}" if covariance else "") + ": "
            try:
                elapsed = fit_with_progress(model, X, quiet=args.quiet, label=label)
            except ValueError as exc:
                # One degenerate K (say, a singular covariance) leaves the others to compare.
                print(f"{PROG}: {label}fit failed: {one_line(exc)}", file=sys.stderr)
                results.append({"k": k, "covariance": covariance, "error": one_line(exc)})
                continue
            stats = fit_statistics(model, X)
            if not args.quiet:
                criterion = args.criterion.upper()
                print(
                    f"{label}{criterion} {stats[args.criterion]:.1f}, {elapsed:.2f} s",
                    file=sys.stderr,
                )
            results.append(
                {
                    "k": k,
                    "covariance": covariance,
                    "n_iter": int(model.n_iter_),
                    "converged": bool(model.converged_),
                    **stats,
                    "time_s": elapsed,
                    "model": model,
                }
            )
    return results


def _print_table(args, results, best):
    criterion = args.criterion.upper()
    print(
        f"{'K':>4}  {'covariance':<10}  {'log-lik/sample':>14}  {criterion:>14}  "
        f"{'iter':>5}  converged"
    )
    for r in results:
        cov = r["covariance"] or "-"
        if "error" in r:
            print(f"{r['k']:>4}  {cov:<10}  failed: {r['error']}")
            continue
        mark = " *" if r is best else ""
        print(
            f"{r['k']:>4}  {cov:<10}  {r['log_likelihood']:14.5f}  {r[args.criterion]:14.1f}  "
            f"{r['n_iter']:>5}  {'yes' if r['converged'] else 'no'}{mark}"
        )
    where = f", covariance={best['covariance']}" if best["covariance"] else ""
    print(f"best (*): K={best['k']}{where}, {criterion} {best[args.criterion]:.1f}")


def _cmd_select(args):
    """``fastem select``: fit every K (and covariance type), compare by BIC or AIC."""
    check_output(args.output)
    X = data_from_args(args, float32=args.float32)
    check_k(args.k, X.shape[0])
    results = _fit_all(args, X)
    fitted = [r for r in results if "error" not in r]
    if not fitted:
        raise CliError("every fit failed")
    best = min(fitted, key=lambda r: r[args.criterion])
    if args.output:
        best["model"].save(args.output)
    if args.json:
        rows = [{k: v for k, v in r.items() if k != "model"} for r in results]
        best_row = {"k": best["k"], "covariance": best["covariance"]}
        print(json.dumps({"criterion": args.criterion, "best": best_row, "results": rows}))
        return 0
    _print_table(args, results, best)
    if args.output:
        print(f"saved to {args.output}")
    return 0


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
            o.iterations,
            o.estimator,
            o.seed(),
            o.threads,
            o.quiet,
            o.json,
        ],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="choose K (and covariance type) by BIC",
        description=(
            "Fit every K (and every covariance type asked for) and print the BIC\n"
            "table with the best model marked; -o saves the best model.\n\n"
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
        "--criterion", choices=("bic", "aic"), default="bic", help="lower is better (default bic)"
    )
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="save the best model here")
    p.set_defaults(func=_cmd_select)
