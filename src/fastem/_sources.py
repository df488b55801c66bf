"""Sources of rows: where the chunks that an EM pass sums over come from."""

import numpy as np


class ArraySource:
    """An in-memory array seen as a sequence of row chunks.

    The fused kernels block rows internally, so an in-memory array is a single
    chunk: the loop of the drivers is the same as for out-of-core sources.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous float32 or float64 rows.
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Float64 weights; empty means every weight is 1.
    """

    def __init__(self, X, sample_weight):
        self.X = X
        self.sample_weight = sample_weight

    @property
    def n_samples(self):
        """Number of rows."""
        return self.X.shape[0]

    @property
    def n_features(self):
        """Number of columns."""
        return self.X.shape[1]

    @property
    def dtype(self):
        """Floating dtype of the rows."""
        return self.X.dtype

    @property
    def weight_sum(self):
        """Sum of the weights (the number of rows when unweighted)."""
        if self.sample_weight.size:
            return float(np.sum(self.sample_weight))
        return float(self.n_samples)

    def chunks(self):
        """Yield ``(X_chunk, sample_weight_chunk)`` pairs covering every row once."""
        yield self.X, self.sample_weight

    def take(self, indices):
        """Rows and weights at ``indices`` (sorted or not), as copies."""
        indices = np.asarray(indices)
        weights = self.sample_weight[indices] if self.sample_weight.size else np.ones(indices.size)
        return np.ascontiguousarray(self.X[indices]), weights
