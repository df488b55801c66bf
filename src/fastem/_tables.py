"""Tables of mixed column kinds: the schema, and the encoded matrix it describes.

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

How a column's cells are read and coded is in ``_table_columns``; how a schema
is inferred from a table in ``_table_inference``.
"""

import json
import numbers

import numpy as np

from ._table_columns import _column_getter, _decode_column, _encode_column, _pandas

KINDS = ("gaussian", "bernoulli", "categorical", "poisson")
#: Order of the kind blocks in the encoded matrix.
KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}


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


__all__ = ["KINDS", "Column", "Schema"]
