"""Input validation of the mixtures and the source of rows a fit reads."""

import math

import numpy as np
from sklearn.utils.validation import validate_data

from ._compat import _check_sample_weight
from ._make_source import adapter_for, is_out_of_core, make_source
from ._sources import LARGEST_VALUE, ArraySource, neutralise_zero_weight_rows


class InputMixin:
    """Rows, weights and chunks checked for :class:`fastem._mixture.Mixture`."""

    def _validate_X(self, X, reset):
        return validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
            ensure_all_finite="allow-nan" if self._allow_nan else True,
            reset=reset,
            order="C",
        )

    @staticmethod
    def _validate_sample_weight(sample_weight, X):
        """Float64 weights, or an empty array meaning 'all ones' (no N-sized copy)."""
        if sample_weight is None:
            return np.empty(0, dtype=np.float64)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must have at least one positive entry; all are 0.")
        return np.ascontiguousarray(sample_weight)

    @staticmethod
    def _check_values(X):
        """Reject validated float rows too large for the statistics (see ``_check_magnitude``)."""
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            _check_magnitude(X)

    @classmethod
    def _check_chunk(cls, rows):
        """Validate and convert one raw chunk of an out-of-core source (floats, finite).

        NaN (a missing value) passes where the class allows it (``_allow_nan``);
        infinity never does. A class method: Dask ships it to the workers, which
        must not need the estimator (nor what its callback holds).
        """
        rows = np.asarray(rows)
        if rows.ndim != 2:
            raise ValueError(f"Every chunk must be a 2-D array of rows, got shape {rows.shape}.")
        if rows.dtype not in (np.float32, np.float64):
            if rows.dtype.kind == "O":
                try:
                    rows = rows.astype(np.float64)
                except (TypeError, ValueError):
                    raise ValueError(
                        "Rows must be numeric, got an object array holding non-numbers."
                    ) from None
            elif rows.dtype.kind not in "biuf":
                raise ValueError(f"Rows must be real numbers, got dtype {rows.dtype}.")
            else:
                rows = rows.astype(np.float64)
        if cls._allow_nan:
            if np.any(np.isinf(rows)):
                raise ValueError(
                    "Input X contains infinity (NaN is allowed and means a missing value)."
                )
        elif not np.all(np.isfinite(rows)):
            raise ValueError("Input X contains NaN or infinity.")
        _check_magnitude(rows)
        return np.ascontiguousarray(rows)

    def _fit_source(self, X, sample_weight):
        """The source of rows for ``fit``, validated as far as can be without a pass."""
        chunk_size = self.chunk_size
        if adapter_for(X) is not None or is_out_of_core(X):
            source = make_source(
                X, sample_weight, chunk_size=chunk_size, check_chunk=self._check_chunk
            )
            source.allow_nan = self._allow_nan
            return source
        X = self._validate_X(X, reset=True)
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, n_samples = {X.shape[0]}"
            )
        sample_weight = self._validate_sample_weight(sample_weight, X)
        if sample_weight.size and np.count_nonzero(sample_weight) < self.n_components:
            raise ValueError(
                f"Expected at least n_components = {self.n_components} samples with "
                f"positive weight, got {np.count_nonzero(sample_weight)}."
            )
        if sample_weight.size:
            X = neutralise_zero_weight_rows(X, sample_weight, allow_nan=self._allow_nan)
        self._check_values(X)
        return ArraySource(X, sample_weight, chunk_size=chunk_size)

    def _check_source_size(self, source):
        """Row-count checks that an out-of-core source allows only after one pass."""
        if source.in_memory:
            return
        if source.n_samples < max(2, self.n_components):
            raise ValueError(
                "Expected n_samples >= n_components and at least 2 samples, but got "
                f"n_components = {self.n_components}, n_samples = {source.n_samples}"
            )
        self.n_features_in_ = source.n_features
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_


def _check_magnitude(X):
    """A clear error for finite values whose squares the statistics cannot hold.

    The kernels square the centred values and sum the squares over rows in
    float64, which overflows for magnitudes beyond about 1e154; fastem accepts
    up to :data:`fastem._sources.LARGEST_VALUE` (1e140), leaving room for the
    sums. Without this check such data would end in NaN statistics, reported
    as "NaN or infinity" although every value is finite.
    """
    if X.size == 0:
        return
    # fmax/fmin skip NaN (missing values); on data without NaN they are max/min.
    peak = max(abs(float(np.fmax.reduce(X, axis=None))), abs(float(np.fmin.reduce(X, axis=None))))
    if peak > LARGEST_VALUE:
        exponent = math.floor(math.log10(peak))
        raise ValueError(
            f"Input X holds finite values up to {peak:.3g} in magnitude, too large for the "
            "statistics of a mixture fit: they square the (centred) values, which "
            f"overflows float64 beyond about 1e154 (fastem accepts magnitudes up to "
            f"{LARGEST_VALUE:.0e}). Scale the data first, e.g. X / 1e{exponent} or "
            "StandardScaler, and scale the fitted means and covariances back."
        )
