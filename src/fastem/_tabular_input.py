"""TabularMixture's input: the fitted schema, tables encoded, Parquet and Dask DataFrames read.

A mixin of :class:`fastem.TabularMixture` (like ``_online``, ``_verbose`` of
``Mixture``): the schema of the fitted columns (inferred at ``fit``, kept as
JSON in ``column_schema_``), tables and arrays validated and encoded into the
kernel's matrix (``_tables``), and the sources of Parquet files and Dask
DataFrames, whose chunks are encoded as they are read.
"""

import json
import os

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ._file_sources import parquet_tables
from ._iterable_source import IterableSource
from ._make_source import adapter_for, is_out_of_core, make_source
from ._table_columns import is_table, to_pandas
from ._table_inference import array_summaries, build_schema, frame_summaries, merge_summaries
from ._tables import Schema


class _Encoder:
    """Picklable chunk encoder (tables -> encoded rows), shipped to Dask workers."""

    def __init__(self, schema_json, handle_unknown):
        self.schema_json = schema_json
        self.handle_unknown = handle_unknown
        self._schema = None

    @property
    def schema(self):
        if self._schema is None:
            self._schema = Schema.from_json(self.schema_json)
        return self._schema

    def __getstate__(self):
        return {"schema_json": self.schema_json, "handle_unknown": self.handle_unknown}

    def __setstate__(self, state):
        self.__init__(state["schema_json"], state["handle_unknown"])

    def __call__(self, table):
        return self.schema.encode(table, self.handle_unknown)


def _is_parquet(X):
    if not isinstance(X, (str, os.PathLike)):
        return False
    path = os.fspath(X)
    if path.lower().endswith((".parquet", ".pq")):
        return True
    return os.path.isdir(path) and any(
        name.lower().endswith((".parquet", ".pq")) for name in os.listdir(path)
    )


def _is_dask_dataframe(X):
    return type(X).__module__.startswith("dask") and hasattr(X, "map_partitions")


class TabularInputMixin:
    """The schema and the input of :class:`fastem.TabularMixture` (a mixin of it)."""

    # -- the schema -------------------------------------------------------------------------
    def _column_types(self):
        types = self.column_types
        if isinstance(types, str) and types.lstrip().startswith(("{", "[")):
            types = json.loads(types)
        return types

    @property
    def _schema(self):
        check_is_fitted(self, "column_schema_")
        cached = getattr(self, "_schema_cache", None)
        text = str(self.column_schema_[0])
        if cached is None or cached[0] != text:
            cached = (text, Schema.from_json(text))
            self._schema_cache = cached
        return cached[1]

    def _set_schema(self, schema):
        self.column_schema_ = np.asarray([schema.to_json()], dtype=object)
        self._schema_cache = (str(self.column_schema_[0]), schema)

    def _infer(self, summaries, declared, table):
        types = self._column_types()
        if isinstance(types, dict) and not table:
            types = {
                int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in types.items()
            }
        return build_schema(summaries, types, table, declared)

    # -- input ----------------------------------------------------------------------------
    def _validate_X(self, X, reset):
        if is_table(X):
            frame = to_pandas(X)
            if reset and frame.shape[0] < 2:
                raise ValueError(
                    f"Found array with {frame.shape[0]} sample(s) (shape={frame.shape}) while "
                    "a minimum of 2 is required."
                )
            validate_data(self, frame, reset=reset, skip_check_array=True)
            if reset:
                summaries, declared = frame_summaries(frame, self._column_types())
                schema = self._infer(summaries, declared, True)
                self._set_schema(schema)
            schema = self._schema
            if not schema.table:
                frame = frame.to_numpy()
            encoded = schema.encode(frame, "error" if reset else self.handle_unknown)
        else:
            numeric = self._column_types() == "auto"
            X = validate_data(
                self,
                X,
                dtype=None,
                ensure_min_samples=2 if reset else 1,
                ensure_all_finite=False,
                reset=reset,
            )
            if X.dtype.kind == "O" and (numeric or not reset and self._numeric_only()):
                X = X.astype(np.float64)
            if X.dtype.kind == "f" and np.any(np.isinf(X)):
                raise ValueError(
                    "Input X contains infinity (NaN is allowed and means a missing value)."
                )
            if X.dtype.kind not in "biufO":
                raise ValueError(f"Rows must be numbers (or objects), got dtype {X.dtype}.")
            if reset:
                schema = self._infer(array_summaries(X, self._column_types()), {}, False)
                self._set_schema(schema)
            encoded = self._schema.encode(X, "error" if reset else self.handle_unknown)
        if reset:
            self._check_observed(encoded)
        return np.ascontiguousarray(encoded)

    def _numeric_only(self):
        return all(kind == "gaussian" for kind in self._schema.kinds)

    def _check_observed(self, encoded):
        schema = self._schema
        empty = np.flatnonzero(np.isnan(encoded).all(axis=0))
        if empty.size:
            names = [repr(schema.columns[schema.order[p]].name) for p in empty]
            raise ValueError(
                f"Column{'s' if len(names) > 1 else ''} {', '.join(names[:10])} "
                f"{'have' if len(names) > 1 else 'has'} no observed value (every cell "
                "missing): a mixture cannot estimate a column it never sees. Drop it."
            )

    def _fit_source(self, X, sample_weight):
        parquet, dask_frame = _is_parquet(X), _is_dask_dataframe(X)
        if isinstance(X, np.memmap):
            X = np.asarray(X)  # encoded into memory anyway
        if not (parquet or dask_frame):
            if is_out_of_core(X) or adapter_for(X) is not None:
                raise TypeError(
                    "TabularMixture reads tables (pandas, polars, pyarrow), NumPy arrays, "
                    "Parquet files or directories and Dask DataFrames; got "
                    f"{type(X).__name__}. Read the data into a table first, or write it to "
                    "Parquet."
                )
            return super()._fit_source(X, sample_weight)
        types = self._column_types()
        if parquet:
            if sample_weight is not None:
                raise ValueError(
                    "sample_weight is not supported for a Parquet path; weight rows by a "
                    "column before writing, or load the table."
                )
            rows = self.chunk_size or 65536
            tables = parquet_tables(X, rows)
            summaries, declared = None, {}
            for batch in tables():
                part, decl = frame_summaries(to_pandas(batch), types)
                declared.update(decl)
                summaries = part if summaries is None else merge_summaries(summaries, part)
            if summaries is None:
                raise ValueError(f"{os.fspath(X)} holds no rows.")
            self._fit_names = [s.name for s in summaries]
            schema = self._infer(summaries, declared, True)
            self._set_schema(schema)
            encoder = _Encoder(schema.to_json(), "error")

            def chunks():
                return (encoder(frame) for frame in tables())

            source = IterableSource(
                chunks, chunk_size=self.chunk_size, check_chunk=self._check_chunk
            )
        else:
            from .dask import dask_frame_rows, dask_frame_summaries

            summaries, declared = dask_frame_summaries(X, types)
            self._fit_names = [s.name for s in summaries]
            schema = self._infer(summaries, declared, True)
            self._set_schema(schema)
            encoder = _Encoder(schema.to_json(), "error")
            rows = dask_frame_rows(X, encoder, len(schema.columns), schema.dtype)
            source = make_source(rows, sample_weight, check_chunk=self._check_chunk)
        source.allow_nan = True
        return source

    def _check_source_size(self, source):
        super()._check_source_size(source)
        names = getattr(self, "_fit_names", None)
        if not source.in_memory and names is not None:
            if all(isinstance(n, str) for n in names):
                self.feature_names_in_ = np.asarray(names, dtype=object)
            self.n_features_in_ = len(names)
