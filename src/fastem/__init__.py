"""fastem: mixture models fitted by EM on fused, parallel Numba kernels."""

from ._io import load
from .bernoulli import BernoulliMixture
from .gaussian import GaussianMixture

__version__ = "0.1.0"

__all__ = ["BernoulliMixture", "GaussianMixture", "load", "__version__"]
