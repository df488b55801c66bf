"""Binary rows as the Bernoulli kernels read them: validation, uint8 rows and CSR.

Dense rows may carry missing entries (NaN in float input), coded as
:data:`MISSING` ``= 2`` in the uint8 rows; sparse matrices cannot (their
implicit entries are zeros, not unknowns).
"""

import numpy as np

from .._settings import settings
from ..kernels.bernoulli_missing import MISSING


class BinaryCSR:
    """Validated CSR rows of 0/1 values: int64 offsets, int32 or int64 columns, ones only.

    Explicit zeros and duplicate entries have been removed, so every stored
    entry is a 1 and the kernels read no values at all.

    Parameters
    ----------
    indptr : ndarray of shape (n_samples + 1,), int64
    indices : ndarray of shape (nnz,), int32 or int64
    shape : tuple of int
    dtype : numpy.dtype
        dtype of the user's matrix (kept for :meth:`BernoulliMixture.sample`).
    """

    def __init__(self, indptr, indices, shape, dtype):
        self.indptr = indptr
        self.indices = indices
        self.shape = shape
        self.dtype = dtype

    @property
    def nnz(self):
        """Number of ones in these rows."""
        return int(self.indptr[-1] - self.indptr[0])

    def rows(self, start, stop):
        """Rows ``start:stop`` as a view (the offsets stay absolute)."""
        return BinaryCSR(
            self.indptr[start : stop + 1], self.indices, (stop - start, self.shape[1]), self.dtype
        )

    def take_rows(self, indices):
        """The rows at ``indices`` (in that order) as a new :class:`BinaryCSR`."""
        indices = np.asarray(indices, dtype=np.int64)
        starts, stops = self.indptr[indices], self.indptr[indices + 1]
        lengths = stops - starts
        indptr = np.zeros(indices.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # Positions of every selected one in self.indices, row after row.
        positions = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return BinaryCSR(
            indptr, self.indices[positions], (indices.size, self.shape[1]), self.dtype
        )

    def __getitem__(self, key):
        # Sources cut chunks with X[start:stop] and gather sampled rows with X[indices].
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise TypeError("BinaryCSR supports only contiguous row slices.")
            start, stop, _ = key.indices(self.shape[0])
            return self.rows(start, max(start, stop))
        return self.take_rows(key)


def _raise_not_binary(n_bad, row, col, value, negative):
    prefix = "Negative values in data passed to BernoulliMixture. " if negative else ""
    raise ValueError(
        f"{prefix}BernoulliMixture needs binary data (only 0 and 1): {n_bad} "
        f"entr{'y is' if n_bad == 1 else 'ies are'} neither 0 nor 1, the first at "
        f"(row {row}, column {col}) with value {value!r}."
    )


def _scan(values, allow_nan=False):
    """Count the entries of a 1-D or 2-D chunk that are not 0/1, and find the first one."""
    bad = (values != 0) & (values != 1)
    if allow_nan:
        bad &= ~np.isnan(values)
    count = int(np.count_nonzero(bad))
    first = int(np.flatnonzero(bad)[0]) if count else -1
    return count, first


def check_binary_dense(X, allow_nan=False):
    """Raise a ``ValueError`` naming the count and first position of non-0/1 entries.

    Works on bounded row chunks so that no N x D temporary is made. With
    ``allow_nan`` NaN entries (missing values) pass.
    """
    if X.dtype == np.bool_ or X.size == 0:
        return
    n_samples, n_features = X.shape
    step = max(1, settings.validation_elements // max(1, n_features))
    n_bad, first, negative = 0, None, False
    for start in range(0, n_samples, step):
        chunk = X[start : start + step]
        count, where = _scan(chunk, allow_nan)
        if count:
            negative = negative or bool(np.any(chunk < 0))
            if first is None:
                row, col = divmod(where, n_features)
                first = (start + row, col, chunk[row, col].item())
        n_bad += count
    if n_bad:
        _raise_not_binary(n_bad, *first, negative)


def binary_csr(X, threshold=None):
    """Validate a scipy sparse matrix into a :class:`BinaryCSR` of its ones.

    Any format is converted to CSR (rows are what the kernels walk); duplicate
    entries are summed first. With ``threshold=None`` every stored value must be
    0 or 1 (explicit zeros are dropped); with a threshold the stored values
    strictly above it are the ones and all others zeros, as
    :func:`sklearn.preprocessing.binarize` does. A negative threshold is
    refused: it would turn every implicit zero into a one, and a sparse matrix
    is never densified. The column indices are used in their own dtype (int32
    or int64: a column number is below n_features either way), so no
    nnz-sized copy is made of a CSR matrix in canonical form whose stored
    values are all ones; the row offsets are widened to int64.
    """
    if threshold is not None and threshold < 0:
        raise ValueError(
            f"binarize={threshold!r} is negative, which would turn every implicit zero of "
            "a sparse matrix into a one; a sparse matrix is never densified. Use a "
            "threshold >= 0 with sparse input (or pass a dense array)."
        )
    if X.format != "csr":
        X = X.tocsr()
    if _may_hold_nan(X.data) and np.isnan(X.data).any():
        raise ValueError(
            "Input X is a sparse matrix holding NaN: sparse input has no missing values "
            "(its implicit entries are zeros, not unknowns). Pass the data as a dense "
            "array with NaN at the missing entries, or store them otherwise."
        )
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    data = X.data
    if threshold is None:
        _check_binary_values(X, data)
        ones = data != 0 if np.count_nonzero(data) < data.size else None
    else:
        ones = data > threshold
        if ones.all():
            ones = None
    indptr = X.indptr.astype(np.int64)  # always a copy, never aliasing the user's
    indices = X.indices
    if indices.dtype not in (np.int32, np.int64):
        indices = indices.astype(np.int64)
    if ones is not None:
        indptr = np.concatenate(([0], np.cumsum(ones, dtype=np.int64)))[indptr]
        indices = indices[ones]
    return BinaryCSR(indptr, np.ascontiguousarray(indices), X.shape, X.dtype)


def _check_binary_values(X, data):
    """Raise the not-binary ``ValueError`` for stored values of a CSR matrix not 0/1."""
    if data.dtype == np.bool_:
        return
    n_bad, first, negative = 0, -1, False
    for start in range(0, data.size, settings.validation_elements):
        chunk = data[start : start + settings.validation_elements]
        count, where = _scan(chunk)
        if count:
            negative = negative or bool(np.any(chunk < 0))
            if first < 0:
                first = start + where
        n_bad += count
    if n_bad:
        row = int(np.searchsorted(X.indptr, first, side="right")) - 1
        _raise_not_binary(n_bad, row, int(X.indices[first]), data[first].item(), negative)


def dense_binary_rows(X, threshold=None, allow_nan=False):
    """Rows as the kernels read them: C-contiguous uint8 0/1, whatever the dtype.

    With ``threshold=None`` the entries must already be 0 or 1 (a ``ValueError``
    names the others); with a threshold, entries strictly above it become 1
    and all others 0 (:func:`sklearn.preprocessing.binarize`), written
    straight into the uint8 rows block by block, so no float temporary of the
    data's size is made. With ``allow_nan`` a NaN entry becomes
    :data:`MISSING` (never binarised).

    One byte per entry is exact for 0/1 and is what every EM pass then reads:
    an eighth of the memory traffic of float64 rows, for a one-off copy; a
    bool array that needs no thresholding is only viewed.
    """
    if allow_nan and _may_hold_nan(X):
        if threshold is None:
            check_binary_dense(X, allow_nan=True)
        return _coded(X, threshold)
    if threshold is None:
        check_binary_dense(X)
    elif X.dtype != np.bool_ or not 0 <= threshold < 1:
        return _binarized(X, threshold)
    if X.dtype == np.bool_:
        return np.ascontiguousarray(X).view(np.uint8)
    return X.astype(np.uint8, order="C")


def _binarized(X, threshold):
    """``X > threshold`` as C-contiguous uint8 rows, computed in bounded row blocks."""
    n_samples, n_features = X.shape
    out = np.empty((n_samples, n_features), dtype=np.uint8)
    flags = out.view(np.bool_)
    step = max(1, settings.validation_elements // max(1, n_features))
    for start in range(0, n_samples, step):
        np.greater(X[start : start + step], threshold, out=flags[start : start + step])
    return out


def _may_hold_nan(X):
    """False when a float array has no NaN, by one vectorised sum (NaN and inf - inf give NaN).

    A true answer may be a false alarm (infinities of both signs), which only
    sends the rows through :func:`_coded`.
    """
    if X.dtype.kind not in "fc" or X.size == 0:
        return False
    return bool(np.isnan(np.add.reduce(X, axis=None)))


def _coded(X, threshold):
    """uint8 rows with NaN as :data:`MISSING` and the other entries binarised.

    ``threshold=None``: the entries are already 0/1 (checked by the caller).
    """
    n_samples, n_features = X.shape
    out = np.empty((n_samples, n_features), dtype=np.uint8)
    flags = out.view(np.bool_)
    step = max(1, settings.validation_elements // max(1, n_features))
    for start in range(0, n_samples, step):
        block = X[start : start + step]
        if threshold is None:
            np.equal(block, 1, out=flags[start : start + step])
        else:
            np.greater(block, threshold, out=flags[start : start + step])
        out[start : start + step][np.isnan(block)] = MISSING
    return out


def missing_columns(rows):
    """Indices of the columns of uint8 ``rows`` with no observed entry (every one missing)."""
    if rows.size == 0 or rows.max() < MISSING:
        return np.empty(0, dtype=np.int64)
    n_samples, n_features = rows.shape
    observed = np.zeros(n_features, dtype=np.int64)
    step = max(1, settings.validation_elements // max(1, n_features))
    for start in range(0, n_samples, step):
        observed += np.count_nonzero(rows[start : start + step] != MISSING, axis=0)
    return np.flatnonzero(observed == 0)
