"""Argument types, positionals and the options that several subcommands share.

Every shared option is defined once, in a parent parser of :class:`SharedOptions`;
the command modules name the parents they take, so that ``--seed`` or ``--max-iter``
means the same (type, default, help) wherever it appears.
"""

import argparse
import re

PROG = "fastem"
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
FAMILIES = ("gaussian", "bernoulli", "kmeans")
#: ``fit`` also fits tables of mixed column types (``select`` searches rows of numbers only).
FIT_FAMILIES = (*FAMILIES, "tabular")


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


positive_int = _at_least(int, 1, "a positive integer")
non_negative_int = _at_least(int, 0, "an integer >= 0")
non_negative_float = _at_least(float, 0.0, "a number >= 0")


def column_list(text):
    """``0,2,5``: 0-based column indices (an argparse type)."""
    try:
        columns = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column indices such as 0,2,5, got {text!r}"
        ) from None
    if not columns or min(columns) < 0:
        raise argparse.ArgumentTypeError(f"expected column indices >= 0, got {text!r}")
    return columns


def k_values(text):
    """``1..10``, ``2,4,8`` or ``5``: the numbers of components to try (an argparse type)."""
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


def covariance_list(text):
    """``all`` or ``diag,full``: covariance types to try (an argparse type)."""
    if text == "all":
        return list(COVARIANCE_TYPES)
    kinds = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in kinds if c not in COVARIANCE_TYPES]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"expected 'all' or some of {', '.join(COVARIANCE_TYPES)}, got {text!r}"
        )
    return kinds


# -- positionals -------------------------------------------------------------------------------
def add_model_argument(parser):
    """The MODEL.npz positional: a model file written by ``fastem fit``."""
    parser.add_argument("model", metavar="MODEL.npz", help="model file from 'fastem fit'")


def add_data_argument(parser):
    """The DATA positional: rows read by :func:`fastem.cli.data.read_data`."""
    parser.add_argument("data", metavar="DATA", help=".npy, .csv, or - for CSV on stdin")


# -- shared options ----------------------------------------------------------------------------
def _parent():
    return argparse.ArgumentParser(add_help=False)


class SharedOptions:
    """The parent parsers of one build of the command line.

    Attributes
    ----------
    common : argparse.ArgumentParser
        ``--debug``, accepted after the subcommand as well as before it.
    data : argparse.ArgumentParser
        How DATA is read: ``--skip-header``, ``--columns``, ``--delimiter``.
    iterations : argparse.ArgumentParser
        ``--n-init`` and ``--max-iter``.
    search_iterations : argparse.ArgumentParser
        The same for ``select``, whose ``--n-init`` defaults to the selector's.
    estimator : argparse.ArgumentParser
        The remaining estimator options of ``select``: ``--family`` (one of
        :data:`FAMILIES`), ``--tol``, ``--init``, ``--reg-covar``,
        ``--chunk-size``, ``--float32``.
    fit_estimator : argparse.ArgumentParser
        The same for ``fit``, whose ``--family`` is one of :data:`FIT_FAMILIES`.
    threads : argparse.ArgumentParser
        ``--n-jobs``.
    quiet : argparse.ArgumentParser
        ``-q``/``--quiet``.
    json : argparse.ArgumentParser
        ``--json``.
    """

    def __init__(self):
        self.common = _parent()
        # Suppressed default: the subcommand's parse must not reset a --debug given
        # before the subcommand name.
        self.common.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show Python tracebacks on errors",
        )

        self.data = _parent()
        group = self.data.add_argument_group("data")
        group.add_argument(
            "--skip-header", action="store_true", help="CSV: skip the first line (column names)"
        )
        group.add_argument(
            "--columns",
            type=column_list,
            metavar="I,J,...",
            help="use these columns only, 0-based (e.g. 0,2,5)",
        )
        group.add_argument("--delimiter", default=",", help="CSV field separator (default ',')")

        self.iterations = self._iterations(1, "initialisations; the best is kept (default 1)")
        self.search_iterations = self._iterations(
            None,
            "starts per candidate; the best is kept (default: 30 with --strategy short-em, 1 "
            "with --strategy em)",
        )

        self.estimator = self._estimator(FAMILIES, "")
        self.fit_estimator = self._estimator(
            FIT_FAMILIES, "; tabular for tables of mixed column types (CSV, Parquet)"
        )

        self.threads = _parent()
        self.threads.add_argument_group("fitting").add_argument(
            "--n-jobs", type=int, default=None, metavar="N", help="threads (default: all cores)"
        )

        self.quiet = _parent()
        self.quiet.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")

        self.json = _parent()
        self.json.add_argument("--json", action="store_true", help="machine-readable output")

    @staticmethod
    def _estimator(families, tabular_help):
        """``--family`` (one of ``families``) and the other estimator options."""
        parser = _parent()
        group = parser.add_argument_group("fitting")
        group.add_argument(
            "--family",
            choices=families,
            default="gaussian",
            help="model family (default gaussian; bernoulli for 0/1 data; kmeans for k-means "
            f"clustering{tabular_help})",
        )
        group.add_argument(
            "--tol",
            type=non_negative_float,
            default=None,
            metavar="T",
            help="stop when the mean log-likelihood changes by less (default 1e-3); kmeans: "
            "when the centres move by less than T times the data's mean variance "
            "(default 1e-4)",
        )
        group.add_argument(
            "--init",
            choices=INIT_PARAMS,
            default="kmeans",
            help="initialisation (default kmeans; for the kmeans family kmeans and k-means++ "
            "are k-means++ seeding, random_from_data is random rows)",
        )
        group.add_argument(
            "--reg-covar",
            type=non_negative_float,
            default=None,
            metavar="R",
            help="gaussian: added to covariance diagonals (default 1e-6)",
        )
        group.add_argument(
            "--chunk-size",
            type=positive_int,
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
        return parser

    @staticmethod
    def _iterations(n_init_default, n_init_help):
        """``--n-init`` (with its default and help) and ``--max-iter``."""
        parser = _parent()
        group = parser.add_argument_group("fitting")
        group.add_argument(
            "--n-init", type=positive_int, default=n_init_default, metavar="N", help=n_init_help
        )
        group.add_argument(
            "--max-iter",
            type=non_negative_int,
            default=100,
            metavar="N",
            help="EM (kmeans: Lloyd) iterations per initialisation (default 100)",
        )
        return parser

    @staticmethod
    def plot(what):
        """``--plot FILE.png``: draw ``what`` into an image file (needs matplotlib).

        Parameters
        ----------
        what : str
            What the figure shows, for the help text.

        Returns
        -------
        argparse.ArgumentParser
        """
        parser = _parent()
        parser.add_argument(
            "--plot",
            metavar="FILE.png",
            help=f"draw {what} into this image file (.png, .svg, .pdf; needs matplotlib: "
            "pip install 'fastem[plot]')",
        )
        return parser

    @staticmethod
    def seed(default=0):
        """``--seed``: the estimator's ``random_state``.

        Parameters
        ----------
        default : int or None, default=0
            None leaves the choice to the command (``sample`` then uses the
            model's saved ``random_state``).

        Returns
        -------
        argparse.ArgumentParser
        """
        parser = _parent()
        shown = f"default {default}" if default is not None else "default: the model's own"
        parser.add_argument_group("fitting" if default is not None else "sampling").add_argument(
            "--seed", type=int, default=default, metavar="S", help=f"random seed ({shown})"
        )
        return parser

    @staticmethod
    def covariance(default=None, several=False):
        """``--covariance``: one Gaussian covariance type, or several to compare.

        Parameters
        ----------
        default : str or None, default=None
            None leaves the estimator's default (``full``) and lets the
            command reject the option for families without covariances.
        several : bool, default=False
            Accept ``all`` or a comma list; the value is then a list.

        Returns
        -------
        argparse.ArgumentParser
        """
        parser = _parent()
        group = parser.add_argument_group("fitting")
        if several:
            group.add_argument(
                "--covariance",
                type=covariance_list,
                default=[default or "full"],
                metavar="TYPES",
                help=f"'all' or a comma list of {','.join(COVARIANCE_TYPES)} (default full)",
            )
        else:
            group.add_argument(
                "--covariance",
                choices=COVARIANCE_TYPES,
                default=default,
                help="gaussian covariance type (default full)",
            )
        return parser
