"""``fastem demo``: a large fit from a known mixture, timed against scikit-learn.

The comparison is made fair by construction: both libraries start from the
same parameters (fastem's k-means initialisation, handed to scikit-learn as
``weights_init``/``means_init``/``precisions_init``), run the same number of
iterations (``tol=0``), and must reach the same log-likelihood.
"""

import argparse
import json
import sys
import warnings
from time import perf_counter

import numpy as np

from fastem import GaussianMixture
from fastem._threads import resolve_n_jobs

from .errors import CliError
from .models import fit_statistics
from .parser import positive_int
from .progress import fit_with_progress


def make_mixture(n_features, n_components, seed, separation=4.0):
    """Parameters of a random, well separated full-covariance Gaussian mixture.

    Means are drawn until every pair is at least ``separation`` apart, with
    covariances of standard deviations about 0.3 to 1.5: clusters that
    k-means initialisation finds, so that the fitted components can be shown
    next to the true ones.

    Parameters
    ----------
    n_features, n_components : int
        Dimension and number of components.
    seed : int
        Seed of the parameters.
    separation : float, default=4.0
        Smallest distance between two means.

    Returns
    -------
    dict
        ``weights`` (K,), ``means`` (K, D) and ``covariances`` (K, D, D).
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 10.0))
    means = np.empty((n_components, n_features))
    scale, k = 3.0, 0
    while k < n_components:
        for _ in range(1000):
            candidate = rng.normal(scale=scale, size=n_features)
            if k == 0 or np.min(np.linalg.norm(means[:k] - candidate, axis=1)) >= separation:
                means[k] = candidate
                k += 1
                break
        else:
            scale *= 1.2  # crowded (many components in few dimensions): spread out
    factors = rng.normal(size=(n_components, n_features, n_features)) / np.sqrt(n_features)
    covariances = 0.25 * factors @ np.swapaxes(factors, 1, 2) + 0.1 * np.eye(n_features)
    return {"weights": weights, "means": means, "covariances": covariances}


def sample_mixture(truth, n_samples, seed):
    """Rows drawn from a mixture given by :func:`make_mixture`, in random order.

    Parameters
    ----------
    truth : dict
        Mixture parameters.
    n_samples : int
        Number of rows.
    seed : int
        Seed of the draw.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
        Component of each row.
    """
    rng = np.random.default_rng(seed)
    weights, means = truth["weights"], truth["means"]
    labels = rng.choice(weights.size, size=n_samples, p=weights)
    X = np.empty((n_samples, means.shape[1]))
    for k, covariance in enumerate(truth["covariances"]):
        rows = np.flatnonzero(labels == k)
        noise = rng.standard_normal((rows.size, means.shape[1]))
        X[rows] = means[k] + noise @ np.linalg.cholesky(covariance).T
    return X, labels


def _true_model(truth):
    """A fitted-looking fastem GaussianMixture holding the true parameters."""
    K, D = truth["means"].shape
    model = GaussianMixture(K, covariance_type="full")
    model.weights_ = truth["weights"]
    model.means_ = truth["means"]
    model.covariances_ = truth["covariances"]
    # scikit-learn's definition of the attribute: the transposed inverse of the lower
    # Cholesky factor of each covariance.
    lower = np.linalg.cholesky(truth["covariances"])
    model.precisions_cholesky_ = np.linalg.inv(lower).transpose(0, 2, 1)
    model.n_features_in_ = D
    return model


def _match(fitted_means, true_means):
    """For every true component, the fitted one closest to it (one-to-one)."""
    from scipy.optimize import linear_sum_assignment

    cost = ((true_means[:, None, :] - fitted_means[None, :, :]) ** 2).sum(axis=2)
    _, fitted_index = linear_sum_assignment(cost)
    return fitted_index


def _timed_fit(model, X):
    start = perf_counter()
    with warnings.catch_warnings():
        # tol=0 runs exactly max_iter iterations, by design "not converged".
        warnings.simplefilter("ignore")
        model.fit(X)
    return perf_counter() - start


def _vector(values, limit=8):
    text = " ".join(f"{v:7.2f}" for v in values[:limit])
    return text + (" ..." if len(values) > limit else "")


def run_demo(
    n_samples=2_000_000,
    n_features=8,
    n_components=8,
    *,
    covariance_type="full",
    seed=0,
    sklearn=True,
    sklearn_iter=5,
    n_jobs=None,
    as_json=False,
    quiet=False,
    out=None,
):
    """Fit a GaussianMixture to generated data and report accuracy and speed.

    Parameters
    ----------
    n_samples, n_features, n_components : int
        Size of the generated data and of the mixture.
    covariance_type : str, default='full'
        Covariance type of the fitted mixture (the data is full-covariance).
    seed : int, default=0
        Seed of the data and of the initialisation.
    sklearn : bool, default=True
        Also time scikit-learn's ``GaussianMixture`` from the same start.
    sklearn_iter : int, default=5
        Iterations timed in both libraries for the comparison.
    n_jobs : int, optional
        fastem threads (all cores by default).
    as_json : bool, default=False
        Print a JSON summary instead of text.
    quiet : bool, default=False
        No progress on standard error.
    out : file, optional
        Where the summary goes (standard output by default).

    Returns
    -------
    dict
        The summary: fit results, true and fitted parameters, timings.
    """
    out = sys.stdout if out is None else out

    def progress(message):
        if not quiet:
            print(f"demo: {message}", file=sys.stderr, flush=True)

    K, D = n_components, n_features
    threads = resolve_n_jobs(n_jobs)
    progress(f"generating {n_samples:,} x {D} rows from a known {K}-component mixture")
    start = perf_counter()
    truth = make_mixture(D, K, seed)
    X, _ = sample_mixture(truth, n_samples, seed + 1)
    t_generate = perf_counter() - start

    # Loading the compiled kernels from Numba's cache (or compiling them the first
    # time) is paid once per process; keep it out of the per-iteration timings.
    progress("loading fastem's compiled kernels")
    start = perf_counter()
    warm = X[: max(50 * K, 1000)]
    _timed_fit(
        GaussianMixture(K, covariance_type=covariance_type, max_iter=2, n_jobs=n_jobs), warm
    )
    t_warm = perf_counter() - start

    progress("initialising (k-means)")
    start = perf_counter()
    init = GaussianMixture(
        K, covariance_type=covariance_type, max_iter=0, random_state=seed, n_jobs=n_jobs
    ).fit(X)
    t_init = perf_counter() - start
    start_params = {
        "weights_init": init.weights_,
        "means_init": init.means_,
        "precisions_init": init.precisions_,
    }

    progress("fitting")
    model = GaussianMixture(
        K, covariance_type=covariance_type, max_iter=500, n_jobs=n_jobs, **start_params
    )
    t_em = fit_with_progress(model, X, quiet=quiet, label="demo: ")
    stats = fit_statistics(model, X)
    true_log_likelihood = _true_model(truth).score(X)
    order = _match(model.means_, truth["means"])

    summary = {
        "n_samples": n_samples,
        "n_features": D,
        "n_components": K,
        "covariance_type": covariance_type,
        "threads": threads,
        "time_generate_s": t_generate,
        "time_kernel_load_s": t_warm,
        "time_init_s": t_init,
        "time_em_s": t_em,
        "n_iter": int(model.n_iter_),
        "converged": bool(model.converged_),
        "time_per_iteration_s": t_em / max(model.n_iter_, 1),
        "log_likelihood": stats["log_likelihood"],
        "true_log_likelihood": float(true_log_likelihood),
        "bic": stats["bic"],
        "weights": model.weights_[order].tolist(),
        "true_weights": truth["weights"].tolist(),
        "means": model.means_[order].tolist(),
        "true_means": truth["means"].tolist(),
    }

    if sklearn:
        from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

        progress(f"timing {sklearn_iter} EM iterations of fastem and scikit-learn, same start")
        same = {"covariance_type": covariance_type, "tol": 0.0, "max_iter": sklearn_iter}
        ours = GaussianMixture(K, n_jobs=n_jobs, **same, **start_params)
        t_ours = _timed_fit(ours, X)
        theirs = SklearnGaussianMixture(K, **same, **start_params)
        t_theirs = _timed_fit(theirs, X)
        summary.update(
            {
                "compare_iterations": sklearn_iter,
                "fastem_time_per_iteration_s": t_ours / sklearn_iter,
                "sklearn_time_per_iteration_s": t_theirs / sklearn_iter,
                "speedup": t_theirs / t_ours,
                "lower_bound_relative_difference": abs(ours.lower_bound_ - theirs.lower_bound_)
                / abs(theirs.lower_bound_),
            }
        )

    if as_json:
        print(json.dumps(summary, indent=2), file=out)
        return summary
    _print_summary(summary, out)
    return summary


def _print_summary(s, out):
    def say(text=""):
        print(text, file=out)

    converged = "converged" if s["converged"] else "did not converge"
    say(
        f"fastem demo: GaussianMixture(n_components={s['n_components']}, "
        f"covariance_type={s['covariance_type']!r}) on {s['n_samples']:,} x {s['n_features']} "
        f"float64 rows, {s['threads']} threads"
    )
    say(f"  data generated         {s['time_generate_s']:8.2f} s")
    say(f"  kernels loaded         {s['time_kernel_load_s']:8.2f} s  (Numba cache; once)")
    say(f"  k-means initialisation {s['time_init_s']:8.2f} s")
    say(
        f"  EM                     {s['time_em_s']:8.2f} s  {s['n_iter']} iterations, "
        f"{converged}, {1000 * s['time_per_iteration_s']:.1f} ms per iteration"
    )
    say()
    say("fitted components next to the true ones (matched by mean):")
    say(f"  {'k':>3}  {'weight':>7}  {'true':>7}  mean")
    for k, (w, tw, m, tm) in enumerate(
        zip(s["weights"], s["true_weights"], s["means"], s["true_means"], strict=True)
    ):
        say(f"  {k:>3}  {w:7.4f}  {tw:7.4f}  {_vector(m)}  fitted")
        say(f"  {'':>3}  {'':>7}  {'':>7}  {_vector(tm)}  true")
    error = np.max(np.abs(np.asarray(s["means"]) - np.asarray(s["true_means"])))
    say(f"  largest mean error {error:.3g}")
    say()
    say(
        f"log-likelihood  {s['log_likelihood']:.6f} per sample "
        f"(true parameters: {s['true_log_likelihood']:.6f})"
    )
    say(f"BIC             {s['bic']:.8g}")
    if "speedup" in s:
        say()
        say(
            f"time per EM iteration, both from the same start, {s['compare_iterations']} "
            "iterations (tol=0):"
        )
        say(f"  fastem         {1000 * s['fastem_time_per_iteration_s']:10.1f} ms")
        say(f"  scikit-learn   {1000 * s['sklearn_time_per_iteration_s']:10.1f} ms")
        say(f"  speed-up       {s['speedup']:10.1f}x")
        say(
            "  log-likelihoods after the last iteration agree to "
            f"{s['lower_bound_relative_difference']:.1e} (relative)"
        )


# -- the subcommand ----------------------------------------------------------------------------
def _cmd_demo(args):
    """``fastem demo``: fit a large built-in mixture and compare with scikit-learn."""
    n_samples = args.n_samples or (100_000 if args.small else 2_000_000)
    if args.k > n_samples:
        raise CliError(f"--k {args.k} exceeds --n-samples {n_samples}")
    run_demo(
        n_samples=n_samples,
        n_features=args.n_features,
        n_components=args.k,
        covariance_type=args.covariance,
        seed=args.seed,
        sklearn=not args.no_sklearn,
        sklearn_iter=args.sklearn_iter,
        n_jobs=args.n_jobs,
        as_json=args.json,
        quiet=args.quiet,
    )
    return 0


def add_commands(sub, options):
    """Add ``demo`` to the subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The subcommands of the ``fastem`` parser.
    options : fastem.cli.parser.SharedOptions
        Parent parsers of the shared options.
    """
    o = options
    p = sub.add_parser(
        "demo",
        parents=[o.common, o.covariance(default="full"), o.seed(), o.threads, o.quiet, o.json],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="fit 2,000,000 x 8 rows and compare with scikit-learn",
        description=(
            "Generate rows from a known Gaussian mixture, fit it with fastem, show\n"
            "the fitted model next to the true one, and time EM iterations against\n"
            "scikit-learn's GaussianMixture started from the same parameters."
        ),
    )
    p.add_argument("--small", action="store_true", help="quick version (100,000 rows)")
    p.add_argument(
        "--n-samples",
        type=positive_int,
        default=None,
        metavar="N",
        help="rows (default 2,000,000)",
    )
    p.add_argument(
        "--n-features", type=positive_int, default=8, metavar="D", help="columns (default 8)"
    )
    p.add_argument("--k", type=positive_int, default=8, help="components (default 8)")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn timing")
    p.add_argument(
        "--sklearn-iter",
        type=positive_int,
        default=5,
        metavar="N",
        help="EM iterations timed in both libraries (default 5)",
    )
    p.set_defaults(func=_cmd_demo)
