"""Seeds among the rows: the seeding sample and weighted, greedy k-means++.

Written against the family contract (``fastem.families.Family``): rows are
seen only through the family's geometry (``sq_distances``, ``dense_rows``), so
Gaussian rows, dense binary rows and CSR matrices share one implementation.

Sample weights: k-means++ draws every seed by inverse-CDF sampling on the
cumulative weights (times squared distances), so an integer weight ``m``
seeds exactly as ``m`` adjacent copies of the row would, as long as the data
has at most ``settings.seeding_sample_rows`` rows (larger inputs are seeded
from a uniform sample of rows, which sees a weighted row once and its copies
separately).
"""

import numpy as np

from ._settings import settings


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
        indices = uniform_subset(n_samples, max_rows, random_state)
    rows, weights = source.take(indices)
    if source.in_memory and not source.sample_weight.size:
        weights = np.empty(0)
    return rows, weights


def uniform_subset(n_samples, size, random_state):
    """Sorted indices of a uniform random subset of ``size`` of ``range(n_samples)``.

    ``RandomState.choice(replace=False)`` permutes all ``n_samples`` indices, a
    temporary of 8 bytes per row; far from the row count, uniform draws with
    the repeats replaced by new draws give a uniform subset in memory of the
    subset's size. The redraws are merged into the sorted subset drawn so far
    (``np.union1d`` would sort and hash everything again per round).
    """
    if n_samples <= 4 * size:
        return np.sort(random_state.choice(n_samples, size=size, replace=False))
    chosen = _sorted_unique(random_state.randint(0, n_samples, size=size))
    while chosen.size < size:
        new = _sorted_unique(random_state.randint(0, n_samples, size=size - chosen.size))
        at = np.searchsorted(chosen, new)
        new = new[chosen[np.minimum(at, chosen.size - 1)] != new]
        chosen = np.insert(chosen, np.searchsorted(chosen, new), new)
    return chosen


def _sorted_unique(values):
    """``np.unique`` of integers by one sort (no hashing)."""
    values = np.sort(values)
    keep = np.ones(values.size, dtype=bool)
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


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


class SeedingRows:
    """The rows of a chunk prepared once for many k-means++ draws among them.

    :func:`canonical_order` (a sort of every row), the weights in that order
    and the rows gathered into it: what every :func:`kmeans_plusplus` call on
    the same rows and geometry would compute again.
    """

    def __init__(self, family, X, sample_weight):
        self.order = canonical_order(family, X)
        weights = sample_weight[self.order] if sample_weight.size else np.ones(X.shape[0])
        if getattr(family, "missing", False):
            # A row with every value missing is no point to seed from.
            observed = family.observed_rows(X)[self.order]
            if not observed.all():
                weights = weights * observed
        self.weights = weights
        # The rows once in canonical order: every candidate's distances then come
        # out in that order, with no gather through the permutation per candidate.
        self.ordered = X[self.order]


def kmeans_plusplus(
    family, X, sample_weight, n_clusters, random_state, n_local_trials=None, prepared=None
):
    """Greedy, weighted k-means++ seeds among the rows of one chunk ``X``.

    The draws run over the rows in :func:`canonical_order`, so the seeds do not
    depend on the order of the rows, and integer weights seed as repeated rows.
    ``prepared`` is ``SeedingRows(family, X, sample_weight)`` where the caller
    draws many times among the same rows (the same seeds, without the sort).

    Returns
    -------
    indices : ndarray of shape (n_clusters,)
        Rows of ``X`` chosen as seeds.
    """
    if prepared is None:
        prepared = SeedingRows(family, X, sample_weight)
    ordered = prepared.ordered

    def distances_to(positions):
        rows = np.asarray(positions, dtype=np.int64)
        return family.sq_distances(ordered, family.dense_rows(ordered, rows))

    positions = greedy_kmeans_plusplus(
        prepared.weights, distances_to, n_clusters, random_state, n_local_trials
    )
    return prepared.order[positions]


__all__ = ["SeedingRows", "greedy_kmeans_plusplus", "kmeans_plusplus", "seeding_sample"]
