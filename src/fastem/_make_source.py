"""Which source an input becomes: :func:`make_source`, and where other inputs plug in.

:func:`is_out_of_core` tells the inputs read chunk by chunk (paths, memory
maps, HDF5/zarr datasets, iterables) from in-memory tables;
:func:`make_source` builds the source of one. Inputs that live elsewhere
(Dask arrays, ``fastem.dask``) plug in through :func:`register_adapter`, and
the core asks :func:`adapter_for` (see ``docs/architecture.md``).
"""

import os

import numpy as np

from ._file_sources import SliceableSource, _is_sliceable_dataset, _open_path
from ._iterable_source import IterableSource
from ._sources import ArraySource

# -- adapters: sources that live elsewhere (Dask arrays) --------------------------------
_ADAPTERS = []


def register_adapter(adapter):
    """Make :func:`adapter_for` offer ``adapter`` for the inputs it accepts.

    An adapter (see ``fastem.dask``) provides ``accepts(X) -> bool``,
    ``source(X, sample_weight, check_chunk) -> source`` for fits, and
    ``map_rows(X, func, n_columns, dtype)`` for lazy per-row results
    (``n_columns`` None for one value per row). Adapters depend on this module,
    never the reverse.
    """
    if adapter not in _ADAPTERS:
        _ADAPTERS.append(adapter)


def adapter_for(X):
    """The registered adapter that accepts ``X``, or None."""
    for adapter in _ADAPTERS:
        if adapter.accepts(X):
            return adapter
    return None


def is_out_of_core(X):
    """True for inputs that are not in-memory tables (paths, datasets, iterables).

    NumPy arrays, array-likes (``__array__``, e.g. pandas and polars
    DataFrames, pyarrow tables) and scipy sparse matrices are in memory:
    ``validate_data`` reads them whole, as scikit-learn does.
    """
    if isinstance(X, np.memmap):
        return True
    if isinstance(X, (str, os.PathLike)):
        return True
    if isinstance(X, np.ndarray):
        return False
    if _is_sliceable_dataset(X):
        return True
    if type(X).__module__.startswith("scipy.sparse"):
        return False
    if any(hasattr(X, name) for name in ("__array__", "__array_interface__", "__dataframe__")):
        return False
    if isinstance(X, (list, tuple)):
        # A list of 2-D chunks (or of (rows, weights) pairs) is a source; a list of
        # rows is an ordinary array-like.
        first = X[0] if len(X) else None
        if isinstance(first, tuple) and len(first) == 2:
            first = first[0]
        return getattr(first, "ndim", 0) == 2
    return callable(X) or hasattr(X, "__iter__")


def make_source(X, sample_weight=None, chunk_size=None, check_chunk=None):
    """The source for a non-in-memory ``X`` (see :func:`is_out_of_core`) or an adapter's input.

    Parameters
    ----------
    X : path, np.memmap, h5py.Dataset, zarr array, iterable or callable
        Rows, as described in :meth:`fastem.GaussianMixture.fit`.
    sample_weight : array-like or None
        One weight per row (array, memmap or dataset); for iterables, give
        weights with the chunks instead.
    chunk_size : int or None
        Rows per chunk; None picks about 64 MiB of rows.
    check_chunk : callable or None
        Validation/conversion of each raw chunk.

    Returns
    -------
    Source
    """
    adapter = adapter_for(X)
    if adapter is not None:
        return adapter.source(X, sample_weight, check_chunk=check_chunk)
    if isinstance(X, (str, os.PathLike)):
        X = _open_path(X)
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D array of rows, got shape {X.shape}.")
        return ArraySource(
            X, sample_weight, chunk_size=chunk_size, in_memory=False, check_chunk=check_chunk
        )
    if _is_sliceable_dataset(X):
        return SliceableSource(X, sample_weight, chunk_size=chunk_size, check_chunk=check_chunk)
    if sample_weight is not None:
        raise ValueError(
            "For an iterable source give sample weights with the chunks, as (rows, weights) pairs."
        )
    return IterableSource(X, chunk_size=chunk_size, check_chunk=check_chunk)
