"""Fitting KMeans on a source: ``n_init`` runs of fastem's k-means, checkpoints, the result.

A mixin of :class:`fastem.KMeans`: the body of ``fit`` once its checkpoint
is open (the data's moments and tolerance, the runs of
``fastem._init.kmeans``, the fitted attributes). See docs/architecture.md.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _checkpoint
from ._lloyd import kmeans
from ._moments import data_moments
from ._progress import Progress
from ._sources import rows_per_call
from ._threads import kernel_threads
from .families.kmeans import KMeansFamily


class KMeansFitMixin:
    """The fit of :class:`fastem.KMeans` over any source, on the hooks of its checks mixin."""

    def _fit(self, X, sample_weight, checkpoint, header):
        if self.algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' "
                "instead.",
                RuntimeWarning,
                stacklevel=2,
            )
        source = self._fit_source(X, sample_weight)
        n_init = self._resolved_n_init()
        random_state = check_random_state(self.random_state)
        state = on_state = None
        with kernel_threads(self.n_jobs, rows_per_call(source)):
            if source.n_features is None:
                source.peek()
            if checkpoint is not None:
                header["data"] = _checkpoint.source_fingerprint(source)
                state = checkpoint.start(header)
                if state is not None:
                    _checkpoint.set_rng_state(random_state, state["rng"])
                on_state = checkpoint.save
            mean, variance = data_moments(source, KMeansFamily.column_moments, weighted=False)
            _ = source.weight_sum  # completes the validating first pass
            self._check_source_size(source)
            n_features, dtype = source.n_features, source.dtype
            check_centers = self._centers_checker(n_features, dtype)
            init = self.init
            if not (isinstance(init, str) or callable(init)):
                init = check_centers(init)
            family = KMeansFamily(self.n_clusters, n_features, dtype, shift=mean)
            threshold = float(np.mean(variance)) * self.tol if self.tol > 0 else 0.0
            progress = Progress(self.progress, self.max_iter * n_init, "k-means")
            try:
                result = kmeans(
                    family,
                    source,
                    self.n_clusters,
                    random_state,
                    self.max_iter,
                    init=init,
                    n_init=n_init,
                    threshold=threshold,
                    labels=source.sequential,
                    check_centers=check_centers,
                    callback=self.callback,
                    progress=progress,
                    verbose=self.verbose,
                    state=state,
                    on_state=on_state,
                )
            finally:
                progress.close()
        if checkpoint is not None:
            final = {
                "run": n_init,
                "current": None,
                "best": result,
                "rng": _checkpoint.rng_state(random_state),
            }
            checkpoint.finish(lambda: final)
        self._n_init = n_init
        self.cluster_centers_ = result.centers.astype(dtype)
        self._n_features_out = self.n_clusters
        self.inertia_ = float(result.inertia)
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        self._counts = result.counts
        if result.labels is not None:
            self.labels_ = result.labels
            distinct = int(np.unique(result.labels).size)
        else:
            self.labels_ = self.predict(X)
            distinct = int(np.count_nonzero(result.counts > 0))
        if distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self
