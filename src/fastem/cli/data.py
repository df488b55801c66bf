"""Reading rows (``.npy``, CSV, standard input) and writing arrays for the command line."""

import io
import sys
import warnings
from pathlib import Path

import numpy as np

from fastem._make_source import is_out_of_core, make_source

from .errors import CliError

#: Rows per block when a fitted model is evaluated: bounded memory on large inputs.
EVAL_CHUNK = 1 << 20


# -- CSV ---------------------------------------------------------------------------------------
#: CSV cells read as missing values (compared without case and surrounding spaces).
MISSING_TOKENS = frozenset({"", "na", "nan"})


def _cell(text):
    """A CSV cell as a float; NaN for a missing value (see :data:`MISSING_TOKENS`)."""
    text = text.strip()
    if text.lower() in MISSING_TOKENS:
        return np.nan
    return float(text)


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
                _cell(cells[j])
            except ValueError:
                hint = " (a header line? add --skip-header)" if lineno == 1 else ""
                return (
                    f"{name}: line {lineno}, column {j + 1}: {cells[j].strip()!r} "
                    f"is not a number (nor a missing value: empty, NA, NaN){hint}"
                )
    return None


def _loadtxt(source, skip_header, columns, delimiter, converters=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
        return np.loadtxt(
            source,
            delimiter=delimiter,
            skiprows=int(skip_header),
            usecols=columns,
            ndmin=2,
            dtype=np.float64,
            comments="#",
            converters=converters,
        )


def _read_csv(source, name, skip_header, columns, delimiter):
    """Parse numeric CSV with NumPy's fast reader, diagnosing failures by a second look.

    Empty fields, ``NA`` and ``NaN`` (any case) are missing values (NaN). The
    fast reader takes files of plain numbers; a file it refuses is read again
    cell by cell with the missing-value tokens, and only a file that still
    fails is an error, located to its line and column.
    """
    try:
        X = _loadtxt(source, skip_header, columns, delimiter)
    except ValueError as exc:
        if isinstance(source, io.StringIO):
            source.seek(0)
        try:
            X = _loadtxt(source, skip_header, columns, delimiter, converters=_cell)
        except ValueError:
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


# -- .npy --------------------------------------------------------------------------------------
def _read_npy(path, columns):
    try:
        # Mapped read-only, as fastem maps a .npy path it is given to fit. Nothing here
        # hands this map to the kernels directly: fit and row_blocks read it through
        # fastem's sources, which remap it copy-on-write (a read-only array would be a
        # distinct Numba type, compiling a second set of kernels).
        X = np.load(path, mmap_mode="r", allow_pickle=False)
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


# -- reading and writing -----------------------------------------------------------------------
def data_path(spec):
    """The file ``spec`` names, checked: it exists and is ``.npy`` or CSV (.csv, .txt, .tsv)."""
    path = Path(spec)
    if not path.is_file():
        raise CliError(f"{spec}: no such file" if not path.exists() else f"{spec}: not a file")
    if path.suffix.lower() not in (".npy", ".csv", ".txt", ".tsv"):
        raise CliError(f"{spec}: unknown data format; use .npy, .csv, or - for CSV on stdin")
    return path


def read_data(spec, *, skip_header=False, columns=None, delimiter=",", float32=False):
    """Rows from a ``.npy`` file (memory-mapped), a CSV file or CSV on standard input.

    Parameters
    ----------
    spec : str
        Path of a ``.npy`` or ``.csv``/``.txt``/``.tsv`` file, or ``-`` for CSV on stdin.
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
        For a ``.npy`` file, a read-only memory map (no copy) unless columns
        are selected or a dtype conversion is needed. Give it to the
        estimators' ``fit``, or read it by :func:`row_blocks`: both remap it
        copy-on-write.
    """
    if spec == "-":
        X = _read_csv(io.StringIO(sys.stdin.read()), "<stdin>", skip_header, columns, delimiter)
    else:
        path = data_path(spec)
        if path.suffix.lower() == ".npy":
            X = _read_npy(path, columns)
        else:
            X = _read_csv(path, spec, skip_header, columns, delimiter)
    if float32 and X.dtype != np.float32:
        X = X.astype(np.float32)
    return X


#: Suffixes of the tables ``fastem fit --family tabular`` reads.
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def read_table(spec, *, delimiter=","):
    """A table for ``--family tabular``: a DataFrame from CSV, or a Parquet path as it is.

    CSV (a file, or ``-`` for standard input) is read by pandas with a header
    line and inferred column types (numbers, booleans, text; empty cells and
    ``NA`` are missing); a column holding only whole numbers (with holes or
    not) is an integer column, one holding only True/False a boolean one. A
    Parquet file or directory is returned as its path: the model reads it by
    batches (bounded memory).

    Parameters
    ----------
    spec : str
        Path, or ``-`` for CSV on standard input.
    delimiter : str, default=","
        CSV field separator (tab for ``.tsv`` files unless given).

    Returns
    -------
    pandas.DataFrame or str
    """
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the test extra
        raise CliError("--family tabular needs pandas: pip install 'fastem[tabular]'") from None
    if spec == "-":
        source, name = io.StringIO(sys.stdin.read()), "<stdin>"
    else:
        path = Path(spec)
        if not path.exists():
            raise CliError(f"{spec}: no such file")
        suffix = path.suffix.lower()
        if suffix in (".parquet", ".pq") or (
            path.is_dir() and any(p.suffix.lower() in (".parquet", ".pq") for p in path.iterdir())
        ):
            return str(path)
        if suffix not in TABLE_SUFFIXES:
            raise CliError(f"{spec}: unknown table format; use .csv, .tsv, .parquet or -")
        if suffix == ".tsv" and delimiter == ",":
            delimiter = "\t"
        source, name = path, spec
    try:
        frame = pd.read_csv(source, sep=delimiter, na_values=["NA", "na", "NaN", "nan"])
    except (ValueError, pd.errors.ParserError) as exc:
        raise CliError(f"{name}: not a readable CSV table ({exc})") from None
    if frame.shape[0] == 0:
        raise CliError(f"{name}: no data rows")
    return restore_column_kinds(frame)


def restore_column_kinds(frame):
    """CSV has no types: give whole-number and True/False columns with holes their kind back.

    pandas reads a column of whole numbers with empty cells as float, and one of
    True/False with empty cells as text; they become nullable ``Int64`` (a
    count, or two values) and ``boolean`` (a flag).

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
        A copy where a column changed, else ``frame``.
    """
    changed = {}
    for name in frame.columns:
        column = frame[name]
        observed = column.dropna()
        if observed.empty or not column.isna().any():
            continue
        if column.dtype.kind == "f" and np.all(np.floor(observed) == observed):
            changed[name] = column.astype("Int64")
        elif column.dtype == object and all(isinstance(v, bool) for v in observed):
            changed[name] = column.astype("boolean")
    return frame.assign(**changed) if changed else frame


def data_from_args(args, float32=False):
    """:func:`read_data` of the DATA positional with the data options of ``args``."""
    return read_data(
        args.data,
        skip_header=args.skip_header,
        columns=args.columns,
        delimiter=args.delimiter,
        float32=float32,
    )


def row_blocks(X, rows=EVAL_CHUNK, check_chunk=None):
    """Consecutive blocks of at most ``rows`` rows of ``X``, covering every row once.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows from :func:`read_data`.
    rows : int, default=EVAL_CHUNK
        Rows per block.
    check_chunk : callable, optional
        The validation of a block read from a memory map: the model's own
        (``model._check_chunk``), so that what its ``fit`` accepts (NaN as a
        missing value) is read. By default finite numbers only.

    Yields
    ------
    ndarray of shape (n_rows, n_features)
        A memory map is read through fastem's sources: its pages are
        requested ahead of use and the blocks are writable views.
    """
    if is_out_of_core(X):
        for block, _ in make_source(X, chunk_size=rows, check_chunk=check_chunk).chunks():
            yield block
        return
    for start in range(0, X.shape[0], rows):
        yield X[start : start + rows]


def write_array(path, array, fmt):
    """Write ``array`` as ``.npy`` or CSV by extension; CSV on standard output without a path.

    Parameters
    ----------
    path : str or None
        Destination; None or ``-`` for standard output.
    array : ndarray
        One or two dimensions.
    fmt : str
        ``numpy.savetxt`` format of a CSV cell.
    """
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


def check_output(path):
    """Fail before a long computation, not after it, if ``path`` cannot be written.

    Parameters
    ----------
    path : str or None
        Output path; None or ``-`` (standard output) always passes.
    """
    if path is None or path == "-":
        return
    parent = Path(path).parent
    if not parent.is_dir():
        raise CliError(f"{path}: directory {parent} does not exist")
