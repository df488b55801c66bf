"""scikit-learn's estimator checks on TabularMixture at K=1 and K=2 (NumPy input: all gaussian).

The full-covariance block at K=2 too: with all columns gaussian it is the
whole model, through the Gaussian family's kernels.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from fastem import TabularMixture
from test_estimator_checks import _array_api_check_in_subprocess, _check_name


@parametrize_with_checks(
    [
        TabularMixture(),
        TabularMixture(n_components=2),
        TabularMixture(n_components=2, covariance_type="full"),
    ]
)
def test_sklearn_estimator_check(estimator, check):
    if _check_name(check) == "check_array_api_input":
        _array_api_check_in_subprocess(estimator, check)
    else:
        check(estimator)
