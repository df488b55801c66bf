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
    weight : float or ndarray of shape (n_features,)
        Sum of the weights of the rows; per column (the weight of its observed
        values) where some values are missing.
    mean : ndarray of shape (n_features,)
        Weighted column means (of the observed values).
    m2 : ndarray of shape (n_features,)
        Weighted sums of squared deviations from ``mean``.
    n_missing : int, default=0
        Number of missing values (NaN) seen.
    """

    def __init__(self, weight, mean, m2, n_missing=0):
        self.weight, self.mean, self.m2 = weight, mean, m2
        self.n_missing = n_missing

    @classmethod
    def from_sums(cls, origin, weight, s1, s2, n_missing=0):
        """Moments from sums ``s1 = sum w (x - origin)``, ``s2 = sum w (x - origin)^2``."""
        if np.ndim(weight):
            seen = weight > 0
            offset = np.where(seen, s1 / np.where(seen, weight, 1.0), 0.0)
            m2 = np.where(seen, np.maximum(s2 - weight * offset**2, 0.0), 0.0)
            return cls(np.asarray(weight, dtype=np.float64), origin + offset, m2, n_missing)
        if weight <= 0:
            return cls(0.0, origin, np.zeros_like(origin), n_missing)
        offset = s1 / weight
        return cls(weight, origin + offset, np.maximum(s2 - weight * offset**2, 0.0), n_missing)

    def __add__(self, other):
        n_missing = self.n_missing + other.n_missing
        if np.ndim(self.weight) or np.ndim(other.weight):
            # Per-column weights (missing values): the same update, column by column; a
            # column without weight on one side takes the other side's moments.
            wa, wb = self.weight, other.weight
            weight = wa + wb
            safe = np.where(weight > 0, weight, 1.0)
            delta = np.where((wa > 0) & (wb > 0), other.mean - self.mean, 0.0)
            mean = np.where(wa > 0, self.mean + delta * (wb / safe), other.mean)
            m2 = self.m2 + other.m2 + delta**2 * (wa * wb / safe)
            return ColumnMoments(weight * np.ones_like(mean), mean, m2, n_missing)
        if other.weight <= 0:
            return ColumnMoments(self.weight, self.mean, self.m2, n_missing)
        if self.weight <= 0:
            return ColumnMoments(other.weight, other.mean, other.m2, n_missing)
        weight = self.weight + other.weight
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.weight / weight)
        m2 = self.m2 + other.m2 + delta**2 * (self.weight * other.weight / weight)
        return ColumnMoments(weight, mean, m2, n_missing)
