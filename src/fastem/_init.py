"""Initialisation: k-means++ seeding and k-means (hard EM) on fastem's own kernels.

Every routine takes sample weights into account: a seed is drawn with
probability proportional to weight (times squared distance for k-means++),
and Lloyd's centres are weighted means, so weighted data gets the same
initialisation as the equivalent duplicated rows (up to
:data:`SEEDING_SAMPLE_ROWS` rows; larger inputs are seeded from a uniform
sample of rows, which sees a weighted row once and its duplicates separately).
Everything runs in passes over a source (see ``fastem._sources``), so it works
the same on in-memory arrays, chunked files and Dask arrays.
"""

from functools import partial

import numpy as np

from ._stats import SufficientStats
from ._threads import row_groups
from .kernels import gaussian as gk
from .kernels import kmeans as kk

BLOCK_SIZE = 1024
#: Rows that k-means++ seeding looks at; larger inputs are sampled uniformly.
SEEDING_SAMPLE_ROWS = 131072


def _weights_or_ones(sample_weight, n_samples):
    return sample_weight if sample_weight.size else np.ones(n_samples)


class ColumnMoments:
    """Weight, mean and sum of squared deviations per column, mergeable with ``+``.

    Chunks are merged with Chan et al.'s pairwise update, so the result does
    not depend on how the rows were chunked (beyond round-off) and stays
    accurate for data far from the origin.
    """

    def __init__(self, weight, mean, m2):
        self.weight, self.mean, self.m2 = weight, mean, m2

    @classmethod
    def of_chunk(cls, X_chunk, w_chunk):
        """Moments of one chunk, summed around its first row."""
        origin = np.asarray(X_chunk[0], dtype=np.float64)
        w, s1, s2 = gk.column_moments(
            X_chunk, w_chunk, origin, BLOCK_SIZE, row_groups(X_chunk.shape[0])
        )
        if w <= 0:
            return cls(0.0, origin, np.zeros_like(origin))
        offset = s1 / w
        return cls(w, origin + offset, np.maximum(s2 - w * offset**2, 0.0))

    def __add__(self, other):
        if other.weight <= 0:
            return self
        if self.weight <= 0:
            return other
        weight = self.weight + other.weight
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.weight / weight)
        m2 = self.m2 + other.m2 + delta**2 * (self.weight * other.weight / weight)
        return ColumnMoments(weight, mean, m2)


def data_moments(source):
    """Weighted column means and variances over every row of ``source`` (one pass).

    Also rejects data with NaN or infinity that reached this pass unchecked
    (rows of distributed sources are checked here, where they live). Cached on
    the source: the data centre (the shift of the statistics) and the k-means
    tolerance both need it.
    """
    cached = getattr(source, "_moments", None)
    if cached is not None:
        return cached
    total = source.map_reduce(ColumnMoments.of_chunk)
    if not (np.all(np.isfinite(total.mean)) and np.all(np.isfinite(total.m2))):
        raise ValueError("Input X contains NaN or infinity.")
    if total.weight <= 0:
        raise ValueError("sample_weight must have at least one positive entry; all are 0.")
    moments = (total.mean, total.m2 / total.weight)
    source._moments = moments
    return moments


def seeding_sample(source, random_state, max_rows=SEEDING_SAMPLE_ROWS):
    """Rows on which seeds are drawn: every row, or a uniform sample of ``max_rows``.

    k-means++ needs each row's distance to the seeds chosen so far; on a sample
    its cost and memory stay bounded whatever the number of rows, and the
    sample (drawn from the row count only) is the same for every chunking of
    the same data. Weights travel with the sampled rows.

    Returns
    -------
    rows : ndarray of shape (n_rows, n_features)
    weights : ndarray of shape (n_rows,) or (0,)
    """
    n_samples = source.n_samples
    if n_samples is None:
        _ = source.weight_sum  # one pass counts the rows of an iterable
        n_samples = source.n_samples
    if n_samples <= max_rows and getattr(source, "in_memory", False):
        return source.X, source.sample_weight
    if n_samples <= max_rows:
        indices = np.arange(n_samples)
    else:
        indices = np.sort(random_state.choice(n_samples, size=max_rows, replace=False))
    rows, weights = source.take(indices)
    return rows, weights


def _draw_index(cumulative, u):
    """Index whose cumulative-weight interval contains ``u`` (clipped to the last row)."""
    return min(int(np.searchsorted(cumulative, u, side="right")), cumulative.size - 1)


def greedy_kmeans_plusplus(weights, distances_to, n_clusters, random_state, n_local_trials=None):
    """Greedy, weighted k-means++ seeding over any kind of rows.

    Each new seed is the best of ``n_local_trials`` candidates drawn with
    probability proportional to weight times squared distance to the nearest
    seed so far (scikit-learn's greedy variant). The rows themselves are only
    seen through ``distances_to``, so dense and sparse families share this.

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


def kmeans_plusplus(X, sample_weight, n_clusters, random_state, n_local_trials=None):
    """Greedy k-means++ seeding, weighted, on dense float rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows.
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Weights (empty = ones).
    n_clusters : int
        Number of seeds.
    random_state : numpy.random.RandomState
        Source of randomness.
    n_local_trials : int, optional
        See :func:`greedy_kmeans_plusplus`.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    indices : ndarray of shape (n_clusters,)
        Rows chosen as seeds.
    """
    n_samples = X.shape[0]
    groups = row_groups(n_samples)

    def distances_to(rows):
        out = np.empty((n_samples, len(rows)))
        column = np.empty(n_samples)
        for j, r in enumerate(rows):
            kk.sq_dist_to_point(X, X[r].astype(np.float64), column, BLOCK_SIZE, groups)
            out[:, j] = column
        return out

    weights = _weights_or_ones(sample_weight, n_samples)
    indices = greedy_kmeans_plusplus(
        weights, distances_to, n_clusters, random_state, n_local_trials
    )
    return X[indices].astype(np.float64), indices


def kmeans(source, n_clusters, random_state, max_iter=300, tol=1e-4):
    """Weighted k-means over a source: k-means++ seeds, then Lloyd passes.

    Seeds come from :func:`seeding_sample`; each Lloyd iteration is one pass
    over the chunks (sums are additive, so chunking changes round-off only).
    Stops when the squared shift of the centres is at most ``tol`` times the
    mean column variance (scikit-learn's rule). An empty cluster moves to the
    row farthest from its centre.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    """
    rows, weights = seeding_sample(source, random_state)
    centers, _ = kmeans_plusplus(rows, weights, n_clusters, random_state)
    _, variance = data_moments(source)
    threshold = tol * float(np.mean(variance))
    for _ in range(max_iter):
        stats = source.map_reduce(partial(_lloyd_chunk, centers=centers))
        counts, sums = stats.arrays["counts"], stats.arrays["sums"]
        new_centers = centers.copy()
        filled = counts > 0
        new_centers[filled] += sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if empty.size:
            new_centers[empty] = _farthest_rows(source, centers, empty.size)
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= threshold:
            break
    return centers


def _lloyd_chunk(X_chunk, w_chunk, centers):
    counts, sums, inertia = kk.lloyd_stats(
        X_chunk, w_chunk, centers, BLOCK_SIZE, row_groups(X_chunk.shape[0])
    )
    return SufficientStats({"counts": counts, "sums": sums}, log_likelihood=-inertia)


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


def _farthest_chunk(X_chunk, w_chunk, centers, n_rows):
    n = X_chunk.shape[0]
    labels = np.empty(n, dtype=np.int64)
    min_sq = np.empty(n)
    kk.assign_labels(X_chunk, centers, labels, min_sq, BLOCK_SIZE, row_groups(n))
    if w_chunk.size:
        min_sq[w_chunk == 0] = -1.0
    top = np.argsort(min_sq, kind="stable")[::-1][:n_rows]
    return FarthestRows(min_sq[top], np.asarray(X_chunk[top], dtype=np.float64), n_rows)


def _farthest_rows(source, centers, n_rows):
    """The ``n_rows`` positive-weight rows farthest from their nearest centre (one pass)."""
    return source.map_reduce(partial(_farthest_chunk, centers=centers, n_rows=n_rows)).rows


def chunk_labels(X_chunk, centers):
    """Index of the nearest centre of every row of a chunk."""
    n = X_chunk.shape[0]
    labels = np.empty(n, dtype=np.int64)
    kk.assign_labels(X_chunk, centers, labels, np.empty(n), BLOCK_SIZE, row_groups(n))
    return labels


def seed_indices(n_samples, n_components, sample_weight, random_state):
    """Rows that seed the components for 'random_from_data' (scikit-learn's draw)."""
    if sample_weight.size:
        p = sample_weight / sample_weight.sum()
        return random_state.choice(n_samples, size=n_components, replace=False, p=p)
    return random_state.choice(n_samples, size=n_components, replace=False)


__all__ = [
    "chunk_labels",
    "data_moments",
    "kmeans",
    "kmeans_plusplus",
    "seed_indices",
    "seeding_sample",
]
