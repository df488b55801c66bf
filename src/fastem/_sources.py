"""Sources of rows: the Source base and the array source every in-memory fit reads.

Every driver sees rows only as a sequence of ``(X_chunk, weight_chunk)`` pairs,
so the same EM runs over an in-memory array, a memory-mapped ``.npy`` file, an
HDF5 or zarr dataset, or chunks produced on the fly. A pass reads each chunk
once; the next chunk is read (or its pages requested from the kernel) while
the current one is computed, and at most a couple of chunks are held in
private memory whatever the number of rows. This module holds what every
source shares (chunk iteration, validation, located chunk errors, prefetch)
and :class:`ArraySource` (ndarrays and memory maps); files are opened in
``_file_sources``, user iterables read in ``_iterable_source``, and
``_make_source`` picks the source of an input.
"""

import hashlib
import mmap
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

from ._settings import settings


def default_chunk_rows(n_features, itemsize):
    """Rows in a chunk of about ``settings.chunk_bytes``."""
    return max(1, settings.chunk_bytes // max(1, n_features * itemsize))


def _as_weights(sample_weight, n_rows):
    """Float64 weights for ``n_rows`` rows, or an empty array meaning 'all ones'."""
    if sample_weight is None or np.size(sample_weight) == 0:
        return np.empty(0, dtype=np.float64)
    w = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise ValueError(
            f"sample_weight must be 1-D with one weight per row: expected {n_rows}, "
            f"got shape {w.shape}."
        )
    return w


#: Largest magnitude of a value that the estimators' statistics take: they square
#: (centred) values and sum the squares over rows, which must stay finite in float64
#: (whose squares overflow beyond about 1.3e154).
LARGEST_VALUE = 1e140


def rows_per_call(source):
    """The most rows one kernel call of a fit reads (None when unknown)."""
    if not source.sequential or source.n_samples is None:
        return None
    if source.in_memory and source.chunk_size is None:
        return source.n_samples
    return min(source.n_samples, source._chunk_rows())


class ChunkError(ValueError):
    """A chunk of rows is malformed or unreadable; the message names the chunk and its rows.

    Attributes
    ----------
    chunk : int or None
        0-based index of the chunk, in the order the source yields them.
    rows : tuple of (int, int or None) or None
        Its first row and one past its last (None where not known).
    """

    def __init__(self, message, chunk=None, rows=None):
        super().__init__(message)
        self.chunk = chunk
        self.rows = rows


class ChunkReadError(ChunkError, OSError):
    """Reading a chunk failed with an ``OSError`` (I/O error, truncated or vanished file).

    Both a :class:`ChunkError` (a ``ValueError``) and an ``OSError``, with the
    original ``errno``, so that either kind of handler catches it.
    """


def neutralise_zero_weight_rows(rows, weights, allow_nan=False):
    """``rows`` with finite values beyond :data:`LARGEST_VALUE` in rows of weight 0 set to 0.

    A row of weight 0 has no effect on a fit, but the kernels compute its
    features before they weigh them: ``x**2`` overflows beyond 1.3e154 and
    ``0 * inf`` is NaN. Such rows are replaced by zeros (in a copy; the
    caller's array is never written). Rows holding NaN or infinity are left
    for the validation to reject, as for any other row (with ``allow_nan``,
    NaN is a missing value and only infinity is left).

    Parameters
    ----------
    rows : ndarray of shape (n_rows, n_features)
    weights : ndarray of shape (n_rows,) or None or empty
    allow_nan : bool, default=False
        NaN means a missing value (the estimator accepts it).

    Returns
    -------
    ndarray
        ``rows`` itself when nothing needs to change.
    """
    if (
        weights is None
        or not isinstance(rows, np.ndarray)
        or rows.ndim != 2
        or rows.dtype.kind != "f"
        or rows.dtype.itemsize < 8  # float32 and float16 stay far below LARGEST_VALUE
    ):
        return rows
    weights = np.asarray(weights)
    if weights.shape != (rows.shape[0],) or weights.dtype.kind not in "biuf":
        return rows
    zero = np.flatnonzero(weights == 0)
    if zero.size == 0:
        return rows
    candidates = rows[zero]
    with np.errstate(invalid="ignore"):
        valid = ~np.any(np.isinf(candidates), axis=1) if allow_nan else None
        if valid is None:
            valid = np.all(np.isfinite(candidates), axis=1)
        far = valid & np.any(np.abs(candidates) > LARGEST_VALUE, axis=1)
    if not far.any():
        return rows
    rows = np.array(rows, order="K")
    rows[zero[far]] = 0.0
    return rows


class Source:
    """Base of every source: chunk iteration, validation and prefetch.

    Subclasses implement :meth:`_raw_chunks`, yielding ``(rows, weights)``
    where ``weights`` is None or a 1-D array per chunk.

    Parameters
    ----------
    chunk_size : int or None
        Rows per chunk; None picks :func:`default_chunk_rows`.
    check_chunk : callable or None
        ``check_chunk(rows) -> rows`` validates and converts a raw chunk (for
        example to float64, or checking 0/1 data); None accepts float rows and
        rejects non-finite values.
    """

    #: True where a chunk's rows are views of memory that the kernels can read
    #: directly (no copy, no prefetch thread needed).
    zero_copy = False
    #: True for sources that are one ndarray in memory (``validate_data`` ran on it).
    in_memory = False
    #: NaN in the rows means a missing value (set by an estimator that accepts it);
    #: the chunk check (``check_chunk``) decides what passes, this only tells
    #: :func:`neutralise_zero_weight_rows`.
    allow_nan = False

    def __init__(self, chunk_size=None, check_chunk=None):
        self.chunk_size = chunk_size
        self.check_chunk = check_chunk
        self.n_samples = None
        self.n_features = None
        self.dtype = None
        self._weight_sum = None
        self._validated = False

    # -- what subclasses provide ---------------------------------------------------------
    def _raw_chunks(self):
        raise NotImplementedError

    # -- public ----------------------------------------------------------------------------
    def peek(self):
        """Validate the first chunk, to learn the number of features and the dtype."""
        iterator = self._raw_chunks()
        try:
            first = next(iterator, None)
        except Exception as exc:
            raise self._chunk_error(exc, 0, 0, None, reading=True) from exc
        if first is not None:
            rows, weights = first
            try:
                self._validate(
                    rows
                    if weights is None
                    else neutralise_zero_weight_rows(*first, allow_nan=self.allow_nan)
                )
            except (ValueError, TypeError) as exc:
                raise self._chunk_error(exc, 0, 0, _length(rows)) from exc

    def chunks(self):
        """Yield ``(X_chunk, weight_chunk)`` covering every row once, in order.

        ``X_chunk`` is a C-contiguous float32/float64 2-D array; ``weight_chunk``
        is float64 of the same length, or empty for unit weights. The first
        complete pass also validates every chunk and counts the rows; every
        pass checks each chunk's width and the number of rows. A chunk that
        cannot be read or is malformed raises a :class:`ChunkError` naming the
        chunk and its rows (a :class:`ChunkReadError`, also an ``OSError``,
        for I/O errors).
        """
        validate = not self._validated
        n_rows = 0
        weight_sum = 0.0
        digest = hashlib.blake2b(digest_size=16) if validate else None
        iterator = self._raw_chunks()
        if not self.zero_copy:
            iterator = _prefetch(iterator)
        index = 0
        try:
            while True:
                try:
                    item = next(iterator, None)
                except Exception as exc:
                    raise self._chunk_error(exc, index, n_rows, None, reading=True) from exc
                if item is None:
                    break
                raw_rows, weights = item
                try:
                    rows, weights = self._checked(raw_rows, weights, validate)
                except (ValueError, TypeError) as exc:
                    raise self._chunk_error(exc, index, n_rows, _length(raw_rows)) from exc
                index += 1
                if rows.shape[0] == 0:
                    continue
                n_rows += rows.shape[0]
                if validate:
                    weight_sum += float(weights.sum()) if weights.size else float(rows.shape[0])
                    for part in (rows[:1], rows[-1:], weights[:1], weights[-1:]):
                        digest.update(np.ascontiguousarray(part).tobytes())
                yield rows, weights
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        if validate:
            if n_rows == 0:
                raise ValueError("The data source yielded no rows.")
            if weight_sum <= 0:
                raise ValueError("sample_weight must have at least one positive entry; all are 0.")
            self.n_samples = n_rows
            self._weight_sum = weight_sum
            self.digest = digest.hexdigest()
            self._validated = True
        elif self.n_samples is not None and n_rows != self.n_samples:
            raise ChunkError(
                f"The data source yielded {n_rows} rows in this pass and {self.n_samples} in "
                "the first: its data changed between passes (EM reads every row once per "
                "iteration, and every pass must yield the same rows)."
            )

    def _checked(self, rows, weights, validate):
        """One raw chunk as ``(rows, float64 weights)``; validated on the first pass."""
        if weights is not None:
            rows = neutralise_zero_weight_rows(rows, weights, allow_nan=self.allow_nan)
        if validate or not (
            isinstance(rows, np.ndarray) and rows.flags.c_contiguous and rows.dtype == self.dtype
        ):
            rows = self._validate(rows)
        elif rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ChunkError(
                f"every chunk must have {self.n_features} columns; this one has shape "
                f"{rows.shape}."
            )
        weights = np.empty(0) if weights is None else np.asarray(weights, dtype=np.float64)
        if weights.size and weights.shape != (rows.shape[0],):
            raise ChunkError(
                f"A chunk of {rows.shape[0]} rows came with {weights.shape} sample weights."
            )
        if validate and weights.size and (not np.all(np.isfinite(weights)) or np.any(weights < 0)):
            raise ValueError("sample_weight must be finite and non-negative.")
        return rows, weights

    def _chunk_error(self, exc, index, start, length, reading=False):
        """``exc`` (raised reading or validating chunk ``index``) as a located ChunkError."""
        if length is None:
            length = self._expected_rows(start)
        total = self._chunk_count()
        where = f"chunk {index}" + (f" of {total}" if total is not None else "")
        if length is None:
            where += f" (from row {start})"
            rows = (start, None)
        elif length == 0:
            where += f" (no rows, after row {start - 1})" if start else " (no rows)"
            rows = (start, start)
        else:
            where += f" (rows {start} to {start + length - 1})"
            rows = (start, start + length)
        if isinstance(exc, OSError):
            error = ChunkReadError(
                f"Reading {where} failed: {type(exc).__name__}: {exc}", index, rows
            )
            error.errno = exc.errno
            return error
        if reading:
            return ChunkError(f"Reading {where} failed: {type(exc).__name__}: {exc}", index, rows)
        message = str(exc)
        return ChunkError(f"{where[0].upper()}{where[1:]}: {message}", index, rows)

    def _expected_rows(self, start):
        """Rows of the chunk that starts at row ``start`` (None where unknown)."""
        return None

    def _chunk_count(self):
        """Number of chunks a pass yields (None where unknown)."""
        return None

    def sample_rows(self, indices):
        """Validated rows and weights at sorted ``indices``, without a pass (None if impossible).

        Used for the data fingerprint of checkpoints; sources without random
        access return None (their fingerprint comes from the validating pass,
        :attr:`digest`).
        """
        return None

    #: Chunks come in a fixed order through :meth:`chunks` (False for Dask arrays,
    #: whose blocks are processed where they live).
    sequential = True

    def map_reduce(self, func, progress=None):
        """``func(X_chunk, weight_chunk)`` summed with ``+`` over every chunk.

        The one way drivers combine per-chunk results, so that a distributed
        source can run ``func`` next to its blocks and add the results in a tree.
        """
        total = None
        for X_chunk, w_chunk in self.chunks():
            part = func(X_chunk, w_chunk)
            total = part if total is None else total + part
            if progress is not None:
                progress.rows(X_chunk.shape[0])
        return total

    def all_weights(self):
        """Every row's weight as one array (empty when unweighted), in one pass."""
        parts = [(w, X.shape[0]) for X, w in self.chunks()]
        if not any(w.size for w, _ in parts):
            return np.empty(0)
        return np.concatenate([w if w.size else np.ones(n) for w, n in parts])

    @property
    def weight_sum(self):
        """Sum of the weights (the row count when unweighted), known after one pass."""
        if self._weight_sum is None:
            for _ in self.chunks():
                pass
        return self._weight_sum

    def take(self, indices):
        """Rows (float, copied) and weights at row ``indices``, in their order, in one pass.

        The output is allocated once and filled chunk by chunk: the only
        private memory is the result itself.
        """
        requested = np.asarray(indices, dtype=np.int64)
        order = np.argsort(requested, kind="stable")
        indices = requested[order]
        rows = weights = None
        start = 0
        for X_chunk, w_chunk in self.chunks():
            if rows is None:
                rows = np.empty((requested.size, X_chunk.shape[1]), dtype=X_chunk.dtype)
                weights = np.ones(requested.size)
            stop = start + X_chunk.shape[0]
            lo, hi = np.searchsorted(indices, [start, stop])
            if hi > lo:
                # Sorted position p holds requested[order[p]]: write it at order[p].
                rows[order[lo:hi]] = X_chunk[indices[lo:hi] - start]
                if w_chunk.size:
                    weights[order[lo:hi]] = w_chunk[indices[lo:hi] - start]
            start = stop
        return rows, weights

    # -- helpers ----------------------------------------------------------------------------
    def _chunk_rows(self):
        itemsize = np.dtype(self.dtype or np.float64).itemsize
        return self.chunk_size or default_chunk_rows(self.n_features or 1, itemsize)

    def _validate(self, rows):
        if self.check_chunk is not None:
            rows = self.check_chunk(rows)
        else:
            rows = np.asarray(rows)
            if rows.dtype not in (np.float32, np.float64):
                rows = rows.astype(np.float64)
            if rows.ndim != 2:
                raise ChunkError(
                    f"Every chunk must be a 2-D array of rows, got shape {rows.shape}."
                )
            if not np.all(np.isfinite(rows)):
                raise ValueError("Input X contains NaN or infinity.")
        rows = np.ascontiguousarray(rows)
        if self.n_features is None:
            self.n_features = rows.shape[1]
        elif rows.shape[1] != self.n_features:
            raise ChunkError(
                f"Every chunk must have {self.n_features} columns; one has {rows.shape[1]}."
            )
        if self.dtype is None:
            self.dtype = rows.dtype
        elif rows.dtype != self.dtype:
            rows = rows.astype(self.dtype)
        return rows


class ArraySource(Source):
    """An ndarray (in memory or memory-mapped) seen as row chunks.

    In-memory and writable arrays are read through views. A read-only memory
    map (``np.load(path, mmap_mode="r")``) is reopened copy-on-write, which
    reads the same page cache without private copies and lets the kernels see
    an ordinary array. Any other read-only array is copied chunk by chunk.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows; already validated when ``in_memory`` is True.
    sample_weight : ndarray of shape (n_samples,) or (0,) or None
        Float64 weights; empty or None means every weight is 1.
    chunk_size : int or None
        Rows per chunk; None with ``in_memory`` means one chunk of every row
        (the kernels block rows internally).
    in_memory : bool
        The estimator validated ``X`` already (dtype, contiguity, finiteness).
    check_chunk : callable or None
        See :class:`Source`.
    """

    def __init__(self, X, sample_weight=None, chunk_size=None, in_memory=True, check_chunk=None):
        super().__init__(chunk_size, check_chunk)
        X = _copy_on_write(X)
        self.X = X
        self.n_samples = X.shape[0]
        self.n_features = X.shape[1] if len(X.shape) == 2 else None
        self.sample_weight = _as_weights(sample_weight, X.shape[0])
        self.in_memory = in_memory
        flags = getattr(X, "flags", None)  # scipy.sparse matrices have none
        self.zero_copy = flags is None or (flags.writeable and flags.c_contiguous)
        if in_memory:
            self.dtype = X.dtype
            self._validated = True
            self._weight_sum = (
                float(self.sample_weight.sum()) if self.sample_weight.size else float(X.shape[0])
            )
        elif X.dtype in (np.float32, np.float64) and check_chunk is None:
            self.dtype = X.dtype

    def _raw_chunks(self):
        n = self.X.shape[0]
        step = n if (self.in_memory and self.chunk_size is None) else self._chunk_rows()
        advise = _page_advisor(self.X)
        for start in range(0, n, step):
            stop = min(n, start + step)
            if advise is not None and stop < n:
                advise(stop, min(n, stop + step))
            w = self.sample_weight[start:stop] if self.sample_weight.size else None
            yield self.X[start:stop], w

    def chunks(self):
        """Yield ``(X_chunk, weight_chunk)`` views covering every row once."""
        if self.in_memory:
            for rows, weights in self._raw_chunks():
                yield rows, (np.empty(0) if weights is None else weights)
            return
        yield from super().chunks()

    def _step(self):
        n = self.X.shape[0]
        return max(1, n if (self.in_memory and self.chunk_size is None) else self._chunk_rows())

    def _expected_rows(self, start):
        return max(0, min(self.X.shape[0], start + self._step()) - start)

    def _chunk_count(self):
        return -(-self.X.shape[0] // self._step())

    def sample_rows(self, indices):
        """Rows and weights at ``indices``, read directly (validated like a chunk)."""
        rows = self.X[np.asarray(indices, dtype=np.int64)]
        if not self.in_memory:
            rows = self._validate(np.asarray(rows))
        weights = self.sample_weight[indices] if self.sample_weight.size else np.empty(0)
        return rows, weights

    def take(self, indices):
        """Rows and weights at ``indices`` (gathered directly from the array)."""
        if not self.in_memory:
            return super().take(indices)
        indices = np.asarray(indices, dtype=np.int64)
        weights = self.sample_weight[indices] if self.sample_weight.size else np.ones(indices.size)
        # Fancy indexing copies into a new C-ordered array (or a new BinaryCSR).
        return self.X[indices], weights

    def all_weights(self):
        """Every row's weight (empty when unweighted)."""
        return self.sample_weight

    @property
    def weight_sum(self):
        """Sum of the weights (the number of rows when unweighted)."""
        if self._weight_sum is None:
            if self.sample_weight.size:
                self._weight_sum = float(self.sample_weight.sum())
            else:
                self._weight_sum = float(self.X.shape[0])
        return self._weight_sum


def _length(rows):
    """Number of rows of a raw chunk, or None when it is not a 2-D table."""
    shape = getattr(rows, "shape", None)
    if shape is None or len(shape) != 2:
        return None
    return int(shape[0])


def _copy_on_write(X):
    """A read-only memory map reopened copy-on-write (same pages, writable flag).

    Only a whole map is reopened (its base is the mmap itself): a slice of one
    inherits the parent's ``offset`` but not its start, so reopening it would
    read other rows. Slices are read through the copying path instead.
    """
    if (
        isinstance(X, np.memmap)
        and not X.flags.writeable
        and getattr(X, "filename", None)
        and isinstance(X.base, mmap.mmap)
    ):
        try:
            return np.memmap(
                X.filename,
                dtype=X.dtype,
                mode="c",
                offset=X.offset,
                shape=X.shape,
                order="F" if X.flags.f_contiguous and not X.flags.c_contiguous else "C",
            )
        except (OSError, ValueError):
            return X
    return X


def _page_advisor(X):
    """``advise(start_row, stop_row)`` asking the kernel to read those rows ahead, or None."""
    mm = getattr(X, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not X.flags.c_contiguous:
        return None
    row_bytes = X.strides[0]
    base = X.offset if isinstance(X, np.memmap) else 0
    page = mmap.PAGESIZE

    def advise(start, stop):
        lo = (base + start * row_bytes) // page * page
        hi = base + stop * row_bytes
        try:
            mm.madvise(mmap.MADV_WILLNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass

    return advise


def _prefetch(iterator):
    """Read the next item in a background thread while the current one is used."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastem-prefetch") as pool:
        done = object()
        pending = pool.submit(next, iterator, done)
        try:
            while True:
                item = pending.result()
                if item is done:
                    return
                pending = pool.submit(next, iterator, done)
                yield item
        finally:
            # A consumer that stops early: the read in flight ends before the
            # iterator is closed (a running generator cannot be closed).
            if not pending.cancel():
                wait([pending])
            if hasattr(iterator, "close"):
                iterator.close()
