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


class ColumnMoments:
    """Weight, mean and sum of squared deviations per column, mergeable with ``+``.

    Chunks are merged with Chan et al.'s pairwise update, so the result does
    not depend on how the rows were chunked (beyond round-off) and stays
    accurate for data far from the origin.

    Parameters
    ----------
    weight : float
        Sum of the weights of the rows.
    mean : ndarray of shape (n_features,)
        Weighted column means.
    m2 : ndarray of shape (n_features,)
        Weighted sums of squared deviations from ``mean``.
    """

    def __init__(self, weight, mean, m2):
        self.weight, self.mean, self.m2 = weight, mean, m2

    @classmethod
    def from_sums(cls, origin, weight, s1, s2):
        """Moments from sums ``s1 = sum w (x - origin)``, ``s2 = sum w (x - origin)^2``."""
        if weight <= 0:
            return cls(0.0, origin, np.zeros_like(origin))
        offset = s1 / weight
        return cls(weight, origin + offset, np.maximum(s2 - weight * offset**2, 0.0))

    def __add__(self, other):
        if other.weight <= 0:
            return self
        if self.weight <= 0:
            return other
        weight = self.weight + other.weight
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.weight / weight)
        m2 = self.m2 + other.m2 + delta**2 * (self.weight * other.weight / weight)
        return ColumnMoments(weight, mean, m2)
