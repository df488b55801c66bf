"""scikit-learn's estimator checks on MixtureSelector, with a small grid so that they run fast."""

import os
import subprocess
import sys
import textwrap

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastem import BernoulliMixture, MixtureSelector

SELECTORS = [
    MixtureSelector(n_components=[1, 2], n_init=3),
    MixtureSelector(BernoulliMixture(), n_components=[1, 2], n_init=3),
]

#: As in tests/test_estimator_checks.py: scikit-learn 1.9's sparse checks read
#: ``tags.classifier_tags.multi_class`` of any estimator with predict_proba
#: (None for density estimators); only that exact failure is accepted.
SPARSE_PROBA_CHECKS = {"check_estimator_sparse_array", "check_estimator_sparse_matrix"}


def _check_name(check):
    return getattr(check, "func", check).__name__


def _array_api_check_in_subprocess(estimator, check):
    """check_array_api_input needs SCIPY_ARRAY_API=1 before SciPy is imported."""
    code = textwrap.dedent(
        f"""
        from sklearn.utils.estimator_checks import check_array_api_input
        from fastem import BernoulliMixture, MixtureSelector

        estimator = {estimator!r}
        check_array_api_input(type(estimator).__name__, estimator, **{check.keywords!r})
        print("passed")
        """
    )
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("passed"), done.stdout + done.stderr


@parametrize_with_checks(SELECTORS)
@pytest.mark.filterwarnings("ignore:Every candidate has a degenerate component")
def test_sklearn_estimator_check(estimator, check):
    name = _check_name(check)
    if name == "check_array_api_input":
        _array_api_check_in_subprocess(estimator, check)
    elif name in SPARSE_PROBA_CHECKS and isinstance(estimator.estimator, BernoulliMixture):
        with pytest.raises(Exception) as info:
            check(estimator)
        cause = info.value.__cause__ or info.value
        assert isinstance(cause, AttributeError) and "multi_class" in str(cause), info.value
    else:
        check(estimator)
