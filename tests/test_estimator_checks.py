"""scikit-learn's estimator checks, each its own test."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastem import GaussianMixture


def _check_name(check):
    return getattr(check, "func", check).__name__


def _array_api_check_in_subprocess(check):
    """check_array_api_input needs SCIPY_ARRAY_API=1 before SciPy is imported.

    Setting it here would change SciPy for every later test of the session, and
    without it the check ends as a skip; a fresh interpreter runs it instead.
    """
    code = textwrap.dedent(
        f"""
        from sklearn.utils.estimator_checks import check_array_api_input
        from fastem import GaussianMixture

        check_array_api_input("GaussianMixture", GaussianMixture(), **{check.keywords!r})
        print("passed")
        """
    )
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("passed"), done.stdout + done.stderr


def _sample_weight_as_array_like():
    """What check_sample_weights_pandas_series asks, without pandas (not a dependency).

    Weights in a non-ndarray container are read as the same array.
    """
    X = np.random.RandomState(0).normal(size=(40, 2))
    weights = np.random.RandomState(1).uniform(0.5, 2.0, 40)
    as_array = GaussianMixture(2, random_state=0).fit(X, sample_weight=weights)
    for container in (weights.tolist(), memoryview(weights), tuple(weights)):
        fitted = GaussianMixture(2, random_state=0).fit(X, sample_weight=container)
        np.testing.assert_array_equal(fitted.means_, as_array.means_)
        np.testing.assert_array_equal(fitted.covariances_, as_array.covariances_)


@parametrize_with_checks([GaussianMixture()])
def test_sklearn_estimator_check(estimator, check):
    name = _check_name(check)
    if name == "check_array_api_input":
        _array_api_check_in_subprocess(check)
    elif name == "check_sample_weights_pandas_series" and not importlib.util.find_spec("pandas"):
        _sample_weight_as_array_like()
    else:
        check(estimator)
