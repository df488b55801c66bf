"""Model families: parameters <-> sufficient statistics, on the Numba kernels.

Each family implements :class:`Family` (``families/_contract.py``); drivers and
estimators reach the kernels only through it. See ``docs/architecture.md``.
"""

from ._contract import Family
from .bernoulli import BernoulliFamily, BernoulliParams
from .binary import BinaryCSR
from .gaussian import GaussianFamily, GaussianParams
from .kmeans import KMeansFamily, KMeansParams

__all__ = [
    "BernoulliFamily",
    "BernoulliParams",
    "BinaryCSR",
    "Family",
    "GaussianFamily",
    "GaussianParams",
    "KMeansFamily",
    "KMeansParams",
]
