"""fastem.plot: what the selection, components and convergence plots draw (Agg backend)."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from fastem import BernoulliMixture, GaussianMixture, MixtureSelector, plot  # noqa: E402
from synthetic import make_binary, make_blobs  # noqa: E402
from test_cli_helpers import ok, write_data  # noqa: E402


@pytest.fixture(scope="module")
def rows():
    return make_blobs(n_samples=600, n_features=3, n_components=3, seed=1)[0]


@pytest.fixture(scope="module")
def selector(rows):
    return MixtureSelector(
        GaussianMixture(random_state=0), n_components=range(1, 6), n_init=4
    ).fit(rows)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _labelled(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_selection_one_line_per_covariance_type_and_the_best(selector):
    ax = plot.selection(selector)
    lines = _labelled(ax)
    assert list(lines)[:4] == ["full", "tied", "diag", "spherical"]
    assert len(ax.get_lines()) == 5 + bool(selector.results_["degenerate"].any())
    for kind in ("full", "tied", "diag", "spherical"):
        x, y = lines[kind].get_data()
        assert list(x) == [1, 2, 3, 4, 5]
        rows = selector.results_["covariance_type"] == kind
        np.testing.assert_allclose(y, selector.results_["bic"][rows])
    bx, by = lines["best"].get_data()
    assert list(bx) == [selector.best_params_["n_components"]]
    assert list(by) == [selector.best_score_]
    assert ax.get_ylabel().startswith("BIC")
    assert ax.get_legend() is not None


def test_selection_other_criterion_and_given_axes(selector):
    fig, ax = plt.subplots()
    assert plot.selection(selector, ax=ax, criterion="aic") is ax
    y = _labelled(ax)["full"].get_data()[1]
    np.testing.assert_allclose(y, selector.results_["aic"][:5])
    assert ax.get_ylabel().startswith("AIC")


def test_selection_marks_degenerate_candidates():
    X = np.round(np.random.default_rng(0).normal(size=(300, 2)) * [0.7, 2.0], 0)
    selector = MixtureSelector(
        GaussianMixture(random_state=0), n_components=range(1, 7), strategy="em"
    ).fit(X)
    ax = plot.selection(selector)
    marks = _labelled(ax)["degenerate"].get_data()[0]
    assert len(marks) == selector.results_["degenerate"].sum() > 0


def test_selection_bernoulli_has_one_line():
    X = make_binary(n_samples=300)[0]
    selector = MixtureSelector(
        BernoulliMixture(random_state=0), n_components=[1, 2, 3, 4], n_init=3
    ).fit(X)
    ax = plot.selection(selector)
    assert [line.get_label() for line in ax.get_lines()] == ["BernoulliMixture", "best"]


def test_selection_needs_a_fitted_selector():
    with pytest.raises(ValueError, match="fitted MixtureSelector"):
        plot.selection(MixtureSelector())


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_components_points_ellipses_means(rows, covariance_type):
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(rows)
    ax = plot.components(model, rows, dims=(0, 2))
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    offsets = points.get_offsets()
    assert offsets.shape == (600, 2)
    np.testing.assert_allclose(offsets, rows[:, [0, 2]])
    colours = {tuple(c) for c in points.get_facecolors()}
    assert len(colours) == len(np.unique(model.predict(rows)))
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 3 * 3
    means = _labelled(ax)["means"].get_data()
    np.testing.assert_allclose(np.column_stack(means), model.means_[:, [0, 2]])
    # The 1-, 2- and 3-sigma ellipses of a component share their centre and grow linearly.
    first = ellipses[:3]
    np.testing.assert_allclose([e.center for e in first], [model.means_[0, [0, 2]]] * 3)
    np.testing.assert_allclose([e.width for e in first], first[0].width * np.array([1, 2, 3]))


def test_components_axes_of_an_ellipse_are_the_standard_deviations():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2)) * [3.0, 0.5]
    model = GaussianMixture(1, covariance_type="diag").fit(X)
    ax = plot.components(model, X)
    one_sigma = ax.patches[0]
    assert one_sigma.width == pytest.approx(2 * np.sqrt(model.covariances_[0, 0]))
    assert one_sigma.height == pytest.approx(2 * np.sqrt(model.covariances_[0, 1]))


def test_components_samples_large_data_and_draws_a_selectors_best(rows, selector):
    X = np.vstack([rows] * 10)
    ax = plot.components(selector, X, max_points=1000)
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == 1000
    assert len(ax.patches) == 3 * selector.best_params_["n_components"]


def test_components_bernoulli_has_no_ellipses():
    X = make_binary(n_samples=200)[0]
    model = BernoulliMixture(3, random_state=0).fit(X)
    ax = plot.components(model, X)
    assert len(ax.patches) == 0
    assert len(_labelled(ax)["means"].get_data()[0]) == 3


def test_components_bad_dims(rows):
    model = GaussianMixture(2, random_state=0).fit(rows)
    with pytest.raises(ValueError, match="dims"):
        plot.components(model, rows, dims=(1, 1))


def test_convergence_one_point_per_iteration(rows, selector):
    model = GaussianMixture(3, random_state=0, tol=1e-8).fit(rows)
    ax = plot.convergence(model)
    (line,) = ax.get_lines()
    x, y = line.get_data()
    assert list(x) == list(range(1, model.n_iter_ + 1))
    np.testing.assert_allclose(y, model.lower_bounds_)
    assert "converged" in line.get_label()
    (best_line,) = plot.convergence(selector).get_lines()
    assert len(best_line.get_data()[0]) == selector.best_estimator_.n_iter_


def test_cli_plots_are_written(tmp_path):
    folder, X = write_data(tmp_path)
    ok("select", "data.npy", "--k", "1..4", "-q", "--plot", "bic.svg", cwd=folder)
    svg = (folder / "bic.svg").read_text()
    assert svg.count('<g id="line2d_') >= 2
    ok("fit", "data.npy", "--k", "3", "--plot", "components.png", cwd=folder)
    assert (folder / "components.png").read_bytes()[:4] == b"\x89PNG"
