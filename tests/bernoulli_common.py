"""What the BernoulliMixture test modules share: starts, containers, strict input."""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fastem import BernoulliMixture

INITS = ["kmeans", "k-means++", "random", "random_from_data"]

CONTAINERS = {
    "dense": lambda X: X,
    "csr": sp.csr_matrix,
    "csc": sp.csc_matrix,
    "csr_array": sp.csr_array,
}

#: Keyword arguments under which BernoulliMixture refuses values other than 0 and 1.
#: Where the estimator binarises its input by default (``binarize=0.0``, as
#: scikit-learn's BernoulliNB), the tests of binary input pass ``binarize=None``.
STRICT = {"binarize": None} if "binarize" in BernoulliMixture().get_params() else {}


def start(n_components, n_features, seed=1):
    """Initial parameters in the interior, shared by fastem and the reference."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(n_components)), rng.uniform(0.2, 0.8, (n_components, n_features))


def fit_from(X, weights, means, n_iter, sample_weight=None, **kwargs):
    """``n_iter`` EM iterations from the given parameters, without a convergence stop."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return BernoulliMixture(
            len(weights), weights_init=weights, means_init=means, max_iter=n_iter, tol=0, **kwargs
        ).fit(X, sample_weight=sample_weight)
