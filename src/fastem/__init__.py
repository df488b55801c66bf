"""fastem: mixture models fitted by EM on fused, parallel Numba kernels."""

from . import dask as _dask  # noqa: F401  (registers the Dask adapter with the sources)
from ._io import load
from ._version import __version__
from .bernoulli import BernoulliMixture
from .gaussian import GaussianMixture
from .impute import MixtureImputer
from .kmeans import KMeans
from .selection import MixtureSelector
from .tabular import TabularMixture

__all__ = [
    "BernoulliMixture",
    "GaussianMixture",
    "KMeans",
    "MixtureImputer",
    "MixtureSelector",
    "TabularMixture",
    "load",
    "__version__",
]
