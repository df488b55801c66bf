"""Rows stored in files: paths opened, HDF5/zarr datasets read by slices, Parquet by batches.

A ``.npy`` path is memory-mapped (and read by ``_sources.ArraySource``), an
HDF5 file's one 2-D dataset or a zarr array is read one slice of rows per
chunk (:class:`SliceableSource`), and a Parquet file or folder is read by
pyarrow one record batch after another (:func:`parquet_tables`).
"""

import os
from pathlib import Path

import numpy as np

from ._sources import Source


class SliceableSource(Source):
    """Any 2-D dataset that returns NumPy rows for ``data[start:stop]``.

    Covers ``h5py.Dataset`` and zarr arrays (and NumPy-like lazy arrays). Reads
    happen in a background thread one chunk ahead of the computation.
    """

    def __init__(self, data, sample_weight=None, chunk_size=None, check_chunk=None):
        super().__init__(chunk_size, check_chunk)
        if len(data.shape) != 2:
            raise ValueError(f"Expected a 2-D dataset of rows, got shape {tuple(data.shape)}.")
        self.data = data
        self.n_samples = int(data.shape[0])
        self.n_features = int(data.shape[1])
        if np.dtype(data.dtype) in (np.float32, np.float64) and check_chunk is None:
            self.dtype = np.dtype(data.dtype)
        self.sample_weight = sample_weight

    def _raw_chunks(self):
        n = self.n_samples
        step = self._chunk_rows()
        for start in range(0, n, step):
            stop = min(n, start + step)
            w = None
            if self.sample_weight is not None:
                w = np.asarray(self.sample_weight[start:stop], dtype=np.float64)
            yield np.asarray(self.data[start:stop]), w

    def _expected_rows(self, start):
        return max(0, min(self.n_samples, start + self._chunk_rows()) - start)

    def _chunk_count(self):
        return -(-self.n_samples // self._chunk_rows())

    def sample_rows(self, indices):
        """Rows and weights at ``indices``, one small read each (validated like a chunk)."""
        rows = self._validate(np.concatenate([np.asarray(self.data[i : i + 1]) for i in indices]))
        weights = np.empty(0)
        if self.sample_weight is not None:
            weights = np.concatenate(
                [np.asarray(self.sample_weight[i : i + 1], dtype=np.float64) for i in indices]
            )
        return rows, weights


def _is_sliceable_dataset(X):
    module = type(X).__module__
    return module.startswith(("h5py", "zarr")) and hasattr(X, "shape") and hasattr(X, "dtype")


def _open_path(path):
    """A source object for a file path: ``.npy`` (memory-mapped), HDF5 or zarr."""
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"No such data file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            if "mmap length" in str(exc) or "file size" in str(exc):
                raise ValueError(
                    f"{path} is truncated: its header promises more rows than the file holds "
                    f"({exc}). Write it again, or fit the rows it holds."
                ) from None
            raise ValueError(f"{path} is not a readable .npy file: {exc}") from None
    if suffix in (".h5", ".hdf5", ".hdf"):
        try:
            import h5py
        except ImportError:
            raise ImportError(f"Reading {path} needs h5py: pip install 'fastem[hdf5]'") from None
        f = h5py.File(path, "r")
        datasets = []
        f.visititems(lambda name, obj: datasets.append(obj) if hasattr(obj, "shape") else None)
        datasets = [d for d in datasets if len(d.shape) == 2]
        if len(datasets) != 1:
            raise ValueError(
                f"{path} holds {len(datasets)} 2-D datasets; pass the h5py.Dataset itself."
            )
        return datasets[0]
    if suffix == ".zarr" or (path.is_dir() and any(path.glob("zarr.json"))):
        try:
            import zarr
        except ImportError:
            raise ImportError(f"Reading {path} needs zarr: pip install 'fastem[zarr]'") from None
        return zarr.open_array(str(path), mode="r")
    raise ValueError(
        f"Unsupported data file {path}: expected .npy, .h5/.hdf5 or a .zarr directory."
    )


def parquet_tables(path, batch_rows):
    """A function returning a new iterator of pyarrow record batches of a Parquet file or folder.

    Batches of at most ``batch_rows`` rows are read by pyarrow one after another
    (row group by row group), so a pass holds a batch or two, whatever the size
    of the file. Used by :class:`fastem.TabularMixture` for tables larger than
    memory.
    """
    try:
        import pyarrow.dataset as ds
    except ImportError:
        raise ImportError("Reading Parquet needs pyarrow: pip install 'fastem[tabular]'") from None
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such data file: {path}")
    dataset = ds.dataset(path, format="parquet")

    def tables():
        # Without pre-buffering, with a readahead of a batch or two, and on the
        # calling thread: pyarrow's defaults buffer a file's column chunks ahead,
        # and its threaded scanner keeps decoding row groups ahead of a consumer
        # slower than itself (every fit) past batch_readahead, so the memory held
        # grew with the file instead of staying that of a few batches. Reading
        # on the calling thread costs a fit nothing: the E-step, not the
        # decoding, sets its pace.
        batches = dataset.to_batches(
            batch_size=int(batch_rows),
            batch_readahead=2,
            fragment_readahead=1,
            fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
            use_threads=False,
        )
        for batch in batches:
            if batch.num_rows:
                yield batch

    return tables
