"""A table's schema inferred: column summaries, mergeable over chunks, and the kinds they give.

Integer columns under ``column_types="auto"``: values only 0 and 1, or exactly
two distinct values, are ``"bernoulli"``; other non-negative integers are
``"poisson"`` counts; integers with a negative value are ``"gaussian"``.
"""

import numpy as np

from ._table_columns import _as_float, _is_numeric, _missing_mask, _numpy_dtype_name, _pandas
from ._tables import KINDS, Column, Schema


def _numbers_or_none(column):
    """An object column as floats when every cell is a number or missing, else None."""
    pd = _pandas()
    try:
        return pd.to_numeric(pd.Series(column), errors="raise").to_numpy(
            np.float64, na_value=np.nan
        )
    except (TypeError, ValueError):
        return None


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
    "ColumnSummary",
    "array_summaries",
    "build_schema",
    "frame_summaries",
    "infer_kind",
    "merge_summaries",
    "summarise",
]
