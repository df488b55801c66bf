"""``n_init`` restarts in the same passes: each restart as fitted alone, fewer passes.

GaussianMixture(n_init > 1) and BernoulliMixture(n_init > 1) initialise every
restart first (shared passes, the draws in the order of sequential restarts)
and then advance them together: every EM pass reads each chunk once for all
restarts still iterating.
"""

import io
import re
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastem._restarts
from fastem import BernoulliMixture, GaussianMixture
from fastem._settings import override
from synthetic import CountingChunks, make_binary, make_blobs

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def rows():
    return make_blobs(n_samples=600, n_features=3, n_components=3, separation=2.5, seed=7)[0]


@pytest.fixture(scope="module")
def weights(rows):
    return np.random.default_rng(2).uniform(0.2, 3.0, len(rows))


@pytest.fixture(scope="module")
def binary():
    return make_binary(n_samples=400, n_features=10, n_components=3, seed=3)[0]


def fit_alone(make, X, w, n_init, seed):
    """Each restart fitted alone (``n_init=1``), its start drawn from one shared generator
    as the restarts of ``n_init`` draw theirs: ``(models, passes of each)``."""
    generator = np.random.RandomState(seed)
    models, passes = [], []
    for _ in range(n_init):
        source = CountingChunks(X, w, chunk=130)
        models.append(make(n_init=1, random_state=generator).fit(source))
        passes.append(source.passes)
    return models, passes


def fit_together(make, X, w, n_init, seed, monkeypatch):
    """The ``n_init`` fit, with its restarts (the ``_multi.Run`` objects) and its passes."""
    captured = []
    original = fastem._restarts.advance

    def capturing(runs, *args, **kwargs):
        captured.append(runs)
        return original(runs, *args, **kwargs)

    monkeypatch.setattr(fastem._restarts, "advance", capturing)
    source = CountingChunks(X, w, chunk=130)
    model = make(n_init=n_init, random_state=seed).fit(source)
    monkeypatch.undo()
    assert len(captured) == 1 and len(captured[0]) == n_init
    return model, captured[0], source.passes


def _parameter_names(model):
    names = ["weights_", "means_"]
    if hasattr(model, "covariances_"):
        names += ["covariances_", "precisions_cholesky_"]
    return names


def assert_run_is_alone(run, alone):
    """A restart advanced with others is, bit for bit, the same restart fitted alone."""
    params = {"weights_": run.params.weights, "means_": run.params.means}
    if hasattr(alone, "covariances_"):
        params["covariances_"] = run.params.covariances
        params["precisions_cholesky_"] = run.params.precisions_cholesky
    for name, value in params.items():
        np.testing.assert_array_equal(value, getattr(alone, name), err_msg=name)
    assert run.lower_bounds == alone.lower_bounds_
    assert (run.n_iter, run.converged) == (alone.n_iter_, alone.converged_)


def assert_same_model(a, b):
    for name in _parameter_names(a):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.n_iter_, a.converged_, a.lower_bound_) == (b.n_iter_, b.converged_, b.lower_bound_)
    assert a.lower_bounds_ == b.lower_bounds_


def best_of(models):
    """The kept restart: the highest lower bound, the first of equal ones."""
    best = models[0]
    for model in models[1:]:
        if model.lower_bound_ > best.lower_bound_:
            best = model
    return best


def _gaussian(covariance_type, **fixed):
    def make(**kwargs):
        return GaussianMixture(
            4, covariance_type=covariance_type, tol=1e-5, max_iter=200, **fixed, **kwargs
        )

    return make


# -- the same restarts --------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_each_restart_equals_the_restart_alone(rows, weights, covariance_type, monkeypatch):
    make = _gaussian(covariance_type)
    together, runs, _ = fit_together(make, rows, weights, 3, 5, monkeypatch)
    alone, _ = fit_alone(make, rows, weights, 3, 5)
    for run, model in zip(runs, alone, strict=True):
        assert_run_is_alone(run, model)
    # Restarts that end at different iterations: some stop while others go on.
    assert len({model.n_iter_ for model in alone}) > 1
    assert_same_model(together, best_of(alone))


@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++"])
def test_every_initialisation_draws_as_sequential_restarts(
    rows, weights, init_params, monkeypatch
):
    make = _gaussian("diag", init_params=init_params)
    together, runs, _ = fit_together(make, rows, weights, 3, 11, monkeypatch)
    alone, _ = fit_alone(make, rows, weights, 3, 11)
    for run, model in zip(runs, alone, strict=True):
        assert_run_is_alone(run, model)
    assert_same_model(together, best_of(alone))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_seeding_samples_draw_as_sequential_restarts(rows, weights, init_params, monkeypatch):
    # A seeding sample under a quarter of the rows is drawn without a permutation
    # of every row index; the restarts must draw it as a restart alone does.
    make = _gaussian("diag", init_params=init_params)
    with override(seeding_sample_rows=len(rows) // 6):
        together, runs, _ = fit_together(make, rows, weights, 3, 13, monkeypatch)
        alone, _ = fit_alone(make, rows, weights, 3, 13)
    for run, model in zip(runs, alone, strict=True):
        assert_run_is_alone(run, model)
    assert_same_model(together, best_of(alone))


def test_bernoulli_restarts_equal_the_restarts_alone(binary, monkeypatch):
    w = np.random.default_rng(5).integers(1, 4, len(binary)).astype(float)

    def make(**kwargs):
        return BernoulliMixture(3, tol=1e-6, max_iter=200, **kwargs)

    together, runs, _ = fit_together(make, binary, w, 3, 4, monkeypatch)
    alone, _ = fit_alone(make, binary, w, 3, 4)
    for run, model in zip(runs, alone, strict=True):
        assert_run_is_alone(run, model)
    assert_same_model(together, best_of(alone))


def test_missing_values_draw_as_sequential_restarts(rows):
    X = rows.copy()
    X[np.random.RandomState(0).random_sample(X.shape) < 0.15] = np.nan
    X[:5] = np.nan  # rows without an observed value never seed random_from_data
    for init_params in ("random_from_data", "kmeans"):
        make = _gaussian("full", init_params=init_params)
        together = make(n_init=3, random_state=2).fit(X)
        generator = np.random.RandomState(2)
        alone = [make(random_state=generator).fit(X) for _ in range(3)]
        assert_same_model(together, best_of(alone))


# -- passes over the data -------------------------------------------------------------------
def test_gaussian_n_init_4_reads_the_data_once_per_iteration(rows, weights, monkeypatch):
    make = _gaussian("full", init_params="k-means++")
    together, runs, passes = fit_together(make, rows, weights, 4, 1, monkeypatch)
    alone, alone_passes = fit_alone(make, rows, weights, 4, 1)
    n_iter = [model.n_iter_ for model in alone]
    # One pass validates the rows and finds their centre, one gathers the
    # k-means++ seeding sample (every row, kept for all restarts), then EM.
    assert alone_passes == [2 + n for n in n_iter]
    assert passes == 2 + max(n_iter)
    # As often as the slowest restart alone, not the sum of the restarts.
    assert passes == max(alone_passes) < sum(alone_passes) - 3 * 2


def test_bernoulli_n_init_3_reads_the_data_once_per_iteration(binary, monkeypatch):
    def make(**kwargs):
        return BernoulliMixture(4, tol=1e-6, max_iter=200, **kwargs)

    together, runs, passes = fit_together(make, binary, None, 3, 0, monkeypatch)
    alone, alone_passes = fit_alone(make, binary, None, 3, 0)
    n_iter = [model.n_iter_ for model in alone]
    # Alone: validation, k-means (seeding sample, Lloyd passes, assignment) and
    # EM. Together: the longest k-means and the longest EM, each pass shared.
    initialisation = [p - n for p, n in zip(alone_passes, n_iter, strict=True)]
    assert len(set(initialisation)) > 1 or len(set(n_iter)) > 1
    assert passes == max(initialisation) + max(n_iter)
    assert passes <= max(alone_passes) + max(initialisation) < sum(alone_passes)


# -- what the fit shows ------------------------------------------------------------------
def test_callback_sees_every_restart_and_stops_one(rows, weights, monkeypatch):
    make = _gaussian("diag")
    alone, _ = fit_alone(make, rows, weights, 3, 5)
    calls = []
    together = make(n_init=3, random_state=5, callback=lambda i, lb: calls.append((i, lb))).fit(
        CountingChunks(rows, weights, chunk=130)
    )
    # Every restart's every iteration, pass by pass, in restart order within a pass.
    expected = [(i, lb) for i in range(1, 201) for m in alone for lb in m.lower_bounds_[i - 1 : i]]
    assert calls == expected
    assert_same_model(together, best_of(alone))
    # A true return stops that restart, and only that one (as with sequential restarts).
    stopped, _ = fit_together(
        _gaussian("diag", callback=lambda i, lb: i == 2 and lb == alone[0].lower_bounds_[1]),
        rows,
        weights,
        3,
        5,
        monkeypatch,
    )[1:]
    assert stopped[0].n_iter == 2 and not stopped[0].converged
    for run, model in zip(stopped[1:], alone[1:], strict=True):
        assert_run_is_alone(run, model)


def test_verbose_prints_each_restart_in_order(binary):
    def make(**kwargs):
        return BernoulliMixture(3, tol=1e-6, max_iter=100, init_params="random", **kwargs)

    generator = np.random.RandomState(0)
    alone = [make(random_state=generator).fit(binary) for _ in range(3)]
    for verbose in (1, 2):
        out = io.StringIO()
        with redirect_stdout(out):
            make(n_init=3, random_state=0, verbose=verbose, verbose_interval=3).fit(binary)
        lines = out.getvalue().splitlines()
        starts = [i for i, line in enumerate(lines) if re.fullmatch(r"Initialization \d", line)]
        assert [lines[i] for i in starts] == [f"Initialization {i}" for i in range(3)]
        for index, (begin, end) in enumerate(zip(starts, [*starts[1:], len(lines)], strict=True)):
            block = lines[begin + 1 : end]
            iterations = [int(re.match(r"  Iteration (\d+)", line)[1]) for line in block[:-1]]
            n_iter = alone[index].n_iter_
            assert iterations == list(range(3, n_iter + 1, 3))
            assert block[-1].startswith("Initialization converged.")
            if verbose == 2:
                bound = float(re.search(r"lower bound (-?[0-9.]+)\.$", block[-1])[1])
                assert bound == pytest.approx(alone[index].lower_bound_, abs=1e-5)


def test_max_iter_0_keeps_the_last_start(rows):
    together = GaussianMixture(4, covariance_type="tied", max_iter=0, n_init=3, random_state=3)
    together.fit(rows)
    generator = np.random.RandomState(3)
    alone = [
        GaussianMixture(4, covariance_type="tied", max_iter=0, random_state=generator).fit(rows)
        for _ in range(3)
    ]
    # Every bound is -inf: as in scikit-learn, the last start is kept.
    assert together.lower_bound_ == -np.inf and together.n_iter_ == 0
    for name in _parameter_names(together):
        np.testing.assert_array_equal(getattr(together, name), getattr(alone[-1], name))


def test_a_failing_restart_fails_the_fit_and_leaves_the_estimator(rows):
    # Every row twice at three points: without reg_covar a component collapses.
    X = np.repeat(rows[:3], 50, axis=0)
    model = GaussianMixture(3, reg_covar=0.0, n_init=3, random_state=0, init_params="random")
    with pytest.raises(ValueError, match="ill-defined empirical covariance|positive"):
        model.fit(X)
    assert not hasattr(model, "weights_")
    fitted = GaussianMixture(2, n_init=2, random_state=0).fit(rows)
    before = fitted.means_.copy()
    with pytest.raises(ValueError):
        fitted.set_params(n_components=3, reg_covar=0.0, init_params="random").fit(X)
    np.testing.assert_array_equal(fitted.means_, before)
