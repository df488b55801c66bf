"""Initial statistics for every family: k-means, k-means++ and random starts.

Written against the family contract (``fastem.families.Family``): the seeds
come from :mod:`fastem._seeding`, the k-means from :mod:`fastem._lloyd`, and
the starts become statistics through the family's ``resp_stats`` and
``hard_stats``, in memory, chunked or on Dask.

Sample weights: ``init_params="random"`` and ``"random_from_data"`` draw as
scikit-learn does, per row, so there weights and copies give different
(equally valid) random starts.
"""

from functools import partial

import numpy as np

from ._lloyd import kmeans
from ._seeding import kmeans_plusplus, seeding_sample
from ._settings import settings


class _Rows:
    """Per-row values of consecutive chunks, concatenated by ``+`` (left operand first)."""

    def __init__(self, values):
        self.values = values

    def __add__(self, other):
        return _Rows(np.concatenate([self.values, other.values]))


def _observed_rows(family, X_chunk, w_chunk):
    return _Rows(family.observed_rows(X_chunk))


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


def _seed_stats(family, rows):
    """Statistics of component k made of the one point ``rows[k]``.

    Each seed counts once whatever its sample weight, as in scikit-learn (its
    responsibility is 1 and every other row's 0): a row of weight ``m`` then
    seeds exactly as one of its ``m`` copies would.
    """
    K = family.n_components
    return family.resp_stats(rows, np.empty(0), np.eye(K))


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
        centers = kmeans(family, source, K, random_state, final_assignment=False).centers
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
        return _seed_stats(family, rows[indices])
    weights = source.all_weights()
    if getattr(family, "missing", False):
        # Seeds are drawn among the rows with at least one observed value.
        observed = source.map_reduce(partial(_observed_rows, family)).values
        if not observed.all():
            weights = (weights if weights.size else np.ones(observed.size)) * observed
    indices = seed_indices(source.n_samples, K, weights, random_state)
    return _seed_stats(family, source.take(indices)[0])


__all__ = ["initial_stats"]
