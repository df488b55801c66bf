"""The starts of the selector's candidates: initial parameters, one EM run each.

The estimator's own initialisation batched over every candidate (its passes
shared, ``fastem._multi.initial_stats_many``), k-means++ seeds drawn among
rows held in memory, and one :class:`fastem._multi.Run` per distinct start.
"""

import time

import numpy as np

from .._multi import Run
from .._multi_init import InitRequest, geometry_key, initial_stats_many, random_state_key
from .._seeding import SeedingRows, kmeans_plusplus


def _params_key(params):
    """A hashable image of a parameters object (identical starts give identical runs)."""

    def part(value):
        if isinstance(value, np.ndarray):
            return (value.shape, value.dtype.str, value.tobytes())
        if isinstance(value, tuple):
            return tuple(part(v) for v in value)
        return repr(value)

    return tuple(part(value) for value in vars(params).values())


def initial_runs(candidates, source, states, n_starts):
    """Starts from the estimator's own initialisation, batched over every candidate.

    ``n_starts(candidate)`` of them per candidate, drawn one after the
    other from the candidate's random state (as ``n_init`` restarts are).
    """
    pending = []  # (candidate, request or None, params or None)
    requests = []
    for candidate, random_state in zip(candidates, states, strict=True):
        if candidate.error is not None:
            continue
        estimator, family = candidate.estimator, candidate.family
        for _ in range(n_starts(candidate)):
            try:
                params = estimator._initial_params_without_stats(family, source, random_state)
            except ValueError as exc:
                candidate.fail(exc)
                break
            if params is None:
                request = InitRequest(family, estimator.init_params, random_state)
                requests.append(request)
                pending.append((candidate, request, None))
            else:
                pending.append((candidate, None, params))
    initial_stats_many(requests, source)
    for candidate, request, params in pending:
        if candidate.error is not None:
            continue
        if request is not None:
            candidate.seconds += request.seconds
            if request.error is not None:
                candidate.init_errors.append(request.error)
                continue
            params = _params_from_stats(candidate, request.stats, source)
            if params is None:
                continue
        _add_run(candidate, params)


def _params_from_stats(candidate, stats, source):
    """The estimator's initial parameters from given initial statistics (None if invalid)."""
    start = time.perf_counter()
    try:
        return candidate.estimator._initial_params_from_stats(candidate.family, source, stats)
    except ValueError as exc:
        candidate.init_errors.append(exc)
        return None
    finally:
        candidate.seconds += time.perf_counter() - start


def seeded_runs(candidates, states, n_starts, rows, weights, source):
    """Starts from k-means++ seeds drawn among ``rows`` (no pass over the data).

    Seeds of candidates bound to draw the same ones (the covariance types
    of one K, from equal random states) are drawn once.
    """
    drawn = {}
    prepared = {}  # the rows sorted for seeding, once per geometry
    for candidate, random_state in zip(candidates, states, strict=True):
        if candidate.error is not None:
            continue
        family, K = candidate.family, candidate.n_components
        for _ in range(n_starts(candidate)):
            key = (geometry_key(family), K, random_state_key(random_state))
            start = time.perf_counter()
            if key in drawn:
                chosen, state = drawn[key]
                random_state.set_state(state)
            else:
                geometry = (geometry_key(family), getattr(family, "missing", None))
                if geometry not in prepared:
                    prepared[geometry] = SeedingRows(family, rows, weights)
                chosen = kmeans_plusplus(
                    family, rows, weights, K, random_state, prepared=prepared[geometry]
                )
                drawn[key] = (chosen, random_state.get_state())
            # Each seed is one point, whatever its weight (as k-means++ starts).
            stats = family.resp_stats(family.dense_rows(rows, chosen), np.empty(0), np.eye(K))
            candidate.seconds += time.perf_counter() - start
            params = _params_from_stats(candidate, stats, source)
            if params is not None:
                _add_run(candidate, params)


def _add_run(candidate, params):
    """A run from ``params`` for the candidate, unless an identical start has one."""
    estimator = candidate.estimator
    key = _params_key(params)
    if any(getattr(run, "key", None) == key for run in candidate.runs):
        # Identical starts (k-means landing on the same partition) give
        # identical runs: one of them is enough.
        return
    max_iter = estimator.max_iter
    run = Run(
        candidate.family,
        params,
        reg=estimator._reg(),
        tol=estimator.tol,
        max_iter=max_iter,
        tag=candidate,
    )
    run.key = key
    candidate.runs.append(run)
