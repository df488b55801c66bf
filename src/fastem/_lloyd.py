"""Weighted k-means over a source: initial centres, then Lloyd passes of the family.

The one k-means of fastem: :class:`fastem.KMeans` and the mixtures'
``init_params="kmeans"`` both run :func:`kmeans`. Written against the family
contract (``lloyd_stats``, ``nearest``, ``dense_rows``), in memory, chunked or
on Dask. Lloyd's centres are weighted means, so an integer weight ``m`` moves
them exactly as ``m`` copies of the row would; empty clusters are relocated
to the farthest rows as scikit-learn does.
"""

import inspect
from dataclasses import dataclass
from functools import partial

import numpy as np

from ._checkpoint import test_hook
from ._moments import data_moments
from ._seeding import kmeans_plusplus, seeding_sample


@dataclass
class KMeansResult:
    """What one k-means run (or the best of several) leaves behind.

    Attributes
    ----------
    centers : ndarray of shape (n_clusters, n_features), float64
        Final centres.
    inertia : float
        Weighted sum of squared distances of the rows to their centres, for
        ``centers`` and ``labels`` (after a final assignment pass where the
        run did not converge strictly).
    n_iter : int
        Lloyd iterations run.
    converged : bool
        True when the labels stopped changing (strict convergence) or the
        centres moved less than the tolerance.
    labels : ndarray of shape (n_samples,), int32, or None
        Every row's cluster, when the run tracked labels.
    counts : ndarray of shape (n_clusters,) or None
        Weight of every cluster in the final assignment (when known).
    """

    centers: np.ndarray
    inertia: float = np.inf
    n_iter: int = 0
    converged: bool = False
    labels: np.ndarray = None
    counts: np.ndarray = None


def _chunk_pass(family, source, func, labels, progress):
    """``func(X, w, labels=...)`` summed over the chunks, with each chunk's slice of ``labels``.

    Without ``labels`` the source's own map-reduce runs (Dask blocks where
    they live); with them the chunks come in order and each gets its rows'
    slice of the label buffer.
    """
    if labels is None:
        return source.map_reduce(func, progress)
    total = None
    start = 0
    for X_chunk, w_chunk in source.chunks():
        stop = start + X_chunk.shape[0]
        part = func(X_chunk, w_chunk, labels=labels[start:stop])
        total = part if total is None else total + part
        start = stop
        if progress is not None:
            progress.rows(X_chunk.shape[0])
    return total


def _relocate_empty(family, source, centers, counts, sums):
    """New centres from Lloyd sums, empty clusters relocated as scikit-learn does.

    An empty cluster (no weight) takes the row farthest from its nearest
    centre (the next farthest for the next empty cluster, ties to the earlier
    row), and that row leaves the cluster it belonged to, whose mean is taken
    without it. Rows of weight 0 are never taken (scikit-learn can take one;
    a row of weight 0 then behaves exactly as an absent row). Nothing moves
    when every row sits on its centre. A cluster still without weight sits on
    the centre of the heaviest cluster.
    """
    counts = counts.copy()
    sums = sums.copy()
    new_centers = centers.copy()
    empty = np.flatnonzero(~(counts > 0))
    relocated = {}
    if empty.size:
        far = source.map_reduce(
            partial(_farthest_chunk, family, centers=centers, n_rows=empty.size)
        )
        if far.sq_dist.size and far.sq_dist[0] > 0:
            for e, x, w, old in zip(empty, far.rows, far.weights, far.labels, strict=False):
                counts[old] -= w
                sums[old] -= w * (x - centers[old])
                counts[e] = w
                relocated[int(e)] = x
    filled = counts > 0
    new_centers[filled] += sums[filled] / counts[filled, None]
    for e, x in relocated.items():
        if counts[e] > 0:
            new_centers[e] = x
    if not np.all(filled):
        new_centers[~filled] = new_centers[int(np.argmax(counts))]
    return new_centers, counts


def lloyd(
    family,
    source,
    centers,
    *,
    max_iter=300,
    threshold=0.0,
    labels=None,
    callback=None,
    progress=None,
    verbose=0,
    final_assignment=True,
    start_iter=0,
    on_iteration=None,
):
    """Lloyd iterations from ``centers``, one pass over the source each, as scikit-learn's.

    Iteration ``i`` assigns every row to its nearest centre, then moves each
    centre to the weighted mean of its rows (empty clusters relocated, see
    :func:`_relocate_empty`). It stops when the labels did not change
    (strict convergence; only seen when ``labels`` are tracked), when the
    summed squared movement of the centres is at most ``threshold``, after
    ``max_iter`` iterations, or when ``callback`` returns a true value.
    Unless the labels stopped changing, a final pass assigns the rows to the
    final centres (for ``labels`` and the inertia; ``final_assignment=False``
    skips it, leaving the inertia of the last iteration's assignment).

    Parameters
    ----------
    family : fastem.families.Family
        Its ``lloyd_stats`` is one pass (with a ``labels=`` slice when tracked).
    source : fastem._sources.Source
        The rows.
    centers : ndarray of shape (n_clusters, n_features)
        Initial centres.
    max_iter : int, default=300
        Iterations at most.
    threshold : float, default=0.0
        Absolute tolerance on the summed squared movement of the centres.
    labels : ndarray of shape (n_samples,), int32, optional
        Buffer for the labels (its content is overwritten), needed for strict
        convergence and for the result's ``labels``.
    callback : callable, optional
        ``callback(n_iter, inertia)`` after every iteration, with the
        inertia of the assignment to the centres before the move.
    progress : fastem._progress.Progress, optional
        Advanced per chunk and per iteration.
    verbose : int, default=0
        Print every iteration as scikit-learn does.
    final_assignment : bool, default=True
        Assign the rows to the final centres after the last iteration.
    start_iter : int, default=0
        Iterations already run (resuming a checkpoint): ``centers`` are the
        centres after them and ``labels``, when tracked, holds their last
        assignment, which is then kept.
    on_iteration : callable, optional
        ``on_iteration(centers, n_iter)`` after every iteration that moved the
        centres without ending the run (the state between two iterations;
        ``labels`` then holds the assignment that gave them).

    Returns
    -------
    KMeansResult
    """
    centers = np.array(centers, dtype=np.float64)
    if labels is not None and start_iter == 0:
        labels[:] = -1
    # The inertia of every iteration costs a distance per row; Lloyd needs only
    # the sums, so it is computed where something shows it (families that can
    # skip it say so with an ``inertia`` argument of ``lloyd_stats``).
    shown = bool(verbose) or callback is not None or (progress is not None and progress.enabled)
    options = {}
    if not shown and "inertia" in inspect.signature(family.lloyd_stats).parameters:
        options["inertia"] = False
    stats = None
    strict = converged = False
    n_iter = start_iter
    for i in range(start_iter, max_iter):
        test_hook("lloyd")
        stats = _chunk_pass(
            family,
            source,
            partial(family.lloyd_stats, centers=centers, **options),
            labels,
            progress,
        )
        n_iter = i + 1
        inertia = -stats.log_likelihood
        counts, sums = stats.arrays["counts"], stats.arrays["sums"]
        if verbose:
            print(f"Iteration {i}, inertia {inertia}.")
        stop = callback is not None and bool(callback(n_iter, inertia))
        if progress is not None:
            progress.iteration(n_iter, inertia)
        if labels is not None and int(stats.arrays["changed"][0]) == 0 and np.all(counts > 0):
            if verbose:
                print(f"Converged at iteration {i}: strict convergence.")
            strict = converged = True
            break
        new_centers, _ = _relocate_empty(family, source, centers, counts, sums)
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= threshold:
            if verbose:
                print(
                    f"Converged at iteration {i}: center shift {shift} within tolerance "
                    f"{threshold}."
                )
            converged = True
            break
        if stop:
            break
        if on_iteration is not None and n_iter < max_iter:
            on_iteration(centers, n_iter)
    if final_assignment and stats is not None and (not strict or options):
        # After strict convergence the labels stand; only the inertia is missing.
        stats = _chunk_pass(
            family, source, partial(family.lloyd_stats, centers=centers), labels, None
        )
    counts = None if stats is None else stats.arrays["counts"]
    inertia = np.inf if stats is None else -stats.log_likelihood
    return KMeansResult(centers, inertia, n_iter, converged, labels, counts)


def _same_clustering(labels1, labels2, n_clusters):
    """Whether two labelings are the same partition up to a renaming of the clusters."""
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    first = np.unique(labels1, return_index=True)[1]
    mapping[labels1[first]] = labels2[first]
    return bool(np.array_equal(mapping[labels1], labels2))


def initial_centers(family, source, n_clusters, init, random_state):
    """Initial centres, float64 (n_clusters, n_features).

    Parameters
    ----------
    family, source
        The geometry and the rows.
    n_clusters : int
        Number of centres.
    init : {"k-means++", "random"}, ndarray or callable
        "k-means++": fastem's greedy weighted k-means++ (see
        :func:`fastem._seeding.kmeans_plusplus`) on
        :func:`fastem._seeding.seeding_sample`; "random": rows
        drawn without replacement with probability proportional to their
        weight (scikit-learn's draw, the same rows from the same
        ``random_state`` for in-memory data); an array: the centres
        themselves; a callable: ``init(rows, n_clusters, random_state=...)``
        on the rows (in memory) or on the seeding sample (out of core).
    random_state : numpy.random.RandomState
        Source of randomness.
    """
    if isinstance(init, str) and init == "k-means++":
        rows, weights = seeding_sample(source, random_state)
        return family.dense_rows(
            rows, kmeans_plusplus(family, rows, weights, n_clusters, random_state)
        )
    if isinstance(init, str) and init == "random":
        weights = source.all_weights()
        dtype = source.dtype if source.dtype is not None else np.float64
        if not weights.size:
            weights = np.ones(source.n_samples)
        weights = np.asarray(weights, dtype=dtype)
        indices = random_state.choice(
            source.n_samples, size=n_clusters, replace=False, p=weights / weights.sum()
        )
        rows, _ = source.take(indices)
        return family.dense_rows(rows, np.arange(n_clusters))
    if callable(init):
        rows = source.X if source.in_memory else seeding_sample(source, random_state)[0]
        return np.asarray(init(rows, n_clusters, random_state=random_state), dtype=np.float64)
    return np.array(init, dtype=np.float64)


def kmeans(
    family,
    source,
    n_clusters,
    random_state,
    max_iter=300,
    tol=1e-4,
    *,
    init="k-means++",
    n_init=1,
    threshold=None,
    labels=None,
    check_centers=None,
    callback=None,
    progress=None,
    verbose=0,
    final_assignment=True,
    state=None,
    on_state=None,
):
    """Weighted k-means over a source: ``n_init`` runs of initial centres, then Lloyd passes.

    The one k-means of fastem: the mixtures' ``init_params="kmeans"`` and
    :class:`fastem.KMeans` both run it. Each Lloyd iteration is one pass over
    the chunks (sums are additive, so chunking changes round-off only). Of
    several runs the one with the lowest inertia is kept, unless it is the
    same partition as the best so far (scikit-learn's rule).

    Parameters
    ----------
    family : fastem.families.Family
        The rows' geometry.
    source : fastem._sources.Source
        The rows.
    n_clusters : int
        Number of clusters.
    random_state : numpy.random.RandomState
        Source of randomness.
    max_iter : int, default=300
        Lloyd iterations per run at most.
    tol : float, default=1e-4
        Tolerance relative to the mean column variance (weighted, see
        :func:`fastem._moments.data_moments`) when ``threshold`` is None.
    init : {"k-means++", "random"}, ndarray or callable, default="k-means++"
        See :func:`initial_centers`.
    n_init : int, default=1
        Runs.
    threshold : float, optional
        Absolute tolerance on the centres' summed squared movement (instead
        of ``tol``).
    labels : bool, default=None
        Track the labels (a buffer per run; sequential sources only): strict
        convergence, and the result's ``labels``.
    check_centers : callable, optional
        ``check_centers(centers)`` validates the initial centres of each run
        (for example those a callable ``init`` returned) and returns them.
    callback, progress, verbose, final_assignment
        See :func:`lloyd`.
    state : dict, optional
        A state ``on_state`` was given (a checkpoint's): the runs continue
        from it, with ``random_state`` already set to its ``"rng"``.
    on_state : callable, optional
        ``on_state(make_state)`` between two Lloyd iterations and after every
        run; ``make_state()`` returns the complete state to continue from
        (the run in progress with its centres, iterations and labels, the
        best run so far, the generator's state), as plain data.

    Returns
    -------
    KMeansResult
        The best run.
    """
    if threshold is None:
        _, variance = data_moments(source, family.column_moments)
        threshold = tol * float(np.mean(variance))
    best, first, run = None, 0, None
    if state is not None:
        best, first, run = state["best"], state["run"], state["current"]

    def make_state(index, current):
        return {
            "run": index,
            "current": current,
            "best": best,
            "rng": random_state.get_state(legacy=True),
        }

    for index in range(first, n_init):
        if run is not None:
            # The run in progress when the state was saved (its centres were drawn).
            centers, start_iter, buffer = run["centers"], run["n_iter"], run["labels"]
            run = None
        else:
            centers = initial_centers(family, source, n_clusters, init, random_state)
            if check_centers is not None:
                centers = check_centers(centers)
            if verbose:
                print("Initialization complete")
            start_iter = 0
            buffer = np.empty(source.n_samples, dtype=np.int32) if labels else None
        on_iteration = None
        if on_state is not None:

            def on_iteration(centers, n_iter, index=index, buffer=buffer):
                current = {"centers": centers, "n_iter": n_iter, "labels": buffer}
                on_state(lambda: make_state(index, current))

        result = lloyd(
            family,
            source,
            centers,
            max_iter=max_iter,
            threshold=threshold,
            labels=buffer,
            callback=callback,
            progress=progress,
            verbose=verbose,
            final_assignment=final_assignment,
            start_iter=start_iter,
            on_iteration=on_iteration,
        )
        if best is None or (
            result.inertia < best.inertia
            and not (
                result.labels is not None
                and _same_clustering(result.labels, best.labels, n_clusters)
            )
        ):
            best = result
        if on_state is not None:
            on_state(lambda index=index: make_state(index + 1, None))
    return best


class FarthestRows:
    """The rows farthest from their nearest centre, with their labels and weights.

    Mergeable with ``+``; ties keep the rows of the left operand first (the
    earlier chunk), and within a chunk the earlier row.
    """

    def __init__(self, sq_dist, rows, labels, weights, n_rows):
        keep = np.argsort(-sq_dist, kind="stable")[:n_rows]
        self.sq_dist, self.rows = sq_dist[keep], rows[keep]
        self.labels, self.weights, self.n_rows = labels[keep], weights[keep], n_rows

    def __add__(self, other):
        return FarthestRows(
            np.concatenate([self.sq_dist, other.sq_dist]),
            np.concatenate([self.rows, other.rows]),
            np.concatenate([self.labels, other.labels]),
            np.concatenate([self.weights, other.weights]),
            self.n_rows,
        )


def _farthest_chunk(family, X_chunk, w_chunk, centers, n_rows):
    """The chunk's ``n_rows`` positive-weight rows farthest from their nearest centre."""
    labels, min_sq = family.nearest(X_chunk, centers)
    weights = w_chunk if w_chunk.size else np.ones(X_chunk.shape[0])
    candidates = np.flatnonzero(weights > 0)
    top = candidates[np.argsort(-min_sq[candidates], kind="stable")[:n_rows]]
    return FarthestRows(
        min_sq[top],
        family.dense_rows(X_chunk, top),
        np.asarray(labels)[top].astype(np.int64),
        np.asarray(weights, dtype=np.float64)[top],
        n_rows,
    )


__all__ = ["KMeansResult", "initial_centers", "kmeans", "lloyd"]
