"""A table's columns read and coded: table inputs, their cells, a column <-> its codes.

Tables (pandas, polars, pyarrow) are read as pandas DataFrames; a column's
cells are told missing or numeric and turned into floats; a column chunk
becomes its block of the encoded matrix (``_tables.Schema.encode``: the
value, 0/1, the level's code, the count; NaN where missing), and a block of
encoded rows becomes the column again (``Schema.decode``).
"""

import numpy as np


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


__all__ = ["is_table", "to_pandas"]
