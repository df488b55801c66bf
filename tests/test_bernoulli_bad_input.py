"""BernoulliMixture: bad input gets a clear ValueError that names the problem."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval

from bernoulli_common import STRICT
from fastem import BernoulliMixture


def _alpha_zero_allowed():
    """Whether ``alpha=0`` (the maximum-likelihood M-step) is a valid parameter."""
    return any(
        isinstance(c, Interval) and c.is_satisfied_by(0.0)
        for c in BernoulliMixture._parameter_constraints["alpha"]
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda X: X + 0.5 * (X == 0), r"\(row 0, column 0\)"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, 2, X), "value 2"),
        (lambda X: sp.csr_matrix(np.where(X == 1, 3.0, 0.0)), "entries are neither 0 nor 1"),
        (lambda X: sp.csc_matrix(-X), "Negative values in data"),
    ],
)
def test_non_binary_input_is_rejected(make, message):
    X = np.zeros((6, 4))
    X[1:, 2] = 1.0
    X[0, 1] = 1.0
    with pytest.raises(ValueError, match=message):
        BernoulliMixture(2, **STRICT).fit(make(X))


def test_non_binary_error_names_count_and_first_position():
    X = np.zeros((50, 6), dtype=np.int64)
    X[30, 4] = 5
    X[40, 1] = -1
    X[41, 0] = 2
    msg = re.escape("3 entries are neither 0 nor 1, the first at (row 30, column 4) with value 5")
    with pytest.raises(ValueError, match=msg):
        BernoulliMixture(2, **STRICT).fit(X)
    with pytest.raises(ValueError, match=msg):
        BernoulliMixture(2, **STRICT).fit(sp.csc_matrix(X))
    # Duplicated COO entries are summed before the check: 1 + 1 = 2 is not binary.
    dup = sp.coo_matrix((np.ones(3), ([0, 0, 1], [1, 1, 2])), shape=(4, 3))
    with pytest.raises(
        ValueError, match=re.escape("1 entry is neither 0 nor 1, the first at (row 0, column 1)")
    ):
        BernoulliMixture(2, **STRICT).fit(dup)
    fitted = BernoulliMixture(2, random_state=0, **STRICT).fit(np.eye(6)[:, :6])
    with pytest.raises(ValueError, match="neither 0 nor 1"):
        fitted.predict(np.full((2, 6), 0.25))


@pytest.mark.parametrize(
    ("container", "value"),
    [(np.asarray, np.inf), (sp.csr_matrix, np.inf), (sp.csr_matrix, np.nan)],
)
def test_nan_and_inf_are_rejected(container, value):
    # NaN in dense input is a missing value (tests/test_bernoulli_missing.py).
    X = np.eye(5)
    X[2, 3] = value
    with pytest.raises(ValueError, match="NaN|infinity"):
        BernoulliMixture(2).fit(container(X))


def test_shape_and_parameter_errors():
    X = np.eye(6)
    with pytest.raises(ValueError, match="2D array"):
        BernoulliMixture(2).fit(np.ones(6))
    with pytest.raises(ValueError, match="dim 3"):
        BernoulliMixture(2).fit(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        BernoulliMixture(7).fit(X)
    bad_alphas = [-1.0, np.nan, np.inf, "small"]
    if not _alpha_zero_allowed():
        bad_alphas.append(0)
    for alpha in bad_alphas:
        with pytest.raises(ValueError, match="alpha"):
            BernoulliMixture(2, alpha=alpha).fit(X)
    with pytest.raises(ValueError, match="Negative values"):
        BernoulliMixture(2).fit(X, sample_weight=-np.ones(6))
    with pytest.raises(ValueError, match="at least one (positive|non-zero)"):
        BernoulliMixture(2).fit(X, sample_weight=np.zeros(6))
    with pytest.raises(ValueError, match="positive weight"):
        BernoulliMixture(3).fit(X, sample_weight=np.r_[1.0, 1.0, np.zeros(4)])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        BernoulliMixture(2, means_init=np.vstack([np.full(6, 0.5), np.eye(6)[0]])).fit(X)
    with pytest.raises(ValueError, match="shape"):
        BernoulliMixture(2, means_init=np.full((2, 5), 0.5)).fit(X)
    with pytest.raises(ValueError, match="normalized"):
        BernoulliMixture(2, weights_init=[0.5, 0.6]).fit(X)


def test_not_fitted_and_wrong_features():
    X = np.eye(6)
    bm = BernoulliMixture(2)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(NotFittedError):
            getattr(bm, method)(X)
    with pytest.raises(NotFittedError):
        bm.sample(3)
    bm.fit(X)
    assert bm.n_features_in_ == 6
    for bad in (np.eye(5), sp.csr_matrix(np.eye(7))):
        with pytest.raises(ValueError, match="features"):
            bm.predict(bad)
