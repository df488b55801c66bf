"""fastem: mixture models fitted by EM on fused, parallel Numba kernels."""

from .gaussian import GaussianMixture

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "__version__"]
