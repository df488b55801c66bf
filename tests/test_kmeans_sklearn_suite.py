"""scikit-learn's own KMeans tests, run against fastem.KMeans.

The installed ``sklearn/cluster/tests/test_k_means.py`` is compiled with its
``from sklearn.cluster import KMeans`` replaced by ``from fastem import KMeans``
(an edit of the syntax tree that keeps scikit-learn's line numbers, so a
failure points at its source), and its test functions become this module's:
pytest collects and reports them here. So the drop-in claim is checked by the
tests of the scikit-learn version installed, new tests included. Left out,
each with its reason in :data:`EXCLUDED`: tests of scikit-learn's private
helpers, of its ``k_means`` and ``kmeans_plusplus`` functions and of
``MiniBatchKMeans`` (which stays scikit-learn's), and the ``MiniBatchKMeans``
cases of tests parametrised over both estimators.

``global_random_seed`` and ``global_dtype``, fixtures of scikit-learn's
conftest, are defined below: the seed as scikit-learn picks it (42, or
``SKLEARN_TESTS_GLOBAL_RANDOM_SEED``: an integer, ``a-b`` or ``all``), the
dtype float32 and float64 always (scikit-learn runs float32 only on request;
fastem keeps float32 data float32 end to end).
"""

import ast
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import fastem

#: Tests of the installed file that are not run, and why. Behaviour of
#: fastem's that some of them stand for is tested in tests/test_kmeans.py
#: (named in the reasons).
EXCLUDED = {
    # scikit-learn's private helpers (fastem has its own, tested in tests/).
    "test_relocate_empty_clusters": (
        "private _relocate_empty_clusters_dense/_sparse; fastem's relocation: "
        "test_kmeans.py::test_empty_cluster_moves_to_the_farthest_row_as_in_sklearn"
    ),
    "test_minibatch_update_consistency": "private _mini_batch_step and _labels_inertia",
    "test_minibatch_reassign": "private _mini_batch_step and _labels_inertia",
    "test_euclidean_distance": "private _euclidean_dense_dense/_sparse_dense_wrapper",
    "test_inertia": "private _inertia_dense/_inertia_sparse",
    "test_is_same_clustering": "private _is_same_clustering",
    "test_sample_weight_init": (
        "private KMeans._init_centroids; the same check on fastem's seeding: "
        "test_kmeans.py::test_seeding_uses_the_sample_weights"
    ),
    "test_sample_weight_zero": (
        "private KMeans._init_centroids; the same check on fastem's seeding: "
        "test_kmeans.py::test_rows_of_weight_zero_are_never_seeds"
    ),
    # scikit-learn's functions, not the estimator (fastem has neither).
    "test_k_means_function": "sklearn.cluster.k_means",
    "test_kmeans_plusplus_wrong_params": "sklearn.cluster.kmeans_plusplus",
    "test_kmeans_plusplus_output": "sklearn.cluster.kmeans_plusplus",
    "test_kmeans_plusplus_norms": "sklearn.cluster.kmeans_plusplus",
    "test_kmeans_plusplus_dataorder": "sklearn.cluster.kmeans_plusplus",
    # MiniBatchKMeans only (KMeans.partial_fit is tested in tests/test_kmeans.py
    # against MiniBatchKMeans without reassignment).
    "test_minibatch_kmeans_partial_fit_init": "MiniBatchKMeans only",
    "test_minibatch_kmeans_verbose": "MiniBatchKMeans only",
    "test_minibatch_kmeans_warning_init_size": "MiniBatchKMeans only",
    "test_minibatch_sensible_reassign": "MiniBatchKMeans only",
    "test_minibatch_with_many_reassignments": "MiniBatchKMeans only",
    "test_minibatch_kmeans_init_size": "MiniBatchKMeans only",
    "test_minibatch_declared_convergence": "MiniBatchKMeans only",
    "test_minibatch_iter_steps": "MiniBatchKMeans only",
}


def _installed_test_file():
    spec = importlib.util.find_spec("sklearn.cluster.tests.test_k_means")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "scikit-learn's tests (sklearn/cluster/tests/test_k_means.py) are not installed; "
            "this module runs them against fastem.KMeans."
        )
    return Path(spec.origin)


def _swap_kmeans(tree):
    """Rebind ``KMeans`` to fastem's where the module imports it from sklearn.cluster."""
    swapped = 0
    body = []
    for node in tree.body:
        body.append(node)
        if not (isinstance(node, ast.ImportFrom) and node.module == "sklearn.cluster"):
            continue
        names = [alias for alias in node.names if (alias.asname or alias.name) == "KMeans"]
        if not names:
            continue
        if names[0].name != "KMeans":
            raise RuntimeError(f"unexpected import of KMeans as {names[0].name}")
        node.names = [alias for alias in node.names if alias not in names]
        fastem_import = ast.ImportFrom(module="fastem", names=[ast.alias("KMeans")], level=0)
        body.append(ast.copy_location(fastem_import, node))
        if not node.names:
            body.remove(node)
        swapped += 1
    if swapped != 1:
        raise RuntimeError(f"expected one import of KMeans from sklearn.cluster, found {swapped}")
    tree.body = body
    return ast.fix_missing_locations(tree)


def _load_suite():
    path = _installed_test_file()
    tree = _swap_kmeans(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    namespace = {"__name__": "sklearn_test_k_means_on_fastem", "__file__": str(path)}
    exec(compile(tree, str(path), "exec"), namespace)
    return namespace


_SUITE = _load_suite()
_PARAMETER_SET = type(pytest.param(None))


def _without_minibatch(function):
    """``function`` with the parametrisation cases that involve MiniBatchKMeans removed."""
    marks = []
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize":
            argnames, argvalues = mark.args[0], list(mark.args[1])
            multiple = len(argnames.split(",") if isinstance(argnames, str) else argnames) > 1
            ids = mark.kwargs.get("ids")
            keep = []
            for value in argvalues:
                if isinstance(value, _PARAMETER_SET):
                    values = value.values
                else:
                    values = value if multiple else (value,)
                keep.append(not any(v is _SUITE["MiniBatchKMeans"] for v in values))
            if not all(keep):
                kwargs = dict(mark.kwargs)
                if isinstance(ids, list | tuple):
                    kwargs["ids"] = [i for i, k in zip(ids, keep, strict=True) if k]
                kept = [v for v, k in zip(argvalues, keep, strict=True) if k]
                mark = pytest.mark.parametrize(argnames, kept, **kwargs).mark
        marks.append(mark)
    function.pytestmark = marks
    return function


def _parameter_values(function):
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "parametrize":
            for value in mark.args[1]:
                values = value.values if isinstance(value, _PARAMETER_SET) else value
                yield from values if isinstance(values, tuple) else (values,)


def _exercises_kmeans(function):
    """Whether the test calls KMeans by name or is parametrised with it."""
    return "KMeans" in function.__code__.co_names or any(
        v is fastem.KMeans for v in _parameter_values(function)
    )


SKLEARN_TESTS = {
    name: _without_minibatch(obj)
    for name, obj in _SUITE.items()
    if name.startswith("test") and callable(obj) and name not in EXCLUDED
}
globals().update(SKLEARN_TESTS)


def _global_random_seeds():
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if value is None:
        return [42]
    if value == "all":
        return list(range(100))
    if "-" in value:
        start, stop = map(int, value.split("-"))
        return list(range(start, stop + 1))
    return [int(value)]


@pytest.fixture(params=_global_random_seeds())
def global_random_seed(request):
    """scikit-learn's seed fixture (42 unless SKLEARN_TESTS_GLOBAL_RANDOM_SEED says)."""
    return request.param


@pytest.fixture(params=[np.float32, np.float64])
def global_dtype(request):
    """scikit-learn's dtype fixture, with float32 always on."""
    return request.param


# -- the harness itself --------------------------------------------------------------------
def test_the_suite_runs_on_fastem():
    assert _SUITE["KMeans"] is fastem.KMeans
    assert len(SKLEARN_TESTS) >= 30


def test_every_exclusion_names_a_test_of_the_installed_file():
    # A stale entry (a test renamed or dropped by scikit-learn) must be looked at again.
    stale = sorted(set(EXCLUDED) - {n for n in _SUITE if n.startswith("test")})
    assert not stale, f"not in {_installed_test_file()}: {stale}"


def test_no_kept_test_lost_every_case():
    # pytest would skip a test left with no parameters; such a test belongs in EXCLUDED.
    empty = sorted(
        name
        for name, function in SKLEARN_TESTS.items()
        for mark in getattr(function, "pytestmark", [])
        if mark.name == "parametrize" and not list(mark.args[1])
    )
    assert not empty, f"tests left without parameters: {empty}"


def test_every_kept_test_exercises_fastem():
    # A kept test that never reaches KMeans would pass on scikit-learn alone.
    idle = sorted(name for name, f in SKLEARN_TESTS.items() if not _exercises_kmeans(f))
    assert not idle, f"tests that do not use KMeans belong in EXCLUDED: {idle}"
