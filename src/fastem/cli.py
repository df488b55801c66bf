"""The ``fastem`` command line: fit, use and inspect mixtures without writing Python.

Every subcommand reports errors as one line on standard error with exit status
1 (2 for usage errors), never a traceback unless ``--debug`` is given. Progress
goes to standard error, results to standard output.
"""

import argparse
import contextlib
import io
import json
import math
import os
import re
import sys
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np

PROG = "fastem"
_EVAL_CHUNK = 1 << 20
_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


class CliError(Exception):
    """An error the user can act on, reported as a single line without traceback."""


# -- argument types --------------------------------------------------------------------------
def _at_least(cast, minimum, description):
    """An argparse type: ``cast(text)``, rejected below ``minimum`` (and NaN)."""

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text!r}") from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"expected {description}, got {text}")
        return value

    return parse


_positive_int = _at_least(int, 1, "a positive integer")
_non_negative_int = _at_least(int, 0, "an integer >= 0")
_non_negative_float = _at_least(float, 0.0, "a number >= 0")


def _column_list(text):
    try:
        columns = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column indices such as 0,2,5, got {text!r}"
        ) from None
    if not columns or min(columns) < 0:
        raise argparse.ArgumentTypeError(f"expected column indices >= 0, got {text!r}")
    return columns


def _k_values(text):
    """``1..10``, ``2,4,8`` or ``5``: the numbers of components to try."""
    values = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:\.\.|-|:)\s*(\d+)\s*", part)
        try:
            if match:
                low, high = int(match.group(1)), int(match.group(2))
                if low > high:
                    raise ValueError
                values.extend(range(low, high + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected K values such as 1..10 or 2,4,8, got {text!r}"
            ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"K values must be >= 1, got {text!r}")
    return sorted(set(values))


def _covariance_list(text):
    if text == "all":
        return list(_COVARIANCE_TYPES)
    kinds = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in kinds if c not in _COVARIANCE_TYPES]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"expected 'all' or some of {', '.join(_COVARIANCE_TYPES)}, got {text!r}"
        )
    return kinds


# -- reading data ------------------------------------------------------------------------------
def _locate_csv_problem(lines, name, skip_header, columns, delimiter):
    """Line and column of the first cell NumPy could not read, or None."""
    n_columns = None
    for lineno, line in enumerate(lines, start=1):
        if lineno <= skip_header:
            continue
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        cells = content.split(delimiter)
        if columns is None:
            if n_columns is None:
                n_columns = len(cells)
            elif len(cells) != n_columns:
                return (
                    f"{name}: line {lineno} has {len(cells)} columns, "
                    f"the lines before it have {n_columns}"
                )
        elif max(columns) >= len(cells):
            return (
                f"{name}: line {lineno} has {len(cells)} columns; "
                f"--columns asks for column index {max(columns)}"
            )
        for j in range(len(cells)) if columns is None else columns:
            try:
                float(cells[j])
            except ValueError:
                hint = " (a header line? add --skip-header)" if lineno == 1 else ""
                return (
                    f"{name}: line {lineno}, column {j + 1}: {cells[j].strip()!r} "
                    f"is not a number{hint}"
                )
    return None


def _read_csv(source, name, skip_header, columns, delimiter):
    """Parse numeric CSV with NumPy's fast reader, diagnosing failures by a second look."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            X = np.loadtxt(
                source,
                delimiter=delimiter,
                skiprows=int(skip_header),
                usecols=columns,
                ndmin=2,
                dtype=np.float64,
                comments="#",
            )
    except ValueError as exc:
        if isinstance(source, io.StringIO):
            lines = source.getvalue().splitlines()
        else:
            with open(source, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        problem = _locate_csv_problem(lines, name, skip_header, columns, delimiter)
        raise CliError(problem or f"{name}: {exc}") from None
    if X.size == 0:
        raise CliError(f"{name}: no data rows")
    return X


def read_data(spec, *, skip_header=False, columns=None, delimiter=",", float32=False):
    """Rows from a ``.npy`` file (memory-mapped), a CSV file or CSV on standard input.

    Parameters
    ----------
    spec : str
        Path of a ``.npy`` or ``.csv``/``.txt`` file, or ``-`` for CSV on stdin.
    skip_header : bool, default=False
        Skip the first line of CSV input.
    columns : list of int, optional
        Columns to keep (0-based); all by default.
    delimiter : str, default=","
        CSV field separator.
    float32 : bool, default=False
        Convert to float32 (fastem then fits in float32 end to end).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        A ``.npy`` of float32 or float64 is mapped copy-on-write and not copied
        unless columns are selected or a dtype conversion is needed.
    """
    if spec == "-":
        X = _read_csv(io.StringIO(sys.stdin.read()), "<stdin>", skip_header, columns, delimiter)
    else:
        path = Path(spec)
        if not path.is_file():
            raise CliError(f"{spec}: no such file" if not path.exists() else f"{spec}: not a file")
        suffix = path.suffix.lower()
        if suffix == ".npy":
            X = _read_npy(path, columns)
        elif suffix in (".csv", ".txt", ".tsv"):
            X = _read_csv(path, spec, skip_header, columns, delimiter)
        else:
            raise CliError(f"{spec}: unknown data format; use .npy, .csv, or - for CSV on stdin")
    if float32 and X.dtype != np.float32:
        X = X.astype(np.float32)
    return X


def _read_npy(path, columns):
    try:
        # Copy-on-write rather than read-only: same no-copy mapping, but a writeable
        # array, which Numba treats as the ordinary array type. A read-only array is
        # a distinct type that would compile (seconds) a second set of kernels.
        X = np.load(path, mmap_mode="c", allow_pickle=False)
    except ValueError as exc:
        raise CliError(f"{path}: not a readable .npy file ({exc})") from None
    if not isinstance(X, np.ndarray):
        raise CliError(f"{path}: not a .npy array file")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise CliError(f"{path}: expected a 2-D array of rows, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise CliError(f"{path}: expected numbers, got dtype {X.dtype}")
    if columns is not None:
        if max(columns) >= X.shape[1]:
            raise CliError(
                f"{path} has {X.shape[1]} columns; --columns asks for index {max(columns)}"
            )
        X = X[:, columns]
    if X.shape[0] == 0:
        raise CliError(f"{path}: no data rows")
    return X


def _data_from_args(args, float32=False):
    return read_data(
        args.data,
        skip_header=args.skip_header,
        columns=args.columns,
        delimiter=args.delimiter,
        float32=float32,
    )


def _write_array(path, array, fmt):
    """``.npy`` or CSV by extension; CSV on standard output without a path."""
    if path is None or path == "-":
        np.savetxt(sys.stdout, array, fmt=fmt, delimiter=",")
        return
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        np.save(path, array)
    elif suffix in (".csv", ".txt"):
        np.savetxt(path, array, fmt=fmt, delimiter=",")
    else:
        raise CliError(f"{path}: unknown output format; use .npy or .csv")


def _check_output(path):
    """Fail before a long computation, not after it, if the output cannot be written."""
    if path is None or path == "-":
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise CliError(f"{path}: directory {parent} does not exist")


def _load_model(path):
    import fastem

    if not Path(path).exists():
        raise CliError(f"{path}: no such file")
    return fastem.load(path)


# -- fitting with progress ---------------------------------------------------------------------
class _Progress(io.TextIOBase):
    """Progress on standard error, fed by the estimator's ``verbose=2`` lines.

    Nothing is shown for fits shorter than ``delay`` seconds. On a terminal
    one line is rewritten in place; otherwise (a log) a line at most every few
    seconds.
    """

    active = None
    _ITERATION = re.compile(r"\s*Iteration (\d+)\s+time lapse ([0-9.eE+-]+)s\s+ll change (\S+)")
    _INIT = re.compile(r"Initialization (\d+)\s*$")

    def __init__(self, stream, *, n_init, max_iter, label="", delay=1.0):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.interval = 0.1 if self.tty else 5.0
        self.n_init, self.max_iter, self.label = n_init, max_iter, label
        self.delay = delay
        self.start = perf_counter()
        self.last_shown = -math.inf
        self.pending = ""
        self.init = 0
        self.open_line = False

    def writable(self):
        """The estimator prints here."""
        return True

    def write(self, text):
        """Take the estimator's printed text; act on whole lines."""
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self._handle(line)
        return len(text)

    def _handle(self, line):
        match = self._ITERATION.match(line)
        if match:
            now = perf_counter()
            if now - self.start >= self.delay and now - self.last_shown >= self.interval:
                self.last_shown = now
                inits = f"init {self.init + 1}/{self.n_init}, " if self.n_init > 1 else ""
                iteration, lapse, change = match.groups()
                # The estimator's first lapse includes the initialisation.
                details = (
                    f"log-likelihood change {float(change):.2g}, {float(lapse):.3f} s/iteration"
                    if iteration != "1"
                    else "initialised"
                )
                self._show(
                    f"{self.label}{inits}iteration {iteration}/{self.max_iter}: {details}, "
                    f"{now - self.start:.1f} s elapsed"
                )
            return
        match = self._INIT.match(line)
        if match:
            self.init = int(match.group(1))

    def _show(self, message):
        if self.tty:
            self.stream.write("\r\033[K" + message)
            self.open_line = True
        else:
            self.stream.write(message + "\n")
        self.stream.flush()

    def end_line(self):
        """Finish an in-place line before other output on standard error."""
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def fit_with_progress(model, X, *, quiet=False, label=""):
    """Fit ``model`` on ``X`` with progress on standard error.

    Parameters
    ----------
    model : fastem mixture
        Unfitted estimator; its ``verbose`` output drives the progress and is
        reset to 0 afterwards (so a saved model stays quiet).
    X : ndarray
        Training rows.
    quiet : bool, default=False
        Show no progress.
    label : str, default=""
        Prefix of the progress lines.

    Returns
    -------
    float
        Seconds the fit took.
    """
    progress = _Progress(
        sys.stderr,
        n_init=model.n_init,
        max_iter=model.max_iter,
        label=label,
        delay=math.inf if quiet else 1.0,
    )
    model.set_params(verbose=2, verbose_interval=1)
    _Progress.active = None if quiet else progress
    start = perf_counter()
    try:
        with contextlib.redirect_stdout(progress):
            model.fit(X)
    finally:
        progress.end_line()
        _Progress.active = None
        model.set_params(verbose=0, verbose_interval=10)
    return perf_counter() - start


def _estimator(family, n_components, args, covariance=None):
    """An unfitted estimator of ``family`` from the fit options."""
    import fastem

    if family == "gaussian":
        cls = fastem.GaussianMixture
    else:
        cls = getattr(fastem, "BernoulliMixture", None)
        if cls is None:
            raise CliError("this fastem has no BernoulliMixture")
    params = {
        "n_components": n_components,
        "n_init": args.n_init,
        "max_iter": args.max_iter,
        "tol": args.tol,
        "init_params": args.init,
        "random_state": args.seed,
        "n_jobs": args.n_jobs,
    }
    if covariance is not None:
        params["covariance_type"] = covariance
    if args.reg_covar is not None:
        params["reg_covar"] = args.reg_covar
    if args.chunk_size is not None:
        params["chunk_size"] = args.chunk_size
    accepted = cls().get_params()
    options = (
        ("covariance_type", "--covariance"),
        ("reg_covar", "--reg-covar"),
        ("chunk_size", "--chunk-size"),
    )
    for name, option in options:
        if name in params and name not in accepted:
            raise CliError(f"{option} does not apply to the {family} family")
    return cls(**{name: value for name, value in params.items() if value is not None})


def _evaluate(model, X, method):
    """``method`` over row chunks: bounded memory for large (memory-mapped) data."""
    parts = [
        getattr(model, method)(X[start : start + _EVAL_CHUNK])
        for start in range(0, X.shape[0], _EVAL_CHUNK)
    ]
    return np.concatenate(parts)


def _fit_statistics(model, X):
    """Mean log-likelihood, BIC and AIC of a fitted model on ``X`` (one pass)."""
    n_samples = X.shape[0]
    mean_ll = float(np.mean(_evaluate(model, X, "score_samples"), dtype=np.float64))
    n_parameters = model._n_parameters()
    total = mean_ll * n_samples
    return {
        "log_likelihood": mean_ll,
        "bic": -2 * total + n_parameters * math.log(n_samples),
        "aic": -2 * total + 2 * n_parameters,
        "n_parameters": n_parameters,
    }


def _check_k(k_values, n_samples):
    too_big = [k for k in k_values if k > n_samples]
    if too_big:
        raise CliError(f"--k {max(too_big)} exceeds the number of rows ({n_samples})")


def _describe(model):
    extra = ""
    if hasattr(model, "covariance_type"):
        extra = f", covariance_type={model.covariance_type!r}"
    return f"{type(model).__name__}(n_components={model.n_components}{extra})"


# -- subcommands -----------------------------------------------------------------------------
def _cmd_fit(args):
    """``fastem fit``: fit one mixture, print a summary, save it."""
    _check_output(args.output)
    X = _data_from_args(args, float32=args.float32)
    _check_k([args.k], X.shape[0])
    model = _estimator(args.family, args.k, args, args.covariance)
    elapsed = fit_with_progress(model, X, quiet=args.quiet)
    stats = _fit_statistics(model, X)
    if args.output:
        model.save(args.output)
    summary = {
        "model": _describe(model),
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
    converged = "converged" if model.converged_ else "did not converge"
    print(
        f"fitted {summary['model']} to {X.shape[0]:,} x {X.shape[1]} rows of {args.data}\n"
        f"  iterations       {model.n_iter_} ({converged})\n"
        f"  log-likelihood   {stats['log_likelihood']:.6g} per sample\n"
        f"  BIC              {stats['bic']:.6g}\n"
        f"  time             {elapsed:.3g} s"
    )
    if args.output:
        print(f"  saved to         {args.output}")
    return 0


def _cmd_predict(args):
    """``fastem predict``: labels or responsibilities of every row."""
    _check_output(args.output)
    model = _load_model(args.model)
    X = _data_from_args(args)
    if args.proba:
        _write_array(args.output, _evaluate(model, X, "predict_proba"), "%.8g")
    else:
        _write_array(args.output, _evaluate(model, X, "predict"), "%d")
    return 0


def _cmd_score(args):
    """``fastem score``: mean log-likelihood per row."""
    model = _load_model(args.model)
    X = _data_from_args(args)
    stats = _fit_statistics(model, X)
    if args.json:
        print(json.dumps({"n_samples": int(X.shape[0]), **stats}, indent=2))
    else:
        print(repr(stats["log_likelihood"]))
    return 0


def _cmd_sample(args):
    """``fastem sample``: draw rows from a saved model."""
    _check_output(args.output)
    _check_output(args.labels)
    model = _load_model(args.model)
    if args.seed is not None:
        model.set_params(random_state=args.seed)
    X, labels = model.sample(args.n)
    _write_array(args.output, X, "%.10g")
    if args.labels:
        _write_array(args.labels, labels, "%d")
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


def _cmd_info(args):
    """``fastem info``: what a model file holds."""
    from ._io import _fitted_attributes

    model = _load_model(args.model)
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


def _cmd_select(args):
    """``fastem select``: fit every K (and covariance type), compare by BIC or AIC."""
    _check_output(args.output)
    X = _data_from_args(args, float32=args.float32)
    _check_k(args.k, X.shape[0])
    covariances = [None] if args.family != "gaussian" else args.covariance
    results = []
    for covariance in covariances:
        for k in args.k:
            model = _estimator(args.family, k, args, covariance)
            label = f"K={k}" + (f" {covariance}" if covariance else "") + ": "
            try:
                elapsed = fit_with_progress(model, X, quiet=args.quiet, label=label)
            except ValueError as exc:
                print(f"{PROG}: {label}fit failed: {_one_line(exc)}", file=sys.stderr)
                results.append({"k": k, "covariance": covariance, "error": _one_line(exc)})
                continue
            stats = _fit_statistics(model, X)
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
    if args.output:
        print(f"saved to {args.output}")
    return 0


def _pillow():
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise CliError("segment needs Pillow: pip install fastem[image]") from None
    return Image, ImageOps


def _cmd_segment(args):
    """``fastem segment``: replace every pixel by the mean colour of its component."""
    from ._segment import segment

    Image, ImageOps = _pillow()
    if not Path(args.image).exists():
        raise CliError(f"{args.image}: no such file")
    try:
        with Image.open(args.image) as opened:
            image = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise CliError(f"{args.image}: cannot read image ({_one_line(exc)})") from None
    _check_output(args.output)
    if Path(args.output).suffix.lower() not in Image.registered_extensions():
        raise CliError(f"{args.output}: unknown image format; use for instance .png")
    height, width, _ = image.shape
    start = perf_counter()
    labels, palette, model = segment(
        image,
        args.k,
        covariance_type=args.covariance,
        max_pixels=args.max_pixels,
        spatial=args.spatial,
        random_state=args.seed,
        n_init=args.n_init,
        max_iter=args.max_iter,
        n_jobs=args.n_jobs,
    )
    elapsed = perf_counter() - start
    Image.fromarray(palette[labels]).save(args.output)
    order = np.argsort(-model.weights_, kind="stable")
    if args.json:
        counts = np.bincount(labels.ravel(), minlength=args.k)
        components = [
            {
                "component": int(k),
                "weight": float(model.weights_[k]),
                "rgb": palette[k].tolist(),
                "pixels": int(counts[k]),
            }
            for k in order
        ]
        summary = {"width": width, "height": height, "time_s": elapsed, "components": components}
        print(json.dumps(summary))
        return 0
    print(
        f"segmented {width} x {height} pixels of {args.image} into {args.k} colours "
        f"in {elapsed:.2f} s ({model.n_iter_} iterations) -> {args.output}"
    )
    print(f"  {'k':>3}  {'weight':>7}  {'R':>3} {'G':>3} {'B':>3}  colour")
    for k in order:
        r, g, b = (int(c) for c in palette[k])
        print(f"  {k:>3}  {model.weights_[k]:7.4f}  {r:>3} {g:>3} {b:>3}  #{r:02x}{g:02x}{b:02x}")
    return 0


def _cmd_demo(args):
    """``fastem demo``: fit a large built-in mixture and compare with scikit-learn."""
    from ._demo import run_demo

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


# -- parser ------------------------------------------------------------------------------------
def _add_model_argument(parser):
    parser.add_argument("model", metavar="MODEL.npz", help="model file from 'fastem fit'")


def _add_data_argument(parser):
    parser.add_argument("data", metavar="DATA", help=".npy, .csv, or - for CSV on stdin")


def _parent_parsers():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show Python tracebacks on errors",
    )
    data = argparse.ArgumentParser(add_help=False)
    group = data.add_argument_group("data")
    group.add_argument(
        "--skip-header", action="store_true", help="CSV: skip the first line (column names)"
    )
    group.add_argument(
        "--columns",
        type=_column_list,
        metavar="I,J,...",
        help="use these columns only, 0-based (e.g. 0,2,5)",
    )
    group.add_argument("--delimiter", default=",", help="CSV field separator (default ',')")
    fitting = argparse.ArgumentParser(add_help=False)
    group = fitting.add_argument_group("fitting")
    group.add_argument(
        "--family",
        choices=("gaussian", "bernoulli"),
        default="gaussian",
        help="mixture family (default gaussian; bernoulli for 0/1 data)",
    )
    group.add_argument(
        "--n-init",
        type=_positive_int,
        default=1,
        metavar="N",
        help="initialisations; the best is kept (default 1)",
    )
    group.add_argument(
        "--max-iter",
        type=_non_negative_int,
        default=100,
        metavar="N",
        help="EM iterations per initialisation (default 100)",
    )
    group.add_argument(
        "--tol",
        type=_non_negative_float,
        default=1e-3,
        metavar="T",
        help="stop when the mean log-likelihood changes by less (default 1e-3)",
    )
    group.add_argument(
        "--init", choices=_INIT_PARAMS, default="kmeans", help="initialisation (default kmeans)"
    )
    group.add_argument(
        "--reg-covar",
        type=_non_negative_float,
        default=None,
        metavar="R",
        help="gaussian: added to covariance diagonals (default 1e-6)",
    )
    group.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    group.add_argument(
        "--n-jobs", type=int, default=None, metavar="N", help="threads (default: all cores)"
    )
    group.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=None,
        metavar="ROWS",
        help="read the data in chunks of ROWS rows in every EM pass (exact EM; memory "
        "bounded by a chunk); default: about 64 MiB of rows for .npy files, all rows at "
        "once for CSV",
    )
    group.add_argument(
        "--float32",
        action="store_true",
        help="fit in float32 (statistics stay float64); a float64 .npy is then "
        "converted in memory",
    )
    group.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return common, data, fitting


def build_parser():
    """The ``fastem`` argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser
    """
    from . import __version__

    common, data, fitting = _parent_parsers()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Fit mixture models by EM on fast Numba kernels, from the command line.",
        epilog=f"Run '{PROG} demo' for a first look, '{PROG} COMMAND --help' for details.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    formatter = argparse.RawDescriptionHelpFormatter

    p = sub.add_parser(
        "fit",
        parents=[common, data, fitting],
        formatter_class=formatter,
        help="fit a mixture to data and save it",
        description=(
            "Fit a mixture to DATA and save it as a portable .npz model file.\n"
            "DATA is a .npy file (memory-mapped, not copied), a .csv file, or - for CSV\n"
            "on standard input. Progress goes to stderr, the summary to stdout.\n\n"
            "example: fastem fit points.npy --k 5 -o model.npz"
        ),
    )
    _add_data_argument(p)
    p.add_argument("--k", type=_positive_int, required=True, help="number of components")
    p.add_argument(
        "--covariance",
        choices=_COVARIANCE_TYPES,
        default=None,
        help="gaussian covariance type (default full)",
    )
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="save the fitted model here")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "predict",
        parents=[common, data],
        help="component labels (or probabilities) of rows",
        description="Write the most probable component of every row of DATA "
        "(or, with --proba, the probability of every component).",
    )
    _add_model_argument(p)
    _add_data_argument(p)
    p.add_argument("--proba", action="store_true", help="write the responsibilities (N x K)")
    p.add_argument("-o", "--output", metavar="OUT", help=".npy or .csv (default: CSV on stdout)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "score",
        parents=[common, data],
        help="mean log-likelihood of rows under a model",
        description="Print the mean log-likelihood per row of DATA under the model "
        "(--json adds the BIC and AIC).",
    )
    _add_model_argument(p)
    _add_data_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser(
        "sample",
        parents=[common],
        help="draw random rows from a model",
        description="Draw N rows from the model. The model's saved random_state "
        "is used unless --seed is given.",
    )
    _add_model_argument(p)
    p.add_argument("n", metavar="N", type=_positive_int, help="number of rows")
    p.add_argument("-o", "--output", metavar="OUT", help=".npy or .csv (default: CSV on stdout)")
    p.add_argument("--labels", metavar="OUT", help="also write each row's component here")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser(
        "info",
        parents=[common],
        help="describe a model file",
        description="Print the class, parameters and fitted components of a model file.",
    )
    _add_model_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "select",
        parents=[common, data, fitting],
        formatter_class=formatter,
        help="choose K (and covariance type) by BIC",
        description=(
            "Fit every K (and every covariance type asked for) and print the BIC\n"
            "table with the best model marked; -o saves the best model.\n\n"
            "example: fastem select points.csv --k 1..10 --covariance all -o best.npz"
        ),
    )
    _add_data_argument(p)
    p.add_argument(
        "--k",
        type=_k_values,
        default=list(range(1, 11)),
        metavar="KS",
        help="K values: 1..10 (default), 2,4,8 or 5",
    )
    p.add_argument(
        "--covariance",
        type=_covariance_list,
        default=["full"],
        metavar="TYPES",
        help=f"'all' or a comma list of {','.join(_COVARIANCE_TYPES)} (default full)",
    )
    p.add_argument(
        "--criterion", choices=("bic", "aic"), default="bic", help="lower is better (default bic)"
    )
    p.add_argument("-o", "--output", metavar="MODEL.npz", help="save the best model here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_select)

    p = sub.add_parser(
        "segment",
        parents=[common],
        formatter_class=formatter,
        help="colour segmentation of an image",
        description=(
            "Segment an image into K colours: a Gaussian mixture is fitted to (a\n"
            "random sample of) its pixels in RGB, then every pixel takes the mean\n"
            "colour of its most probable component. Needs Pillow (pip install\n"
            "fastem[image]).\n\n"
            "example: fastem segment photo.jpg --k 8 -o segmented.png"
        ),
    )
    p.add_argument("image", metavar="IMAGE", help="any image Pillow reads")
    p.add_argument("--k", type=_positive_int, required=True, help="number of colours")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="output image")
    p.add_argument(
        "--covariance",
        choices=_COVARIANCE_TYPES,
        default="full",
        help="covariance type (default full)",
    )
    p.add_argument(
        "--max-pixels",
        type=_positive_int,
        default=200_000,
        metavar="N",
        help="fit on at most N random pixels (default 200000)",
    )
    p.add_argument(
        "--spatial",
        type=_non_negative_float,
        default=0.0,
        metavar="WEIGHT",
        help="also use pixel position, weighted (0 = colour only; try 1)",
    )
    p.add_argument(
        "--n-init", type=_positive_int, default=1, metavar="N", help="initialisations (default 1)"
    )
    p.add_argument(
        "--max-iter",
        type=_non_negative_int,
        default=100,
        metavar="N",
        help="EM iterations (default 100)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--n-jobs", type=int, default=None, metavar="N", help="threads (default: all cores)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=_cmd_segment)

    p = sub.add_parser(
        "demo",
        parents=[common],
        formatter_class=formatter,
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
        type=_positive_int,
        default=None,
        metavar="N",
        help="rows (default 2,000,000)",
    )
    p.add_argument(
        "--n-features", type=_positive_int, default=8, metavar="D", help="columns (default 8)"
    )
    p.add_argument("--k", type=_positive_int, default=8, help="components (default 8)")
    p.add_argument(
        "--covariance",
        choices=_COVARIANCE_TYPES,
        default="full",
        help="covariance type (default full)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn timing")
    p.add_argument(
        "--sklearn-iter",
        type=_positive_int,
        default=5,
        metavar="N",
        help="EM iterations timed in both libraries (default 5)",
    )
    p.add_argument(
        "--n-jobs", type=int, default=None, metavar="N", help="fastem threads (default: all cores)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_demo)
    return parser


# -- entry point -------------------------------------------------------------------------------
def _one_line(exc):
    """A readable single line for an exception."""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{exc.filename}: no such file or directory"
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, MemoryError):
        return "out of memory (try --float32, or fewer rows)"
    message = " ".join(str(exc).split())
    if isinstance(exc, (CliError, ValueError, OSError)):
        return message or type(exc).__name__
    return f"{type(exc).__name__}: {message} (run with --debug for the traceback)"


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if _Progress.active is not None:
        _Progress.active.end_line()
    print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv=None):
    """Run the ``fastem`` command line.

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
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
