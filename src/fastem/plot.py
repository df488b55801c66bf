"""Plots of model selection and fitted mixtures (matplotlib, an optional extra).

``pip install 'fastem[plot]'``. matplotlib is imported when a function is
called, never by ``import fastem``. Every function draws into ``ax`` (a new
figure's axes when None) and returns the Axes.

- :func:`selection`: the criterion of a :class:`fastem.MixtureSelector`
  against K, one line per covariance type, the best marked (mclust's BIC plot);
- :func:`components`: rows coloured by their most probable component, each
  Gaussian component's ellipses at 1, 2 and 3 standard deviations, the means;
- :func:`convergence`: the lower bound at every EM iteration.
"""

import numpy as np

#: Most rows :func:`components` draws (a uniform sample of larger data).
MAX_POINTS = 5000

_MARKERS = {"full": "o", "tied": "s", "diag": "^", "spherical": "D", None: "o"}


def _axes(ax):
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError("fastem.plot needs matplotlib: pip install 'fastem[plot]'") from None
    if ax is None:
        _, ax = plt.subplots()
    return ax


def selection(selector, ax=None, criterion=None):
    """The criterion of every candidate against K, one line per covariance type.

    The chosen model is marked with a star; degenerate candidates (see
    :class:`fastem.MixtureSelector`) with a cross; failed ones are gaps.

    Parameters
    ----------
    selector : fastem.MixtureSelector
        A fitted selector.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None makes a new figure.
    criterion : {"bic", "aic", "icl"}, default=None
        What to draw; None is the selector's criterion.

    Returns
    -------
    matplotlib.axes.Axes
        One line per covariance type (labelled with it), then the best mark
        (label ``"best"``) and, if any, the degenerate marks (``"degenerate"``).
    """
    results = getattr(selector, "results_", None)
    if results is None:
        raise ValueError("selection() needs a fitted MixtureSelector (call fit first).")
    criterion = criterion or selector.criterion_
    ax = _axes(ax)
    ks = results["n_components"]
    values = np.asarray(results[criterion], dtype=np.float64)
    kinds = list(dict.fromkeys(results["covariance_type"]))
    for kind in kinds:
        rows = np.flatnonzero(results["covariance_type"] == kind)
        rows = rows[np.argsort(ks[rows], kind="stable")]
        ax.plot(
            ks[rows],
            values[rows],
            marker=_MARKERS.get(kind, "o"),
            label=kind if kind is not None else type(selector.best_estimator_).__name__,
        )
    best = selector.best_index_
    ax.plot(
        [ks[best]],
        [values[best]],
        linestyle="none",
        marker="*",
        markersize=16,
        color="black",
        label="best",
    )
    degenerate = np.flatnonzero(results["degenerate"])
    if degenerate.size:
        ax.plot(
            ks[degenerate],
            values[degenerate],
            linestyle="none",
            marker="x",
            markersize=10,
            color="red",
            label="degenerate",
        )
    ax.set_xlabel("number of components K")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_xticks(np.unique(ks))
    ax.legend()
    return ax


def _marginal_covariances(model, dims):
    """Each component's 2 x 2 covariance in the columns ``dims``, or None (no covariances)."""
    covariances = getattr(model, "covariances_", None)
    covariance_type = getattr(model, "covariance_type", None)
    if covariances is None or covariance_type is None:
        return None
    covariances = np.asarray(covariances, dtype=np.float64)
    K = len(covariances) if covariance_type != "tied" else model.n_components
    index = np.ix_(dims, dims)
    if covariance_type == "full":
        return np.stack([c[index] for c in covariances])
    if covariance_type == "tied":
        return np.repeat(covariances[index][None], K, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(c[list(dims)]) for c in covariances])
    return np.stack([np.eye(2) * c for c in covariances])


def components(model, X, dims=(0, 1), ax=None, max_points=MAX_POINTS, random_state=0):
    """Draw rows coloured by their most probable component, with each component's ellipses.

    Parameters
    ----------
    model : fastem mixture or fastem.MixtureSelector
        A fitted model (a selector draws its best one).
    X : array-like of shape (n_samples, n_features)
        Rows to draw (a uniform sample of ``max_points`` of them if more).
    dims : tuple of two int, default=(0, 1)
        The two columns drawn.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None makes a new figure.
    max_points : int, default=5000
        Most rows drawn.
    random_state : int, default=0
        Seed of the sample of rows.

    Returns
    -------
    matplotlib.axes.Axes
        One scatter of the rows (colour: the predicted component), for
        Gaussian models three ellipses per component (``ax.patches``, at 1, 2
        and 3 standard deviations of the component's marginal in ``dims``),
        and one line of markers at the means (label ``"means"``).
    """
    from matplotlib.patches import Ellipse

    model = getattr(model, "best_estimator_", model)
    dims = tuple(int(d) for d in dims)
    if len(dims) != 2 or len(set(dims)) != 2:
        raise ValueError(f"dims must be two different column indices, got {dims}.")
    n_samples = np.shape(X)[0]
    if n_samples > max_points:
        rng = np.random.default_rng(random_state)
        X = np.asarray(X)[np.sort(rng.choice(n_samples, size=max_points, replace=False))]
    labels = model.predict(X)
    rows = np.asarray(X, dtype=np.float64)
    ax = _axes(ax)
    centres = getattr(model, "means_", None)
    if centres is None:
        centres = model.cluster_centers_  # fastem.KMeans: points and centres, no ellipses
    K = len(centres)
    colours = [f"C{k % 10}" for k in range(K)]
    ax.scatter(
        rows[:, dims[0]],
        rows[:, dims[1]],
        c=[colours[k] for k in labels],
        s=8,
        alpha=0.5,
        linewidths=0,
    )
    means = np.asarray(centres, dtype=np.float64)[:, list(dims)]
    covariances = _marginal_covariances(model, dims)
    if covariances is not None:
        for k in range(K):
            values, vectors = np.linalg.eigh(covariances[k])
            angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
            for n_sigma in (1, 2, 3):
                width, height = 2 * n_sigma * np.sqrt(np.maximum(values[::-1], 0.0))
                ax.add_patch(
                    Ellipse(
                        means[k],
                        width,
                        height,
                        angle=angle,
                        fill=False,
                        edgecolor=colours[k],
                        linewidth=1.5 / n_sigma,
                        alpha=0.9,
                    )
                )
    ax.plot(
        means[:, 0],
        means[:, 1],
        linestyle="none",
        marker="X",
        markersize=10,
        markeredgecolor="white",
        color="black",
        label="means",
    )
    ax.set_xlabel(f"column {dims[0]}")
    ax.set_ylabel(f"column {dims[1]}")
    ax.autoscale_view()
    return ax


def convergence(model, ax=None):
    """The mean log-likelihood per sample (``lower_bounds_``) at every EM iteration.

    Parameters
    ----------
    model : fastem mixture or fastem.MixtureSelector
        A fitted model (a selector draws its best one).
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None makes a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        One line with a point per iteration.
    """
    model = getattr(model, "best_estimator_", model)
    bounds = getattr(model, "lower_bounds_", None)
    if bounds is None:
        raise ValueError("convergence() needs a fitted model with lower_bounds_.")
    ax = _axes(ax)
    iterations = np.arange(1, len(bounds) + 1)
    state = "converged" if getattr(model, "converged_", False) else "not converged"
    ax.plot(iterations, bounds, marker=".", label=f"{len(bounds)} iterations ({state})")
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood per sample")
    ax.legend()
    return ax


__all__ = ["components", "convergence", "selection"]
