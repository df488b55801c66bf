"""What KMeans accepts: rows, chunks, sample weights, sources, ``n_init`` and initial centres.

A mixin of :class:`fastem.KMeans` (as ``_params``, ``_verbose`` and ``_online``
are of the mixtures): validation with scikit-learn's checks and messages, and
the source of rows a fit reads. See docs/architecture.md.
"""

import warnings

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._compat import _check_sample_weight
from ._make_source import adapter_for, is_out_of_core, make_source
from ._sources import ArraySource


class KMeansChecksMixin:
    """Validation of what :class:`fastem.KMeans` is given, before and during a fit."""

    def _validate_X(self, X, reset):
        return validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            reset=reset,
            accept_large_sparse=False,
        )

    @staticmethod
    def _check_chunk(rows):
        """Validate and convert one raw chunk of an out-of-core source (floats, finite).

        A static method: Dask ships it to the workers, which must not need the
        estimator (nor what its callback holds).
        """
        rows = np.asarray(rows)
        if rows.ndim != 2:
            raise ValueError(f"Every chunk must be a 2-D array of rows, got shape {rows.shape}.")
        if rows.dtype not in (np.float32, np.float64):
            if not np.issubdtype(rows.dtype, np.number) and rows.dtype != np.bool_:
                raise ValueError(f"Rows must be numeric, got dtype {rows.dtype}.")
            rows = rows.astype(np.float64)
        if not np.all(np.isfinite(rows)):
            raise ValueError("Input X contains NaN or infinity.")
        return np.ascontiguousarray(rows)

    def _validate_sample_weight(self, sample_weight, X):
        """Float64 weights, or an empty array meaning 'all ones' (no N-sized copy)."""
        if sample_weight is None:
            return np.empty(0, dtype=np.float64)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        positive = int(np.count_nonzero(sample_weight > 0))
        if positive == 0:
            raise ValueError("sample_weight must have at least one positive entry; all are 0.")
        return np.ascontiguousarray(sample_weight)

    def _too_few_rows(self, n_samples):
        return ValueError(f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}.")

    def _fit_source(self, X, sample_weight):
        """The source of rows for ``fit``, validated as far as can be without a pass."""
        if adapter_for(X) is not None or is_out_of_core(X):
            return make_source(
                X, sample_weight, chunk_size=self.chunk_size, check_chunk=self._check_chunk
            )
        X = self._validate_X(X, reset=True)
        if X.shape[0] < self.n_clusters:
            raise self._too_few_rows(X.shape[0])
        sample_weight = self._validate_sample_weight(sample_weight, X)
        return ArraySource(X, sample_weight, chunk_size=self.chunk_size)

    def _check_source_size(self, source):
        """Row-count checks that an out-of-core source allows only after one pass."""
        if source.in_memory:
            return
        if source.n_samples < self.n_clusters:
            raise self._too_few_rows(source.n_samples)
        self.n_features_in_ = source.n_features
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _resolved_n_init(self):
        init = self.init
        array_init = not (isinstance(init, str) or callable(init))
        if self.n_init == "auto":
            n_init = 10 if (callable(init) or (isinstance(init, str) and init == "random")) else 1
        else:
            n_init = int(self.n_init)
        if array_init and n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"{type(self).__name__} instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            n_init = 1
        return n_init

    def _centers_checker(self, n_features, dtype):
        """Validation of initial centres: scikit-learn's checks and messages."""

        def check(centers):
            centers = check_array(centers, dtype=dtype, copy=True, order="C")
            if centers.shape[0] != self.n_clusters:
                raise ValueError(
                    f"The shape of the initial centers {centers.shape} does not match the "
                    f"number of clusters {self.n_clusters}."
                )
            if centers.shape[1] != n_features:
                raise ValueError(
                    f"The shape of the initial centers {centers.shape} does not match the "
                    f"number of features of the data {n_features}."
                )
            return centers.astype(np.float64)

        return check
