"""Fitting on Dask arrays: a real LocalCluster with worker processes, and no client."""

import subprocess
import sys

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

from fastem import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
N_ROWS = 200_000


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 6.0, 6.0], [-6.0, 6.0, 0.0]])
    X = rng.standard_normal((N_ROWS, 3)) * [1.0, 0.7, 1.3] + centres[rng.integers(0, 3, N_ROWS)]
    weights = rng.uniform(0.0, 2.0, N_ROWS)
    return X, weights


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _initial(X, covariance_type):
    seed = GaussianMixture(
        3,
        covariance_type=covariance_type,
        init_params="random_from_data",
        random_state=1,
        max_iter=0,
    ).fit(X[:5000])
    # max_iter=0 keeps scikit-learn's unnormalised initial weights: normalise them.
    return dict(
        weights_init=seed.weights_ / seed.weights_.sum(),
        means_init=seed.means_,
        precisions_init=seed.precisions_,
    )


def _assert_same_model(a, b):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-12)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_cluster_fit_equals_in_memory(client, rows, covariance_type):
    X, weights = rows
    params = dict(covariance_type=covariance_type, tol=1e-6, **_initial(X, covariance_type))
    expected = GaussianMixture(3, **params).fit(X, sample_weight=weights)
    X_dask = client.persist(da.from_array(X, chunks=(N_ROWS // 8, 3)))
    w_dask = client.persist(da.from_array(weights, chunks=(N_ROWS // 8,)))
    fitted = GaussianMixture(3, **params).fit(X_dask, sample_weight=w_dask)
    _assert_same_model(fitted, expected)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_synchronous_scheduler_fit_equals_in_memory(rows, covariance_type):
    X, weights = rows
    params = dict(covariance_type=covariance_type, tol=1e-6, **_initial(X, covariance_type))
    expected = GaussianMixture(3, **params).fit(X, sample_weight=weights)
    with dask.config.set(scheduler="synchronous"):
        fitted = GaussianMixture(3, **params).fit(
            da.from_array(X, chunks=(N_ROWS // 8, 3)), sample_weight=weights
        )
    _assert_same_model(fitted, expected)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data", "random"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_initialisation_on_the_cluster(client, rows, init_params):
    X, _ = rows
    X_small = X[:20_000]
    X_dask = client.persist(da.from_array(X_small, chunks=(2500, 3)))
    params = dict(init_params=init_params, random_state=0, tol=1e-6)
    if init_params == "random":
        # Random responsibilities converge slowly; a few iterations show what matters.
        params.update(tol=0.0, max_iter=10)
    fitted = GaussianMixture(3, **params).fit(X_dask)
    local = GaussianMixture(3, **params).fit(X_small)
    if init_params == "random":
        # One seed per block instead of scikit-learn's single stream: a different
        # start (random responsibilities may end in another local optimum), but
        # reproducible, and EM from it is monotone.
        again = GaussianMixture(3, **params).fit(X_dask)
        _assert_same_model(again, fitted)
        assert np.all(np.diff(fitted.lower_bounds_) >= -1e-12)
    else:
        # Same seeding sample and draws, Lloyd and EM passes summed per block.
        _assert_same_model(fitted, local)


def test_lazy_predict_equals_in_memory(client, rows):
    X, _ = rows
    X_dask = client.persist(da.from_array(X, chunks=(N_ROWS // 8, 3)))
    model = GaussianMixture(3, random_state=0, tol=1e-6).fit(X_dask)
    labels = model.predict(X_dask)
    proba = model.predict_proba(X_dask)
    log_prob = model.score_samples(X_dask)
    assert isinstance(labels, da.Array) and isinstance(proba, da.Array)
    np.testing.assert_array_equal(labels.compute(), model.predict(X))
    np.testing.assert_allclose(proba.compute(), model.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(log_prob.compute(), model.score_samples(X), rtol=1e-12)
    assert model.score(X_dask) == pytest.approx(model.score(X), rel=1e-12)
    assert isinstance(model.fit_predict(X_dask), da.Array)


def test_worker_restart_between_iterations_gives_the_same_model(client, rows):
    """Dask recomputes the blocks lost with the workers; the fit is unaffected."""
    X, _ = rows
    params = dict(tol=1e-6, **_initial(X, "full"))
    expected = GaussianMixture(3, **params).fit(X)
    # Blocks built from the graph (not persisted), so a restart can recompute them.
    X_dask = da.from_array(X, chunks=(N_ROWS // 8, 3))
    restarts = []

    def restart_once(iteration, lower_bound):
        if iteration == 2:
            client.restart()
            restarts.append(iteration)

    fitted = GaussianMixture(3, callback=restart_once, **params).fit(X_dask)
    assert restarts == [2]
    _assert_same_model(fitted, expected)


def test_online_mode_is_refused_on_dask(rows):
    X, _ = rows
    with pytest.raises(ValueError, match="not available for Dask"):
        GaussianMixture(3).fit(da.from_array(X[:1000], chunks=(250, 3)), mode="online")


def test_column_blocks_are_merged(rows):
    X, _ = rows
    X_small = X[:4000]
    with dask.config.set(scheduler="synchronous"):
        fitted = GaussianMixture(3, random_state=0).fit(da.from_array(X_small, chunks=(500, 1)))
    local = GaussianMixture(3, random_state=0).fit(X_small)
    _assert_same_model(fitted, local)


def test_importing_fastem_does_not_import_dask():
    code = "import sys, fastem; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
