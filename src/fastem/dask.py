"""Fit and apply fastem mixtures on Dask arrays with the same fused kernels.

Each EM pass maps the family's ``estep_stats`` over the row blocks where they
live (on the workers of the current ``dask.distributed`` client, or on Dask's
default scheduler when there is none); only the parameters travel to the
blocks and only the small sufficient statistics travel back, summed in a
fixed binary tree. The M-step runs on the client. ``import fastem`` registers
this adapter with the sources (``fastem._make_source.register_adapter``) but does
not import Dask, an optional extra (``pip install 'fastem[dask]'``), until a
Dask array is fitted.

Each block is processed single-threaded (the Dask convention: parallelism
comes from the scheduler's workers and threads), so kernel threads never
oversubscribe a worker's cores.
"""

import operator
import warnings

import numpy as np

from ._make_source import register_adapter
from ._settings import settings
from ._threads import kernel_threads


def is_dask_array(X):
    """True for a ``dask.array.Array`` (checked without importing Dask)."""
    return type(X).__module__.startswith("dask.") and hasattr(X, "to_delayed")


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - dask is installed where a dask array exists
        raise ImportError("Dask support needs dask: pip install 'fastem[dask]'") from None
    return dask, da


def _block_rows(X_block, check_chunk):
    rows = np.asarray(X_block)
    if check_chunk is not None:
        return check_chunk(rows)
    return np.ascontiguousarray(rows)


def _apply(func, X_block, w_block, check_chunk):
    """Run ``func`` on one block, on a worker, with single-threaded kernels."""
    X_block = _block_rows(X_block, check_chunk)
    w = np.empty(0) if w_block is None else np.ascontiguousarray(w_block, dtype=np.float64)
    with kernel_threads(1):
        return func(X_block, w)


def _apply_seeded(func, X_block, w_block, seed, check_chunk):
    X_block = _block_rows(X_block, check_chunk)
    w = np.empty(0) if w_block is None else np.ascontiguousarray(w_block, dtype=np.float64)
    with kernel_threads(1):
        return func(X_block, w, np.random.RandomState(seed))


def _tree_sum(dask, parts):
    """Pairwise sums of delayed values in a fixed tree (reproducible order)."""
    while len(parts) > 1:
        parts = [
            dask.delayed(operator.add)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


class DaskSource:
    """A 2-D Dask array (and optional weights) as a source of row blocks.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Rows, chunked along rows; column blocks are merged into one.
    sample_weight : dask array, array-like or None
        One weight per row; rechunked like ``X``'s rows.
    check_chunk : callable or None
        Validation/conversion of each block (run on the workers).
    """

    sequential = False
    in_memory = False
    zero_copy = True

    def __init__(self, X, sample_weight=None, check_chunk=None):
        dask, da = _import_dask()
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D dask array of rows, got shape {X.shape}.")
        if len(X.chunks[1]) > 1:
            block_bytes = max(X.chunks[0]) * X.shape[1] * X.dtype.itemsize
            if block_bytes > settings.dask_rechunk_warn_bytes:
                warnings.warn(
                    f"Merging {len(X.chunks[1])} column blocks into one: row blocks of "
                    f"{block_bytes / 2**20:.0f} MiB will be built. Chunk the array along "
                    "rows only (X.rechunk({1: -1})) to control this.",
                    stacklevel=3,
                )
            X = X.rechunk({1: -1})
        if X.dtype not in (np.float32, np.float64) and check_chunk is None:
            X = X.astype(np.float64)
        self.X = X
        self.check_chunk = check_chunk
        self.n_samples, self.n_features = (int(n) for n in X.shape)
        self.dtype = np.dtype(X.dtype) if X.dtype in (np.float32, np.float64) else np.float64
        self.w = None
        if sample_weight is not None:
            w = (
                sample_weight
                if is_dask_array(sample_weight)
                else da.from_array(
                    np.asarray(sample_weight, dtype=np.float64), chunks=(X.chunks[0],)
                )
            )
            if w.ndim != 1 or w.shape[0] != self.n_samples:
                raise ValueError(
                    f"sample_weight must be 1-D with one weight per row: expected "
                    f"{self.n_samples}, got shape {w.shape}."
                )
            self.w = w.astype(np.float64).rechunk((X.chunks[0],))
        self._weight_sum = None
        self._dask = dask

    def _blocks(self):
        x_blocks = list(self.X.to_delayed().ravel())
        if self.w is None:
            return x_blocks, [None] * len(x_blocks)
        return x_blocks, list(self.w.to_delayed().ravel())

    def map_reduce(self, func, progress=None):
        """``func(X_block, w_block)`` on every block where it lives, summed in a tree."""
        dask = self._dask
        x_blocks, w_blocks = self._blocks()
        parts = [
            dask.delayed(_apply)(func, xb, wb, self.check_chunk)
            for xb, wb in zip(x_blocks, w_blocks, strict=True)
        ]
        (total,) = dask.compute(_tree_sum(dask, parts))
        if progress is not None:
            progress.rows(self.n_samples)
        return total

    def map_reduce_seeded(self, func, random_state):
        """Like :meth:`map_reduce` with ``func(X, w, rng)``, one seed per block."""
        dask = self._dask
        x_blocks, w_blocks = self._blocks()
        seeds = random_state.randint(np.iinfo(np.int32).max, size=len(x_blocks))
        parts = [
            dask.delayed(_apply_seeded)(func, xb, wb, int(seed), self.check_chunk)
            for xb, wb, seed in zip(x_blocks, w_blocks, seeds, strict=True)
        ]
        (total,) = dask.compute(_tree_sum(dask, parts))
        return total

    def take(self, indices):
        """Rows and weights at ``indices`` (in their order), gathered to the client."""
        requested = np.asarray(indices, dtype=np.int64)
        order = np.argsort(requested, kind="stable")
        unique, inverse = np.unique(requested[order], return_inverse=True)
        rows = _block_rows(self.X[unique].compute(), self.check_chunk)[inverse]
        weights = (
            np.ones(unique.size) if self.w is None else np.asarray(self.w[unique].compute())
        )[inverse]
        unsort = np.empty_like(order)
        unsort[order] = np.arange(order.size)
        return np.ascontiguousarray(rows[unsort]), weights[unsort]

    def all_weights(self):
        """Every row's weight on the client (empty when unweighted)."""
        return np.empty(0) if self.w is None else np.asarray(self.w.compute(), dtype=np.float64)

    @property
    def weight_sum(self):
        """Sum of the weights (the number of rows when unweighted)."""
        if self._weight_sum is None:
            self._weight_sum = (
                float(self.n_samples) if self.w is None else float(self.w.sum().compute())
            )
        return self._weight_sum

    def chunks(self):
        """Not available: a Dask source is never pulled to the client row by row."""
        raise TypeError(
            "This operation needs the rows in order on the client, which a Dask array "
            "source does not provide (online mode is not supported on Dask arrays)."
        )


def _rows_only(X):
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def _map_block(X_block, func):
    with kernel_threads(1):
        return func(X_block)


class DaskAdapter:
    """Dask arrays as fastem inputs: a source for fits, lazy results for predictions."""

    @staticmethod
    def accepts(X):
        """True for a ``dask.array.Array``."""
        return is_dask_array(X)

    @staticmethod
    def source(X, sample_weight=None, check_chunk=None):
        """A :class:`DaskSource` over ``X``."""
        return DaskSource(X, sample_weight, check_chunk=check_chunk)

    @staticmethod
    def map_rows(X, func, n_columns, dtype):
        """``func`` on every row block, lazily: 1-D (``n_columns`` None) or 2-D result.

        ``func`` runs on the workers with single-threaded kernels (one block per
        Dask thread); it must be picklable, e.g. a bound method of an estimator
        whose ``n_jobs`` is 1.
        """
        X = _rows_only(X)
        if n_columns is None:
            return X.map_blocks(_map_block, func, drop_axis=1, dtype=dtype)
        return X.map_blocks(_map_block, func, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)


register_adapter(DaskAdapter())


def dask_frame_summaries(ddf, column_types):
    """Column summaries (see ``_table_inference``) of a Dask DataFrame, merged over partitions."""
    dask, _ = _import_dask()
    from ._table_inference import frame_summaries, merge_summaries

    parts = dask.compute(
        *[dask.delayed(frame_summaries)(part, column_types) for part in ddf.to_delayed()]
    )
    summaries, declared = None, {}
    for part, decl in parts:
        declared.update(decl)
        summaries = part if summaries is None else merge_summaries(summaries, part)
    if summaries is None:
        raise ValueError("The Dask DataFrame has no partitions.")
    return summaries, declared


def dask_frame_rows(ddf, encode, n_columns, dtype):
    """A Dask array of the rows of ``ddf`` encoded per partition by ``encode`` (lazy).

    The partitions' lengths are computed once (one pass) so that the array has
    known row blocks, which the Dask source needs.
    """
    dask, da = _import_dask()
    lengths = dask.compute(*[dask.delayed(len)(part) for part in ddf.to_delayed()])
    blocks = [
        da.from_delayed(dask.delayed(encode)(part), shape=(int(n), n_columns), dtype=dtype)
        for part, n in zip(ddf.to_delayed(), lengths, strict=True)
        if n
    ]
    return da.concatenate(blocks, axis=0)


def dask_frame_meta(ddf):
    """The empty pandas frame describing ``ddf``'s columns and dtypes (no computation)."""
    return ddf._meta


def _map_partition(part, func, dtype):
    with kernel_threads(1):
        return np.asarray(func(part)).astype(dtype, copy=False)


def dask_frame_map(ddf, func, n_columns, dtype):
    """``func`` on every partition of ``ddf``, lazily: 1-D (``n_columns`` None) or 2-D result.

    One row block per partition, of unknown length (``nan`` chunks, as
    ``map_partitions`` gives): nothing is computed here. ``func`` receives
    the pandas partition and runs on the workers with single-threaded
    kernels; it must be picklable, e.g. a bound method of an estimator whose
    ``n_jobs`` is 1.
    """
    dask, da = _import_dask()
    shape = (np.nan,) if n_columns is None else (np.nan, n_columns)
    blocks = [
        da.from_delayed(dask.delayed(_map_partition)(part, func, dtype), shape=shape, dtype=dtype)
        for part in ddf.to_delayed()
    ]
    return da.concatenate(blocks, axis=0)


def _block_length(block):
    return np.array([block.shape[0]], dtype=np.int64)


def mean_and_rows(values):
    """The mean and the number of rows of a 1-D Dask array (row blocks may be unknown).

    Computed together, so that the blocks are computed once.
    """
    dask, _ = _import_dask()
    counts = values.map_blocks(
        _block_length, chunks=((1,) * values.numblocks[0],), dtype=np.int64
    ).sum()
    mean, n_rows = dask.compute(values.mean(), counts)
    return float(mean), int(n_rows)
