"""Chunks produced by user code (an iterable, or a callable returning one) as a source."""

from ._sources import ChunkError, Source, _length, neutralise_zero_weight_rows


class IterableSource(Source):
    """Chunks produced by user code: an iterable, or a callable returning one.

    Each item is a 2-D array of rows, or a pair ``(rows, sample_weight)``. EM
    reads the data once per iteration, so the source must be re-iterable: a
    list, an object whose ``__iter__`` starts over, or a function returning a
    new iterator. A generator object can be read once only; a second pass
    raises a ``ValueError`` that says so.
    """

    def __init__(self, iterable, chunk_size=None, check_chunk=None):
        super().__init__(chunk_size, check_chunk)
        self.iterable = iterable
        self._passes = 0

    def peek(self):
        """Read and validate the first chunk; the next pass starts with it."""
        try:
            iterator = self._new_iterator()
            item = next(iterator, None)
            if item is None:
                return
            rows, weights = self._split(item)
        except Exception as exc:
            raise self._chunk_error(exc, 0, 0, None, reading=True) from exc
        try:
            self._validate(
                rows
                if weights is None
                else neutralise_zero_weight_rows(rows, weights, allow_nan=self.allow_nan)
            )
        except (ValueError, TypeError) as exc:
            raise self._chunk_error(exc, 0, 0, _length(rows)) from exc
        self._pending = (item, iterator)

    @staticmethod
    def _split(item):
        if isinstance(item, tuple):
            if len(item) != 2:
                raise ChunkError("A chunk must be `rows` or a pair `(rows, sample_weight)`.")
            return item[0], item[1]
        return item, None

    def _raw_chunks(self):
        pending = getattr(self, "_pending", None)
        if pending is not None:
            # The pass that peek() began: its first chunk, then the rest.
            self._pending = None
            first, iterator = pending
            yield self._split(first)
            for item in iterator:
                yield self._split(item)
            return
        for item in self._new_iterator():
            yield self._split(item)

    def _new_iterator(self):
        if callable(self.iterable):
            iterator = iter(self.iterable())
        else:
            iterator = iter(self.iterable)
            if iterator is self.iterable and self._passes > 0:
                raise ValueError(
                    "The data source is a one-shot iterator (e.g. a generator) and EM needs "
                    "to read the data more than once. Pass a function that returns a new "
                    "iterator on each call (e.g. `lambda: read_chunks(path)`), or a list."
                )
        self._passes += 1
        return iterator
