"""The initial statistics of many EM runs, batched into shared passes.

The k-means of every run (seeding samples, Lloyd passes, the final hard
assignment) shares passes over the source, and runs whose k-means is bound to
be identical (same K, same family geometry, same random state, e.g. the
covariance types of one K) compute it once. Requests are taken in waves (the
i-th request of every random state in wave i), so each run draws from its
random state in the order a loop of single fits would: every run gets what
:func:`fastem._init.initial_stats` computes for it alone, on the same chunks
in the same order, to the last bit.
"""

import inspect
import time
from functools import partial

import numpy as np

from ._init import _observed_rows, _random_resp, _seed_stats, initial_stats, seed_indices
from ._lloyd import _relocate_empty, kmeans
from ._moments import data_moments
from ._passes import _Bound, _Failure, shared_pass
from ._seeding import kmeans_plusplus, uniform_subset
from ._settings import settings

#: ``fastem._lloyd.kmeans``'s iteration limit and tolerance, read from its
#: signature so that batched k-means stops where a single one would.
_KMEANS_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(kmeans).parameters.items()
    if name in ("max_iter", "tol")
}


class InitRequest:
    """Initial statistics wanted by one run: ``initial_stats(family, source, method, rs)``.

    After :func:`initial_stats_many`, ``stats`` holds the statistics, or
    ``error`` the exception that computing them raised; ``seconds`` the time
    spent on this request (shared work counts for each request sharing it).
    """

    def __init__(self, family, method, random_state):
        self.family = family
        self.method = method
        self.random_state = random_state
        self.stats = None
        self.error = None
        self.seconds = 0.0


def random_state_key(random_state):
    """A hashable fingerprint of a RandomState's state."""
    name, keys, pos, has_gauss, cached = random_state.get_state()
    return (name, keys.tobytes(), int(pos), int(has_gauss), float(cached))


def geometry_key(family):
    """Families whose k-means (seeding, Lloyd passes) is bound to be the same.

    The k-means of a family depends on its class and shape only (Gaussians:
    Euclidean geometry of the rows, whatever the covariance type).
    """
    return (type(family).__module__, type(family).__qualname__, family.n_features)


def _waves(requests):
    """Requests in waves: the i-th request of every random state in wave i.

    A random state shared by several requests (the restarts of one candidate)
    is drawn from in the order of its requests, as in a loop of single fits.
    """
    waves, seen = [], {}
    for request in requests:
        position = seen.get(id(request.random_state), 0)
        seen[id(request.random_state)] = position + 1
        if position == len(waves):
            waves.append([])
        waves[position].append(request)
    return waves


class _Sampler:
    """Seeding samples (:func:`fastem._seeding.seeding_sample`) drawn for many requests at once.

    Draws the row indices of every request first, then gathers the rows of
    all of them in one pass (the sample of all rows, for sources no larger
    than the seeding sample, is gathered once and kept).
    """

    def __init__(self, source):
        self.source = source
        self._all_rows = None

    def indices(self, random_state):
        source = self.source
        n_samples = source.n_samples
        if n_samples is None:
            _ = source.weight_sum  # one pass counts the rows of an iterable
            n_samples = source.n_samples
        if n_samples <= settings.seeding_sample_rows:
            return None
        return uniform_subset(n_samples, settings.seeding_sample_rows, random_state)

    def gather(self, index_lists):
        """``(rows, weights)`` for every list of indices (None: every row)."""
        source = self.source
        needed = [i for i in index_lists if i is not None]
        everything = any(i is None for i in index_lists)
        if everything and self._all_rows is None:
            if source.in_memory:
                self._all_rows = (source.X, source.sample_weight)
            else:
                needed.append(np.arange(source.n_samples))
        taken = iter(take_many(source, needed)) if needed else iter(())
        results = [next(taken) if i is not None else None for i in index_lists]
        if everything and self._all_rows is None:
            self._all_rows = next(taken)
        out = []
        for i, result in zip(index_lists, results, strict=True):
            rows, weights = self._all_rows if i is None else result
            if source.in_memory and not source.sample_weight.size:
                weights = np.empty(0)
            out.append((rows, weights))
        return out


def take_many(source, index_lists):
    """:meth:`Source.take` for several lists of row indices, in one pass.

    Parameters
    ----------
    source : fastem._sources.Source
        The rows.
    index_lists : list of array-like of int
        Row indices, each list in its own order.

    Returns
    -------
    list of (rows, weights)
        As ``source.take(indices)`` returns for each list.
    """
    if source.in_memory or not source.sequential or len(index_lists) == 1:
        return [source.take(indices) for indices in index_lists]
    requested = [np.asarray(i, dtype=np.int64) for i in index_lists]
    orders = [np.argsort(r, kind="stable") for r in requested]
    sorted_ = [r[o] for r, o in zip(requested, orders, strict=True)]
    outputs = [None] * len(requested)
    start = 0
    for X_chunk, w_chunk in source.chunks():
        stop = start + X_chunk.shape[0]
        for j, (indices, order) in enumerate(zip(sorted_, orders, strict=True)):
            if outputs[j] is None:
                outputs[j] = (
                    np.empty((indices.size, X_chunk.shape[1]), dtype=X_chunk.dtype),
                    np.ones(indices.size),
                )
            rows, weights = outputs[j]
            lo, hi = np.searchsorted(indices, [start, stop])
            if hi > lo:
                rows[order[lo:hi]] = X_chunk[indices[lo:hi] - start]
                if w_chunk.size:
                    weights[order[lo:hi]] = w_chunk[indices[lo:hi] - start]
        start = stop
    return outputs


class _KMeansJob:
    """One k-means (``fastem._lloyd.kmeans``) whose Lloyd passes are shared with others."""

    def __init__(self, family, centers, threshold):
        self.family = family
        self.centers = centers
        self.threshold = threshold
        self.n_iter = 0
        self.done = False
        self.error = None
        self.seconds = 0.0


def _lloyd(X_chunk, w_chunk, family, centers):
    if "inertia" in inspect.signature(family.lloyd_stats).parameters:
        # As fastem._lloyd.lloyd where nothing shows the inertia: only the sums are needed.
        return family.lloyd_stats(X_chunk, w_chunk, centers, inertia=False)
    return family.lloyd_stats(X_chunk, w_chunk, centers)


def _hard(X_chunk, w_chunk, family, centers):
    return family.hard_stats(X_chunk, w_chunk, centers)


def _random_pass(source, requests):
    """``init_params="random"`` of several requests in one pass (each its own draws)."""
    step = settings.random_init_rows
    totals = [None] * len(requests)
    for X, w in source.chunks():
        for j, request in enumerate(requests):
            begin = time.perf_counter()
            K = request.family.n_components
            for start in range(0, X.shape[0], step):
                stop = min(X.shape[0], start + step)
                resp = _random_resp(request.random_state, stop - start, K)
                stats = request.family.resp_stats(
                    X[start:stop], w[start:stop] if w.size else w, resp
                )
                totals[j] = stats if totals[j] is None else totals[j] + stats
            request.seconds += time.perf_counter() - begin
    for request, total in zip(requests, totals, strict=True):
        request.stats = total


def _run_kmeans(jobs, source, hook="estep"):
    """Lloyd iterations of every job, in shared passes, as ``fastem._lloyd.lloyd`` runs them.

    Each iteration is one shared pass of every live job's ``lloyd_stats``;
    the centres then move as in a single run (:func:`fastem._lloyd._relocate_empty`,
    which reads the source once more, for that job alone, when a cluster is
    empty), and a job stops when its centres moved by at most its threshold.
    """
    max_iter = _KMEANS_DEFAULTS["max_iter"]
    while True:
        live = [job for job in jobs if not job.done and job.n_iter < max_iter]
        if not live:
            return
        results, seconds = shared_pass(
            source, [_Bound(_lloyd, job.family, job.centers) for job in live], hook=hook
        )
        for job, stats, spent in zip(live, results, seconds, strict=True):
            start = time.perf_counter()
            job.n_iter += 1
            if isinstance(stats, _Failure):
                job.error, job.done = stats.exc, True
                continue
            counts, sums = stats.arrays["counts"], stats.arrays["sums"]
            new_centers, _ = _relocate_empty(job.family, source, job.centers, counts, sums)
            shift = float(np.sum((new_centers - job.centers) ** 2))
            job.centers = new_centers
            if shift <= job.threshold:
                job.done = True
            job.seconds += spent + time.perf_counter() - start


def initial_stats_many(requests, source, hook="estep"):
    """:func:`fastem._init.initial_stats` of every request, sharing the passes.

    Each request gets exactly the statistics that its own call would return
    (same draws from its random state, same seeds, same Lloyd iterations). A
    request whose computation raises gets ``error`` instead and does not stop
    the others. Sources that are not read in order (Dask) run each request
    on its own, through :func:`fastem._init.initial_stats`.

    Parameters
    ----------
    requests : list of InitRequest
        What to compute; filled in place.
    source : fastem._sources.Source
        The rows.
    hook : str or None, default="estep"
        The test hook of the shared passes (k-means, the final assignment),
        see :func:`fastem._passes.shared_pass`.
    """
    if not source.sequential:
        for request in requests:
            start = time.perf_counter()
            try:
                request.stats = initial_stats(
                    request.family, source, request.method, request.random_state
                )
            except ValueError as exc:
                request.error = exc
            request.seconds += time.perf_counter() - start
        return
    sampler = _Sampler(source)
    kmeans_jobs = []  # (job, [requests sharing it])
    for wave in _waves(requests):
        _init_wave(wave, source, sampler, kmeans_jobs)
    jobs = [job for job, _ in kmeans_jobs]
    _run_kmeans(jobs, source, hook)
    hard = [
        (job, request)
        for job, sharing in kmeans_jobs
        for request in sharing
        if not _failed(job, sharing)
    ]
    results, seconds = shared_pass(
        source, [_Bound(_hard, request.family, job.centers) for job, request in hard], hook=hook
    )
    for (job, request), stats, spent in zip(hard, results, seconds, strict=True):
        request.seconds += spent + job.seconds / job.n_sharing
        if isinstance(stats, _Failure):
            request.error = stats.exc
        else:
            request.stats = stats


def _failed(job, requests):
    """Give the job's error to its requests; True when there is one."""
    if job.error is None:
        return False
    for request in requests:
        request.error = job.error
    return True


def _init_wave(wave, source, sampler, kmeans_jobs):
    """The draws of one wave: seeds (k-means, k-means++, random_from_data), random passes."""
    seeded = [r for r in wave if r.method in ("kmeans", "k-means++")]
    # Requests bound to draw the same seeds: same method class, family geometry,
    # number of components and random state.
    groups = {}
    for request in seeded:
        key = (
            geometry_key(request.family),
            request.family.n_components,
            random_state_key(request.random_state),
        )
        groups.setdefault(key, []).append(request)
    leaders = [group[0] for group in groups.values()]
    indices = [sampler.indices(leader.random_state) for leader in leaders]
    from_data = [r for r in wave if r.method == "random_from_data"]
    data_indices = []
    if from_data:
        weights = _all_weights(source)
        for request in from_data:
            data_indices.append(
                seed_indices(
                    source.n_samples,
                    request.family.n_components,
                    _seeding_weights(source, request.family, weights),
                    request.random_state,
                )
            )
    samples = sampler.gather(indices + data_indices)
    for leader, group, (rows, weights) in zip(
        leaders, groups.values(), samples[: len(leaders)], strict=True
    ):
        start = time.perf_counter()
        family, K = leader.family, leader.family.n_components
        try:
            chosen = kmeans_plusplus(family, rows, weights, K, leader.random_state)
        except ValueError as exc:
            for request in group:
                request.error = exc
            continue
        state = leader.random_state.get_state()
        for request in group[1:]:
            request.random_state.set_state(state)
        spent = time.perf_counter() - start
        by_method = {}
        for request in group:
            request.seconds += spent / len(group)
            by_method.setdefault(request.method, []).append(request)
        for request in by_method.get("k-means++", []):
            request.stats = _seed_stats(request.family, rows[chosen])
        if "kmeans" in by_method:
            _, variance = data_moments(source, family.column_moments)
            threshold = _KMEANS_DEFAULTS["tol"] * float(np.mean(variance))
            job = _KMeansJob(family, family.dense_rows(rows, chosen), threshold)
            job.n_sharing = len(by_method["kmeans"])
            kmeans_jobs.append((job, by_method["kmeans"]))
    for request, (rows, _) in zip(from_data, samples[len(leaders) :], strict=True):
        request.stats = _seed_stats(request.family, rows)
    randoms = [r for r in wave if r.method == "random"]
    if randoms:
        _random_pass(source, randoms)


def _seeding_weights(source, family, weights):
    """The weights ``random_from_data`` seeds with: rows without an observed value never seed.

    As :func:`fastem._init.initial_stats` draws them (one more pass, once,
    where the data has missing values).
    """
    if not getattr(family, "missing", False):
        return weights
    observed = getattr(source, "_fastem_observed_rows", None)
    if observed is None:
        observed = source.map_reduce(partial(_observed_rows, family)).values
        source._fastem_observed_rows = observed
    if observed.all():
        return weights
    return (weights if weights.size else np.ones(observed.size)) * observed


def _all_weights(source):
    cached = getattr(source, "_fastem_all_weights", None)
    if cached is None:
        cached = source.all_weights()
        if not source.in_memory:
            source._fastem_all_weights = cached
    return cached


__all__ = [
    "InitRequest",
    "geometry_key",
    "initial_stats_many",
    "random_state_key",
    "take_many",
]
