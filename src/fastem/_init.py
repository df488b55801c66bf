"""Initialisation: k-means++ seeding and k-means (hard EM) on fastem's own kernels.

Every routine takes sample weights into account: a seed is drawn with
probability proportional to weight (times squared distance for k-means++),
and Lloyd's centres are weighted means, so weighted data gets the same
initialisation as the equivalent duplicated rows.
"""

import numpy as np

from ._threads import row_groups
from .kernels import gaussian as gk
from .kernels import kmeans as kk

BLOCK_SIZE = 1024


def _weights_or_ones(sample_weight, n_samples):
    return sample_weight if sample_weight.size else np.ones(n_samples)


def column_mean_and_variance(X, sample_weight):
    """Weighted column means and variances (float64), accurate far from the origin."""
    origin = np.asarray(X[0], dtype=np.float64)
    w_sum, s1, s2 = gk.column_moments(X, sample_weight, origin, BLOCK_SIZE, row_groups(X.shape[0]))
    mean_offset = s1 / w_sum
    variance = np.maximum(s2 / w_sum - mean_offset**2, 0.0)
    return origin + mean_offset, variance


def _draw_index(cumulative, u):
    """Index whose cumulative-weight interval contains ``u`` (clipped to the last row)."""
    return min(int(np.searchsorted(cumulative, u, side="right")), cumulative.size - 1)


def kmeans_plusplus(X, sample_weight, n_clusters, random_state, n_local_trials=None):
    """Greedy k-means++ seeding, weighted.

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
        Candidates tried per seed; ``2 + log(n_clusters)`` by default, as in
        scikit-learn.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    indices : ndarray of shape (n_clusters,)
        Rows chosen as seeds.
    """
    n_samples, n_features = X.shape
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    weights = _weights_or_ones(sample_weight, n_samples)
    groups = row_groups(n_samples)
    first = _draw_index(np.cumsum(weights), random_state.uniform() * weights.sum())
    indices = [first]
    closest_sq = kk.sq_dist_to_point(
        X, X[first].astype(np.float64), np.empty(n_samples), BLOCK_SIZE, groups
    )
    candidate_sq = np.empty(n_samples)
    for _ in range(1, n_clusters):
        cumulative = np.cumsum(weights * closest_sq)
        potential = cumulative[-1]
        if potential <= 0.0:
            # Every row sits on a seed already (duplicated points): fall back to weight.
            cumulative = np.cumsum(weights)
            potential = cumulative[-1]
        draws = random_state.uniform(size=n_local_trials) * potential
        candidates = [_draw_index(cumulative, u) for u in draws]
        best, best_pot = candidates[0], np.inf
        for c in candidates:
            pot = kk.potential_with_candidate(
                X, sample_weight, closest_sq, X[c].astype(np.float64), BLOCK_SIZE, groups
            )
            if pot < best_pot:
                best, best_pot = c, pot
        indices.append(best)
        kk.sq_dist_to_point(X, X[best].astype(np.float64), candidate_sq, BLOCK_SIZE, groups)
        np.minimum(closest_sq, candidate_sq, out=closest_sq)
    indices = np.asarray(indices, dtype=np.int64)
    return X[indices].astype(np.float64), indices


def kmeans(X, sample_weight, n_clusters, random_state, max_iter=300, tol=1e-4):
    """Weighted k-means: k-means++ seeds, then Lloyd iterations.

    Stops when the squared shift of the centres is at most ``tol`` times the
    mean column variance (scikit-learn's rule). Empty clusters are moved to
    the rows farthest from their centres.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    labels : ndarray of shape (n_samples,), int64
    """
    n_samples = X.shape[0]
    centers, _ = kmeans_plusplus(X, sample_weight, n_clusters, random_state)
    _, variance = column_mean_and_variance(X, sample_weight)
    threshold = tol * float(np.mean(variance))
    groups = row_groups(n_samples)
    labels = np.empty(n_samples, dtype=np.int64)
    min_sq = np.empty(n_samples)
    for _ in range(max_iter):
        counts, sums, _ = kk.lloyd_stats(X, sample_weight, centers, BLOCK_SIZE, groups)
        empty = np.flatnonzero(counts <= 0)
        new_centers = centers.copy()
        filled = counts > 0
        new_centers[filled] += sums[filled] / counts[filled, None]
        if empty.size:
            kk.assign_labels(X, centers, labels, min_sq, BLOCK_SIZE, groups)
            if sample_weight.size:
                min_sq[sample_weight == 0] = -1.0
            far = np.argsort(min_sq)[::-1][: empty.size]
            new_centers[empty] = X[far].astype(np.float64)
        shift = float(np.sum((new_centers - centers) ** 2))
        centers = new_centers
        if shift <= threshold:
            break
    kk.assign_labels(X, centers, labels, min_sq, BLOCK_SIZE, groups)
    return centers, labels


def seed_indices(n_samples, n_components, sample_weight, random_state):
    """Rows that seed the components for 'random_from_data' (scikit-learn's draw)."""
    if sample_weight.size:
        p = sample_weight / sample_weight.sum()
        return random_state.choice(n_samples, size=n_components, replace=False, p=p)
    return random_state.choice(n_samples, size=n_components, replace=False)


__all__ = ["kmeans", "kmeans_plusplus", "seed_indices", "column_mean_and_variance"]
