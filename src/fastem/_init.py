"""Initialisation for every family: k-means++ seeding, k-means, random starts.

Written against the family contract (``fastem.families.Family``): rows are
seen only through a source and the family's geometry (``lloyd_stats``,
``nearest``, ``sq_distances``, ``dense_rows``), so Gaussian rows, dense binary
rows and CSR matrices share one implementation, in memory, chunked or on Dask.

Sample weights: k-means++ draws every seed by inverse-CDF sampling on the
cumulative weights (times squared distances) and Lloyd's centres are weighted
means, so an integer weight ``m`` seeds exactly as ``m`` adjacent copies of
the row would, as long as the data has at most ``settings.seeding_sample_rows``
rows (larger inputs are seeded from a uniform sample of rows, which sees a
weighted row once and its copies separately). ``init_params="random"`` and
``"random_from_data"`` draw as scikit-learn does, per row, so there weights
and copies give different (equally valid) random starts.
"""

from functools import partial

import numpy as np

from ._settings import settings


def data_moments(source, column_moments):
    """Weighted column means and variances over every row of ``source`` (one pass).

    Also rejects data with NaN or infinity that reached this pass unchecked
    (rows of distributed sources are checked here, where they live). Cached on
    the source: the data centre (the shift of the statistics) and the k-means
    tolerance both need it.

    Parameters
    ----------
    source : fastem._sources.Source
        The rows.
    column_moments : callable
        ``column_moments(X_chunk, w_chunk) -> ColumnMoments`` (the family's).

    Returns
    -------
    mean, variance : ndarray of shape (n_features,)
    """
    cached = getattr(source, "_moments", None)
    if cached is not None:
        return cached
    total = source.map_reduce(column_moments)
    if not (np.all(np.isfinite(total.mean)) and np.all(np.isfinite(total.m2))):
        raise ValueError(
            "Input X contains NaN or infinity, or values so large that their squares "
            "overflow; scale the data."
        )
    if total.weight <= 0:
        raise ValueError("sample_weight must have at least one positive entry; all are 0.")
    moments = (total.mean, total.m2 / total.weight)
    source._moments = moments
    return moments


def seeding_sample(source, random_state, max_rows=None):
    """Rows on which seeds are drawn: every row, or a uniform sample of ``max_rows``.

    k-means++ needs each row's distance to the seeds chosen so far; on a sample
    its cost and memory stay bounded whatever the number of rows, and the
    sample (drawn from the row count only) is the same for every chunking of
    the same data. Weights travel with the sampled rows; in memory, sparse
    rows stay sparse.

    Returns
    -------
    rows : ndarray or BinaryCSR of shape (n_rows, n_features)
    weights : ndarray of shape (n_rows,) or (0,)
    """
    if max_rows is None:
        max_rows = settings.seeding_sample_rows
    n_samples = source.n_samples
    if n_samples is None:
        _ = source.weight_sum  # one pass counts the rows of an iterable
        n_samples = source.n_samples
    if n_samples <= max_rows and source.in_memory:
        return source.X, source.sample_weight
    if n_samples <= max_rows:
        indices = np.arange(n_samples)
    else:
        indices = np.sort(random_state.choice(n_samples, size=max_rows, replace=False))
    rows, weights = source.take(indices)
    if source.in_memory and not source.sample_weight.size:
        weights = np.empty(0)
    return rows, weights


def _draw_index(cumulative, u):
    """Index whose cumulative-weight interval contains ``u`` (clipped to the last row)."""
    return min(int(np.searchsorted(cumulative, u, side="right")), cumulative.size - 1)


def greedy_kmeans_plusplus(weights, distances_to, n_clusters, random_state, n_local_trials=None):
    """Greedy, weighted k-means++ seeding over any kind of rows.

    Each new seed is the best of ``n_local_trials`` candidates drawn with
    probability proportional to weight times squared distance to the nearest
    seed so far (scikit-learn's greedy variant). The rows themselves are only
    seen through ``distances_to``.

    Parameters
    ----------
    weights : ndarray of shape (n_samples,)
        Row weights (ones when unweighted).
    distances_to : callable
        ``distances_to(indices)`` returns the squared distances of every row to
        the rows ``indices``, shape (n_samples, len(indices)).
    n_clusters : int
        Number of seeds.
    random_state : numpy.random.RandomState
        Source of randomness.
    n_local_trials : int, optional
        Candidates tried per seed; ``2 + log(n_clusters)`` by default.

    Returns
    -------
    indices : ndarray of shape (n_clusters,)
        Rows chosen as seeds.
    """
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    first = _draw_index(np.cumsum(weights), random_state.uniform() * weights.sum())
    indices = [first]
    closest = np.array(distances_to([first])[:, 0], dtype=np.float64)
    for _ in range(1, n_clusters):
        cumulative = np.cumsum(weights * closest)
        potential = cumulative[-1]
        if potential <= 0.0:
            # Every row sits on a seed already (duplicated rows): fall back to weight.
            cumulative = np.cumsum(weights)
            potential = cumulative[-1]
        draws = random_state.uniform(size=n_local_trials) * potential
        candidates = [_draw_index(cumulative, u) for u in draws]
        distances = distances_to(candidates)
        potentials = [weights @ np.minimum(d, closest) for d in distances.T]
        best = int(np.argmin(potentials))
        indices.append(candidates[best])
        np.minimum(closest, distances[:, best], out=closest)
    return np.asarray(indices, dtype=np.int64)


def canonical_order(family, X):
    """A row order that depends only on the rows' values: identical rows are adjacent.

    Rows are sorted by their squared distance to a fixed pseudo-random point
    (distinct rows tie with probability zero), so draws on cumulative weights
    in this order pick the same values whatever order the rows came in, and a
    row of weight ``m`` covers the same stretch as its ``m`` copies would.
    """
    point = np.random.RandomState(1234567).standard_normal((1, family.n_features))
    key = family.sq_distances(X, point)[:, 0]
    return np.argsort(key, kind="stable")


def kmeans_plusplus(family, X, sample_weight, n_clusters, random_state, n_local_trials=None):
    """Greedy, weighted k-means++ seeds among the rows of one chunk ``X``.

    The draws run over the rows in :func:`canonical_order`, so the seeds do not
    depend on the order of the rows, and integer weights seed as repeated rows.

    Returns
    -------
    indices : ndarray of shape (n_clusters,)
        Rows of ``X`` chosen as seeds.
    """
    order = canonical_order(family, X)
    weights = sample_weight[order] if sample_weight.size else np.ones(X.shape[0])

    def distances_to(positions):
        rows = order[np.asarray(positions, dtype=np.int64)]
        return family.sq_distances(X, family.dense_rows(X, rows))[order]

    positions = greedy_kmeans_plusplus(
        weights, distances_to, n_clusters, random_state, n_local_trials
    )
    return order[positions]


def kmeans(family, source, n_clusters, random_state, max_iter=300, tol=1e-4):
    """Weighted k-means over a source: k-means++ seeds, then Lloyd passes.

    Seeds come from :func:`seeding_sample`; each Lloyd iteration is one pass
    over the chunks (sums are additive, so chunking changes round-off only).
    Stops when the squared shift of the centres is at most ``tol`` times the
    mean column variance (scikit-learn's rule). An empty cluster moves to the
    row farthest from its centre, as in scikit-learn.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    """
    rows, weights = seeding_sample(source, random_state)
    centers = family.dense_rows(
        rows, kmeans_plusplus(family, rows, weights, n_clusters, random_state)
    )
    _, variance = data_moments(source, family.column_moments)
    threshold = tol * float(np.mean(variance))
    for _ in range(max_iter):
        stats = source.map_reduce(partial(family.lloyd_stats, centers=centers))
        counts, sums = stats.arrays["counts"], stats.arrays["sums"]
        new_centers = centers.copy()
        filled = counts > 0
        new_centers[filled] += sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if empty.size:
            new_centers[empty] = source.map_reduce(
                partial(_farthest_chunk, family, centers=centers, n_rows=empty.size)
            ).rows
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= threshold:
            break
    return centers


class FarthestRows:
    """The rows farthest from their nearest centre, mergeable with ``+``."""

    def __init__(self, sq_dist, rows, n_rows):
        keep = np.argsort(sq_dist, kind="stable")[::-1][:n_rows]
        self.sq_dist, self.rows, self.n_rows = sq_dist[keep], rows[keep], n_rows

    def __add__(self, other):
        return FarthestRows(
            np.concatenate([self.sq_dist, other.sq_dist]),
            np.concatenate([self.rows, other.rows]),
            self.n_rows,
        )


def _farthest_chunk(family, X_chunk, w_chunk, centers, n_rows):
    """The chunk's ``n_rows`` positive-weight rows farthest from their nearest centre."""
    _, min_sq = family.nearest(X_chunk, centers)
    if w_chunk.size:
        min_sq[w_chunk == 0] = -1.0
    top = np.argsort(min_sq, kind="stable")[::-1][:n_rows]
    return FarthestRows(min_sq[top], family.dense_rows(X_chunk, top), n_rows)


def seed_indices(n_samples, n_components, sample_weight, random_state):
    """Rows that seed the components for 'random_from_data' (scikit-learn's draw)."""
    if sample_weight.size:
        p = sample_weight / sample_weight.sum()
        return random_state.choice(n_samples, size=n_components, replace=False, p=p)
    return random_state.choice(n_samples, size=n_components, replace=False)


def _random_resp(rng, n_rows, n_components):
    resp = rng.uniform(size=(n_rows, n_components))
    resp /= resp.sum(axis=1)[:, None]
    return resp


def _seed_stats(family, rows, row_weights):
    """Statistics of component k made of ``rows[k]`` alone, with its weight."""
    K = family.n_components
    return family.resp_stats(rows, np.asarray(row_weights, dtype=np.float64), np.eye(K))


def initial_stats(family, source, init_params, random_state):
    """Statistics of the initial responsibilities, in passes over the source.

    Parameters
    ----------
    family : fastem.families.Family
        The model family.
    source : fastem._sources.Source
        The rows.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}
        scikit-learn's initialisation methods; "kmeans" is fastem's weighted
        k-means (k-means++ seeds, then Lloyd passes).
    random_state : numpy.random.RandomState
        Source of randomness.

    Returns
    -------
    SufficientStats
        What the family's M-step turns into the initial parameters.
    """
    K = family.n_components
    if init_params == "kmeans":
        centers = kmeans(family, source, K, random_state)
        return source.map_reduce(partial(family.hard_stats, centers=centers))
    if init_params == "random" and not source.sequential:
        # Blocks processed where they live: one seed per block instead of
        # scikit-learn's single stream.
        return source.map_reduce_seeded(
            lambda X, w, rng: family.resp_stats(X, w, _random_resp(rng, X.shape[0], K)),
            random_state,
        )
    if init_params == "random":
        # Chunk by chunk, the uniform draws are the same stream as scikit-learn's
        # single (n_samples, n_components) draw.
        step = settings.random_init_rows
        total = None
        for X, w in source.chunks():
            for start in range(0, X.shape[0], step):
                stop = min(X.shape[0], start + step)
                resp = _random_resp(random_state, stop - start, K)
                stats = family.resp_stats(X[start:stop], w[start:stop] if w.size else w, resp)
                total = stats if total is None else total + stats
        return total
    if init_params == "k-means++":
        rows, weights = seeding_sample(source, random_state)
        indices = kmeans_plusplus(family, rows, weights, K, random_state)
        return _seed_stats(family, rows[indices], weights[indices] if weights.size else np.ones(K))
    indices = seed_indices(source.n_samples, K, source.all_weights(), random_state)
    return _seed_stats(family, *source.take(indices))


__all__ = [
    "data_moments",
    "greedy_kmeans_plusplus",
    "initial_stats",
    "kmeans",
    "kmeans_plusplus",
    "seeding_sample",
]
