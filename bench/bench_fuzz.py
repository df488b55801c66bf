"""The long run of the API fuzzing of ``tests/test_fuzz.py``.

CI runs a few derandomised examples per estimator (``tests/test_fuzz.py``); this
runs the same properties on many more: ``FASTEM_BENCH_FULL=1`` for 2,000
random examples per estimator (and prints how they ended: fitted, or which
error), ten derandomised ones otherwise. A failing example is shrunk and
printed by hypothesis (with the blob that reproduces it); commit it as a
``test_regression_*`` test in ``tests/test_fuzz.py``.

    FASTEM_BENCH_FULL=1 python -m pytest bench/bench_fuzz.py -s -p no:cacheprovider
"""

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import fastem
from _common import FULL, size
from fastem import BernoulliMixture, GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_fuzz as fuzz  # noqa: E402

LONG = settings(
    max_examples=size(2000, 10),
    derandomize=not FULL,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@pytest.fixture(autouse=True)
def _outcomes():
    fuzz.OUTCOMES.clear()
    yield
    if FULL:
        print()
        for outcome, count in fuzz.OUTCOMES.most_common(25):
            print(f"  {count:6d}  {outcome}")


@LONG
@given(fuzz.gaussian_cases())
def test_fuzz_gaussian_mixture(case):
    fuzz.check_mixture_case(GaussianMixture, case)


@LONG
@given(fuzz.bernoulli_cases())
def test_fuzz_bernoulli_mixture(case):
    fuzz.check_mixture_case(BernoulliMixture, case)


@pytest.mark.skipif("KMeans" not in fastem.__all__, reason="no KMeans in this fastem")
@LONG
@given(fuzz.kmeans_cases())
def test_fuzz_kmeans(case):
    fuzz.check_kmeans_case(case)


@pytest.mark.skipif("MixtureSelector" not in fastem.__all__, reason="no MixtureSelector")
@LONG
@given(fuzz.selector_cases())
def test_fuzz_mixture_selector(case):
    fuzz.check_selector_case(case)
