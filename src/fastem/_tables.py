"""Tables of mixed column kinds: schema inference, encoding into one float matrix, decoding.

:class:`fastem.TabularMixture` sees a table (pandas, polars, pyarrow, a NumPy
array, or the chunks of a Parquet file or Dask DataFrame) through a
:class:`Schema`: one :class:`Column` per input column with its kind
(``"gaussian"``, ``"bernoulli"``, ``"categorical"``, ``"poisson"``) and, for the
discrete kinds, its levels. :meth:`Schema.encode` turns a chunk of the table
into the one C-contiguous float matrix the tabular kernel reads: the columns
reordered into kind blocks (gaussian, bernoulli, categorical, poisson), every
missing cell NaN, bernoulli cells 0/1, categorical cells their level's code
``0 .. L-1``, poisson cells the count. One homogeneous matrix is what every
source of fastem (in memory, chunked, Dask) already carries and slices. It is
float64 whatever the input: float32 columns are exact in it, counts and codes
need no range check, and the kernel is compiled once (one dtype) instead of
twice; the cost is 8 bytes per cell of a chunk.

Integer columns under ``column_types="auto"``: values only 0 and 1, or exactly
two distinct values, are ``"bernoulli"``; other non-negative integers are
``"poisson"`` counts; integers with a negative value are ``"gaussian"``.
"""

import json
import numbers

import numpy as np

KINDS = ("gaussian", "bernoulli", "categorical", "poisson")
#: Order of the kind blocks in the encoded matrix.
KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the test extra
        raise ImportError(
            "TabularMixture needs pandas for tables: pip install 'fastem[tabular]'"
        ) from None
    return pd


def is_table(X):
    """True for pandas, polars and pyarrow tables (not NumPy arrays)."""
    module = type(X).__module__
    return module.startswith(("pandas", "polars", "pyarrow")) and hasattr(X, "columns")


def _arrow_types(pd, pa):
    """pyarrow -> pandas dtypes that keep what inference reads: nullable ints and bools."""

    def mapper(arrow_type):
        if pa.types.is_boolean(arrow_type):
            return pd.BooleanDtype()
        if pa.types.is_integer(arrow_type):
            unsigned = pa.types.is_unsigned_integer(arrow_type)
            return pd.api.types.pandas_dtype(f"{'U' if unsigned else ''}Int{arrow_type.bit_width}")
        return None

    return mapper


def to_pandas(X):
    """A pandas DataFrame for a pandas, polars or pyarrow table (or record batch).

    Arrow integer and boolean columns become pandas' nullable ``Int*`` and
    ``boolean`` (a null is ``pd.NA``), so a count or flag with missing cells
    keeps its kind; dictionary columns become categories.
    """
    pd = _pandas()
    if isinstance(X, pd.DataFrame):
        return X
    module = type(X).__module__
    if module.startswith("polars"):
        X = X.to_arrow()
        module = "pyarrow"
    if module.startswith("pyarrow"):
        import pyarrow as pa

        return X.to_pandas(types_mapper=_arrow_types(pd, pa))
    raise TypeError(f"Expected a table, got {type(X).__name__}.")


def _python_scalar(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


class Column:
    """One column of a table: its name, kind, input dtype and levels.

    Parameters
    ----------
    name : str or int
        The column's name (its position for NumPy input).
    kind : {"gaussian", "bernoulli", "categorical", "poisson"}
    dtype : str
        The input dtype (``str(dtype)``), used by decoding.
    levels : list or None
        Bernoulli: the two labels of 0 and 1; categorical: the levels of the
        codes ``0 .. L-1``; None otherwise.
    """

    def __init__(self, name, kind, dtype, levels=None):
        self.name, self.kind, self.dtype = name, kind, dtype
        self.levels = None if levels is None else [_python_scalar(v) for v in levels]

    def to_dict(self):
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype, "levels": self.levels}

    def __repr__(self):
        return f"Column({self.name!r}, {self.kind!r})"


class Schema:
    """The columns of a table and the layout of its encoded matrix.

    Attributes
    ----------
    columns : list of Column
        In input order.
    order : ndarray of int
        ``order[p]`` is the input column at position ``p`` of the encoded matrix
        (the kind blocks, each in input order).
    n_kind : dict of str to int
        Columns per kind.
    n_levels : ndarray of int
        Levels of each categorical column, in encoded order.
    dtype : numpy.dtype
        dtype of the encoded matrix.
    table : bool
        The schema came from a table (pandas, polars, pyarrow, Parquet,
        Dask DataFrame): :meth:`decode` gives a DataFrame.
    """

    def __init__(self, columns, dtype, table):
        self.columns = list(columns)
        self.dtype = np.dtype(dtype)
        self.table = bool(table)
        ranks = [KIND_RANK[c.kind] for c in self.columns]
        self.order = np.argsort(np.asarray(ranks, dtype=np.int64), kind="stable")
        self.n_kind = {kind: sum(c.kind == kind for c in self.columns) for kind in KINDS}
        self.n_levels = np.array(
            [
                len(self.columns[j].levels)
                for j in self.order
                if self.columns[j].kind == "categorical"
            ],
            dtype=np.int64,
        )

    @property
    def names(self):
        return [c.name for c in self.columns]

    @property
    def kinds(self):
        return [c.kind for c in self.columns]

    def to_json(self):
        return json.dumps(
            {
                "columns": [c.to_dict() for c in self.columns],
                "dtype": self.dtype.name,
                "table": self.table,
            }
        )

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        columns = [Column(c["name"], c["kind"], c["dtype"], c["levels"]) for c in data["columns"]]
        return cls(columns, data["dtype"], data["table"])

    # -- encoding --------------------------------------------------------------------------
    def encode(self, X, handle_unknown="error"):
        """A chunk of the table as the encoded float matrix (n, D), C-contiguous.

        Raises ``ValueError`` naming the column for values its kind cannot take
        (an unknown level with ``handle_unknown="error"``, a negative or
        non-integer count, infinity).
        """
        getter = _column_getter(X, self)
        n = getter.n_rows
        encoded = [
            _encode_column(getter(j), self.columns[j], handle_unknown, self.dtype)
            for j in self.order
        ]
        out = np.empty((n, len(self.columns)), dtype=self.dtype)
        # Interleaved a few thousand rows at a time, so that the strided writes of
        # the columns land in cache lines still cached from the previous column.
        step = 4096
        for start in range(0, n, step):
            stop = min(n, start + step)
            for p, values in enumerate(encoded):
                out[start:stop, p] = values[start:stop]
        return out

    # -- decoding --------------------------------------------------------------------------
    def decode(self, E):
        """Encoded rows back as a DataFrame (table input) or an array of the levels' values.

        For NumPy input the array is float64, or object where a level is not a
        number (strings).
        """
        E = np.asarray(E)
        if not self.table:
            numeric = all(
                isinstance(v, (int, float, bool)) for c in self.columns for v in (c.levels or [])
            )
            out = np.empty(E.shape, dtype=np.float64 if numeric else object)
            for p, j in enumerate(self.order):
                column = self.columns[j]
                values = E[:, p].astype(np.float64)
                if column.levels is not None:
                    levels = np.asarray(column.levels, dtype=np.float64 if numeric else object)
                    values = levels[values.astype(np.int64)]
                out[:, j] = values
            return out
        pd = _pandas()
        data = {}
        position = np.empty(len(self.columns), dtype=np.int64)
        position[self.order] = np.arange(len(self.columns))
        for j, column in enumerate(self.columns):
            values = E[:, position[j]]
            data[column.name] = _decode_column(values, column, pd)
        return pd.DataFrame(data, columns=self.names)


def _decode_column(values, column, pd):
    if column.kind == "gaussian":
        dtype = column.dtype if column.dtype in ("float32", "float64") else "float64"
        return values.astype(dtype)
    if column.kind == "poisson":
        dtype = column.dtype if np.dtype(_numpy_dtype_name(column.dtype)).kind in "iu" else "int64"
        return values.astype(np.int64).astype(_numpy_dtype_name(dtype))
    codes = values.astype(np.int64)
    levels = column.levels
    if (
        column.dtype == "category"
        or column.kind == "categorical"
        and column.dtype
        in (
            "object",
            "str",
            "string",
        )
    ):
        categorical = pd.Categorical.from_codes(codes, categories=levels)
        return (
            categorical if column.dtype == "category" else np.asarray(levels, dtype=object)[codes]
        )
    if column.dtype in ("bool", "boolean"):
        return np.asarray(levels, dtype=bool)[codes]
    try:
        return np.asarray(levels, dtype=_numpy_dtype_name(column.dtype))[codes]
    except (TypeError, ValueError):
        return np.asarray(levels, dtype=object)[codes]


def _numpy_dtype_name(name):
    """NumPy's name for a (possibly pandas nullable) dtype name: ``Int64`` -> ``int64``."""
    lowered = name.lower()
    try:
        return np.dtype(lowered).name
    except TypeError:
        return "object"


# -- reading columns out of the inputs --------------------------------------------------------
class _PandasColumns:
    def __init__(self, frame, schema):
        self.frame = frame
        self.n_rows = frame.shape[0]
        self.schema = schema

    def __call__(self, j):
        return self.frame[self.schema.columns[j].name]


class _ArrayColumns:
    def __init__(self, X):
        self.X = X
        self.n_rows = X.shape[0]

    def __call__(self, j):
        return self.X[:, j]


def _column_getter(X, schema):
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.shape[1] != len(schema.columns):
            raise ValueError(
                f"X has {X.shape[1] if X.ndim == 2 else 'no'} columns, but the model was "
                f"fitted with {len(schema.columns)}."
            )
        return _ArrayColumns(X)
    frame = to_pandas(X)
    missing = [c.name for c in schema.columns if c.name not in frame.columns]
    if missing:
        raise ValueError(
            f"The table lacks column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} that the model was fitted with "
            f"(it has {list(frame.columns)})."
        )
    return _PandasColumns(frame, schema)


def _missing_mask(values):
    """Missing cells (NaN, None, pd.NA) of a pandas Series or a 1-D array."""
    if hasattr(values, "isna"):
        return np.asarray(values.isna(), dtype=bool)
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind == "O":
        pd = _pandas()
        return np.asarray(pd.isna(values), dtype=bool)
    return np.zeros(values.shape[0], dtype=bool)


def _is_numeric(values):
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        return False
    if str(dtype) == "category":
        return False
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        # pandas nullable dtypes (Int64, Float64, boolean)
        kind = getattr(dtype, "kind", "O")
    return kind in "biuf"


def _as_float(values, dtype=np.float64):
    """Numeric cells as floats, NaN where missing (None in an object array too)."""
    if hasattr(values, "to_numpy"):
        return values.to_numpy(dtype=dtype, na_value=np.nan)
    values = np.asarray(values)
    if values.dtype.kind == "O":
        pd = _pandas()
        return pd.to_numeric(pd.Series(values), errors="raise").to_numpy(dtype, na_value=np.nan)
    return np.asarray(values, dtype=dtype)


def _numbers_or_none(column):
    """An object column as floats when every cell is a number or missing, else None."""
    pd = _pandas()
    try:
        return pd.to_numeric(pd.Series(column), errors="raise").to_numpy(
            np.float64, na_value=np.nan
        )
    except (TypeError, ValueError):
        return None


def _encode_column(values, column, handle_unknown, dtype):
    name = column.name
    if column.kind in ("gaussian", "poisson"):
        if not _is_numeric(values) and not (
            isinstance(values, np.ndarray) and values.dtype.kind == "O"
        ):
            raise ValueError(
                f"Column {name!r} is {column.kind} but holds non-numeric values "
                f"(dtype {getattr(values, 'dtype', '?')})."
            )
        try:
            x = _as_float(values, np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"Column {name!r} is {column.kind} but holds non-numeric values."
            ) from None
        if np.any(np.isinf(x)):
            raise ValueError(f"Column {name!r} holds infinity (NaN is a missing value).")
        if column.kind == "poisson":
            _check_counts(x, name, dtype)
        return x
    # bernoulli and categorical: codes of the levels
    missing = _missing_mask(values)
    levels = column.levels
    if _is_numeric(values) and all(isinstance(v, (int, float, bool)) for v in levels):
        x = _as_float(values, np.float64)
        lv = np.asarray(levels, dtype=np.float64)
        order = np.argsort(lv, kind="stable")
        sorted_lv = lv[order]
        pos = np.searchsorted(sorted_lv, np.where(missing, sorted_lv[0], x))
        pos = np.minimum(pos, lv.size - 1)
        found = (sorted_lv[pos] == np.where(missing, sorted_lv[0], x)) & ~missing
        codes = np.where(found, order[pos], -1).astype(np.float64)
    elif str(getattr(values, "dtype", "")) == "category":
        # The few categories are looked up among the levels, the rows only through
        # their integer codes (no per-row object conversion or hashing).
        pd = _pandas()
        categories = values.cat.categories.to_numpy(dtype=object)
        position = pd.Index(levels, dtype=object).get_indexer(categories)
        raw = np.asarray(values.cat.codes.to_numpy(), dtype=np.int64)
        codes = np.where(raw >= 0, position[raw], -1).astype(np.float64)
        found = (codes >= 0) & ~missing
    else:
        pd = _pandas()
        series = values if hasattr(values, "isna") else pd.Series(np.asarray(values, dtype=object))
        codes = pd.Index(levels, dtype=object).get_indexer(series.to_numpy(dtype=object))
        codes = codes.astype(np.float64)
        found = (codes >= 0) & ~missing
    unknown = ~found & ~missing
    if unknown.any():
        if handle_unknown == "error":
            first = (
                values.iloc[int(np.flatnonzero(unknown)[0])]
                if hasattr(values, "iloc")
                else (np.asarray(values)[int(np.flatnonzero(unknown)[0])])
            )
            raise ValueError(
                f"Column {name!r} ({column.kind}) holds {int(unknown.sum())} value"
                f"{'s' if unknown.sum() > 1 else ''} not among the levels seen in fit, "
                f"e.g. {first!r} (levels: {levels[:10]}{' ...' if len(levels) > 10 else ''}). "
                "Pass handle_unknown='missing' to treat unseen levels as missing cells."
            )
    codes[~found] = np.nan
    return codes


def _check_counts(x, name, dtype):
    observed = x[~np.isnan(x)]
    if observed.size == 0:
        return
    if observed.min() < 0:
        raise ValueError(
            f"Column {name!r} is poisson but holds a negative value ({observed.min():g}); "
            "counts are non-negative integers."
        )
    if np.any(observed != np.floor(observed)):
        bad = observed[observed != np.floor(observed)][0]
        raise ValueError(
            f"Column {name!r} is poisson but holds a non-integer value ({bad:g}); counts "
            "are non-negative integers."
        )


# -- schema inference ---------------------------------------------------------------------------
class ColumnSummary:
    """What inference needs of one column, mergeable over chunks with :meth:`merge`."""

    def __init__(self, name, dtype, numeric, integer, negative, levels, float32):
        self.name, self.dtype, self.numeric = name, dtype, numeric
        self.integer, self.negative, self.levels, self.float32 = integer, negative, levels, float32

    def merge(self, other):
        if other.dtype != self.dtype:
            raise ValueError(
                f"Column {self.name!r} changes dtype between chunks: {self.dtype} and "
                f"{other.dtype}."
            )
        levels = None
        if self.levels is not None and other.levels is not None:
            levels = self.levels | other.levels
        return ColumnSummary(
            self.name,
            self.dtype,
            self.numeric,
            self.integer and other.integer,
            self.negative or other.negative,
            levels,
            self.float32,
        )


#: Distinct values an integer column's summary keeps (two decide bernoulli).
_INT_LEVELS_KEPT = 3


def summarise(values, name, kind_hint=None):
    """A :class:`ColumnSummary` of one column chunk (pandas Series or 1-D array)."""
    dtype = str(getattr(values, "dtype", np.asarray(values).dtype))
    missing = _missing_mask(values)
    if dtype == "category":
        levels = set(values.cat.categories.tolist())
        return ColumnSummary(name, dtype, False, False, False, levels, False)
    if _is_numeric(values):
        x = _as_float(values, np.float64)[~missing]
        is_bool = dtype in ("bool", "boolean")
        integer = is_bool or np.dtype(_numpy_dtype_name(dtype)).kind in "iu"
        keep = kind_hint in ("bernoulli", "categorical") or integer
        levels = None
        if keep:
            unique = np.unique(x)
            if kind_hint not in ("bernoulli", "categorical"):
                unique = unique[: _INT_LEVELS_KEPT + 1]
            levels = {bool(v) for v in unique} if is_bool else set(_num(v) for v in unique)
        return ColumnSummary(
            name,
            dtype,
            True,
            integer,
            bool(x.size and x.min() < 0),
            levels,
            dtype == "float32",
        )
    pd = _pandas()
    series = values if hasattr(values, "isna") else pd.Series(np.asarray(values, dtype=object))
    levels = set(series[~missing].unique().tolist())
    return ColumnSummary(name, dtype, False, False, False, levels, False)


def _num(value):
    value = float(value)
    return int(value) if value.is_integer() else value


def _sorted_levels(levels, name):
    try:
        return sorted(levels)
    except TypeError:
        raise ValueError(
            f"Column {name!r} mixes values of different types "
            f"({sorted({type(v).__name__ for v in levels})}); give it one type."
        ) from None


def infer_kind(summary):
    """The kind ``column_types="auto"`` gives a column (see the module docstring)."""
    dtype = summary.dtype
    if dtype in ("bool", "boolean"):
        return "bernoulli"
    if not summary.numeric:
        return "categorical"
    if not summary.integer:
        return "gaussian"
    levels = summary.levels or set()
    if levels <= {0, 1} or len(levels) == 2:
        return "bernoulli"
    if summary.negative:
        return "gaussian"
    return "poisson"


def build_schema(summaries, column_types, table, order_levels=None):
    """The :class:`Schema` of columns summarised by ``summaries`` under ``column_types``.

    Parameters
    ----------
    summaries : list of ColumnSummary
        One per column, in input order.
    column_types : "auto", dict or list
        ``"auto"``, a dict ``{column: kind}`` overriding some columns, or a list
        of kinds (one per column).
    table : bool
        The input is a table (decoding gives a DataFrame).
    order_levels : dict, optional
        Declared level orders (pandas categories) by column name.
    """
    names = [s.name for s in summaries]
    if isinstance(column_types, str):
        if column_types != "auto":
            raise ValueError(
                f"column_types must be 'auto', a dict or a list of kinds, got {column_types!r}."
            )
        given = {}
    elif isinstance(column_types, dict):
        unknown = [c for c in column_types if c not in names]
        if unknown:
            raise ValueError(
                f"column_types names column{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(c) for c in unknown)} that the data does not have "
                f"(it has {names[:20]}{' ...' if len(names) > 20 else ''})."
            )
        given = dict(column_types)
    else:
        kinds = list(column_types)
        if len(kinds) != len(names):
            raise ValueError(
                f"column_types lists {len(kinds)} kinds but the data has {len(names)} columns."
            )
        given = dict(zip(names, kinds, strict=True))
    columns = []
    for summary in summaries:
        name = summary.name
        kind = given.get(name)
        if kind is None:
            kind = infer_kind(summary)
        elif kind not in KINDS:
            raise ValueError(
                f"Column {name!r} has the unknown kind {kind!r}; the kinds are {list(KINDS)}."
            )
        levels = None
        if kind in ("bernoulli", "categorical"):
            declared = (order_levels or {}).get(name)
            if declared is not None:
                levels = list(declared)
            elif summary.levels is None:
                raise ValueError(
                    f"Column {name!r} is {kind} but its levels were not collected."
                )  # pragma: no cover - summarise keeps them for these kinds
            else:
                levels = _sorted_levels(summary.levels, name)
            if kind == "bernoulli":
                if summary.dtype in ("bool", "boolean") or set(levels) <= {0, 1}:
                    levels = [False, True] if summary.dtype in ("bool", "boolean") else [0, 1]
                elif len(levels) != 2:
                    raise ValueError(
                        f"Column {name!r} is bernoulli but holds {len(levels)} distinct values "
                        f"({levels[:5]}{' ...' if len(levels) > 5 else ''}); bernoulli takes "
                        "two (declare it categorical)."
                    )
            elif len(levels) < 2:
                raise ValueError(
                    f"Column {name!r} is categorical with {len(levels)} level"
                    f"{'' if len(levels) == 1 else 's'} ({levels}); a categorical column "
                    "needs at least two (drop a constant column)."
                )
        elif kind in ("gaussian", "poisson") and not summary.numeric:
            raise ValueError(
                f"Column {name!r} is {kind} but holds non-numeric values (dtype {summary.dtype})."
            )
        elif kind == "poisson" and summary.negative:
            raise ValueError(
                f"Column {name!r} is poisson but holds negative values; counts are "
                "non-negative integers."
            )
        columns.append(Column(name, kind, summary.dtype, levels))
    return Schema(columns, np.float64, table)


def frame_summaries(frame, column_types="auto"):
    """Summaries and declared category orders of a pandas DataFrame chunk."""
    hints = column_types if isinstance(column_types, dict) else {}
    if isinstance(column_types, (list, tuple)) and len(column_types) == frame.shape[1]:
        hints = dict(zip(frame.columns, column_types, strict=True))
    summaries, declared = [], {}
    for name in frame.columns:
        series = frame[name]
        summaries.append(summarise(series, name, hints.get(name)))
        if str(series.dtype) == "category":
            declared[name] = series.cat.categories.tolist()
    return summaries, declared


def array_summaries(X, column_types="auto"):
    """Summaries of the columns of a 2-D NumPy array (named 0 .. D-1)."""
    hints = column_types if isinstance(column_types, dict) else {}
    if isinstance(column_types, (list, tuple)) and len(column_types) == X.shape[1]:
        hints = dict(enumerate(column_types))
    summaries = []
    for j in range(X.shape[1]):
        column = X[:, j]
        if column.dtype.kind == "O" and hints.get(j) not in ("bernoulli", "categorical"):
            numbers = _numbers_or_none(column)
            column = column if numbers is None else numbers
        summaries.append(summarise(column, j, hints.get(j)))
    return summaries


def merge_summaries(first, other):
    if [s.name for s in first] != [s.name for s in other]:
        raise ValueError(
            f"The chunks' columns differ: {[s.name for s in first]} and {[s.name for s in other]}."
        )
    return [a.merge(b) for a, b in zip(first, other, strict=True)]


__all__ = [
    "KINDS",
    "Column",
    "Schema",
    "array_summaries",
    "build_schema",
    "frame_summaries",
    "infer_kind",
    "is_table",
    "merge_summaries",
    "summarise",
    "to_pandas",
]
