"""Additive sufficient statistics: what an E-step pass over some rows leaves behind."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SufficientStats:
    """Float64 sums over rows that the M-step needs, closed under ``+`` and scaling.

    Sums over chunks of rows, over mini-batches or over Dask blocks are combined
    with ``+``; stepwise EM blends them with :meth:`scaled`.

    Parameters
    ----------
    arrays : dict of str to ndarray
        Family-specific sums, always float64 (for a Gaussian: the moments
        ``sum w r T(x')`` and, for tied covariances, ``sum w x' x'^T``).
    log_likelihood : float
        ``sum w log p(x)`` under the parameters of the E-step (0 when unknown).
    weight_sum : float
        ``sum w`` over the rows seen.
    shift : ndarray of shape (n_features,)
        Centre the rows were shifted by; stats with different shifts do not add.
    """

    arrays: dict = field(default_factory=dict)
    log_likelihood: float = 0.0
    weight_sum: float = 0.0
    shift: np.ndarray = None

    def __add__(self, other):
        if other is None or other == 0:
            return self
        if self.shift is not None and other.shift is not None:
            if not np.array_equal(self.shift, other.shift):
                raise ValueError("Cannot add statistics taken around different shifts.")
        arrays = {name: value + other.arrays[name] for name, value in self.arrays.items()}
        return SufficientStats(
            arrays,
            self.log_likelihood + other.log_likelihood,
            self.weight_sum + other.weight_sum,
            self.shift,
        )

    __radd__ = __add__

    def scaled(self, factor):
        """Every sum multiplied by ``factor`` (for stepwise EM's blending)."""
        arrays = {name: value * factor for name, value in self.arrays.items()}
        return SufficientStats(
            arrays, self.log_likelihood * factor, self.weight_sum * factor, self.shift
        )

    @property
    def mean_log_likelihood(self):
        """Weighted mean log-likelihood per sample."""
        return self.log_likelihood / self.weight_sum
