"""The family contract: what every model family provides to the drivers and estimators.

An EM iteration is a sum over rows (see ``docs/architecture.md``). A *family*
(Gaussian with one covariance type, multivariate Bernoulli, ...) knows how one
chunk of rows turns into additive sufficient statistics under given
parameters, and how statistics turn back into parameters. Everything above it,
the EM loops, the initialisation, out-of-core, online and Dask fits, the
estimators, reaches the numerics only through these methods; nothing else
calls a kernel.

Shapes use ``n`` rows of a chunk, ``D = n_features``, ``K = n_components``.
A chunk ``X`` is what the estimator's validation produced: a C-contiguous
float32/float64 array for Gaussians, uint8 rows or a ``BinaryCSR`` for
Bernoulli. ``sample_weight`` is a float64 array of shape ``(n,)``, or of shape
``(0,)`` meaning every weight is 1 (no N-sized array of ones is ever made).
Statistics are always float64 :class:`fastem._stats.SufficientStats`.

Two static methods are optional (the drivers look for them on the family
class): ``estep_stats_many(families, X, sample_weight, params)``, the
:meth:`Family.estep_stats` of many models of the class on one chunk in one
call (a list, each item exactly what its own call returns), and
``evaluate_many(families, X, sample_weight, params)``, each model's
``(log_likelihood, entropy)`` of its responsibilities, or None for a model it
leaves to :meth:`Family.log_prob`. The Gaussian family has both.
"""

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from .._stats import ColumnMoments, SufficientStats


@runtime_checkable
class Family(Protocol):
    """A model family, constructed with all its state; its methods are pure.

    Attributes
    ----------
    n_components : int
        ``K``.
    n_features : int
        ``D``.
    dtype : numpy.dtype
        dtype of the data the family was made for (float32 or float64 for
        Gaussians); it only changes advice in error messages and never the
        precision of the statistics.
    shift : ndarray of shape (n_features,) or None
        Centre the statistics are summed around (None where none is needed).
    uses_shift : bool
        Class attribute: True when the statistics are summed around a data
        centre (``shift``, given at construction), which the estimator then
        computes in one pass with :meth:`column_moments` before the fit.
    """

    n_components: int
    n_features: int
    dtype: Any
    shift: Any
    uses_shift: ClassVar[bool]

    # -- one EM iteration --------------------------------------------------------------
    def estep_stats(self, X, sample_weight, params) -> SufficientStats:
        """Fused E-step over a chunk: one row-parallel kernel call.

        Returns the chunk's sufficient statistics under ``params`` and, in
        ``log_likelihood``, ``sum_n w_n log p(x_n)``.
        """

    def m_step(self, stats: SufficientStats, reg: float) -> Any:
        """Parameters maximising the expected log-likelihood of ``stats``.

        ``reg`` is the family's regularisation (``reg_covar``, ``alpha``).
        Raises ``ValueError`` (never returns a non-finite model) when the
        statistics cannot give valid parameters.
        """

    # -- prediction ----------------------------------------------------------------------
    def log_prob(self, X, params) -> np.ndarray:
        """Component log-densities ``log p_k(x)``, float64 of shape ``(n, K)``."""

    def n_parameters(self) -> int:
        """Free parameters of the model, for BIC and AIC."""

    def sample(self, params, n_samples: int, rng) -> tuple:
        """``(rows, labels)``: ``n_samples`` rows drawn from the mixture with ``rng``."""

    # -- initialisation (see fastem._init) -----------------------------------------------
    @staticmethod
    def column_moments(X, sample_weight) -> ColumnMoments:
        """Weighted mean and spread per column of a chunk (mergeable with ``+``)."""

    def resp_stats(self, X, sample_weight, resp) -> SufficientStats:
        """Statistics for given responsibilities ``resp`` of shape ``(n, K)``."""

    def hard_stats(self, X, sample_weight, centers) -> SufficientStats:
        """Statistics with every row given to its nearest of ``centers`` (K, D)."""

    def lloyd_stats(self, X, sample_weight, centers) -> SufficientStats:
        """One k-means pass over a chunk.

        ``arrays`` holds ``counts`` (K,) and ``sums`` (K, D) of ``x - c_k`` over
        the rows nearest to centre ``k`` (offsets, so the new centre
        ``c_k + sums_k / counts_k`` has no cancellation); ``log_likelihood`` is
        minus the weighted inertia.
        """

    def nearest(self, X, centers) -> tuple:
        """``(labels, sq_dist)``: each row's nearest centre and squared distance."""

    def sq_distances(self, X, centers) -> np.ndarray:
        """Squared distances of every row to every centre, shape ``(n, len(centers))``."""

    def dense_rows(self, X, indices) -> np.ndarray:
        """Rows ``indices`` of a chunk as float64 ``(len(indices), D)`` points."""


__all__ = ["Family"]
