"""KMeans: scikit-learn's k-means on fastem's fused kernel, for data of any size.

K-means is the hard-assignment limit of EM (``fastem.families.kmeans``); the
estimator runs fastem's one k-means (``fastem._lloyd.kmeans``, also the
mixtures' initialisation) over any source the mixtures accept. What it
accepts is checked in ``fastem._kmeans_checks``; ``fastem._kmeans_fit`` runs
the fit.
"""

import copy
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _checkpoint, _io
from ._compat import Interval, StrOptions
from ._kmeans_checks import KMeansChecksMixin
from ._kmeans_fit import KMeansFitMixin
from ._lloyd import initial_centers
from ._make_source import adapter_for
from ._sources import ArraySource
from ._threads import kernel_threads
from .families.kmeans import KMeansFamily


def _chunk_inertia(centers, shift, X_chunk, w_chunk):
    """Weighted inertia of a chunk's rows under ``centers`` (a function Dask can ship)."""
    family = KMeansFamily(centers.shape[0], centers.shape[1], X_chunk.dtype, shift)
    return family.assign(X_chunk, w_chunk, centers)


class KMeans(
    KMeansChecksMixin,
    KMeansFitMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    ClusterMixin,
    BaseEstimator,
):
    """K-means clustering on fused, parallel Numba kernels.

    A drop-in replacement for :class:`sklearn.cluster.KMeans`: the same
    parameters, defaults, fitted attributes and methods, and from the same
    initial centres (``init`` an array) the same centres, labels, inertia and
    number of iterations, to round-off. Beyond it: ``n_jobs`` threads; float32
    data kept float32 (centres, distances) with float64 sums; every source
    that :meth:`fastem.GaussianMixture.fit` accepts (memory maps, ``.npy``
    paths, HDF5 and zarr datasets, chunked iterables: exact Lloyd, one pass
    per iteration; Dask arrays: the same kernel on every block, lazy
    ``labels_``, ``predict`` and ``transform``); :meth:`partial_fit` for
    streams; a progress bar and a callback.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (and centres).
    init : {'k-means++', 'random'}, callable or array-like of shape \
(n_clusters, n_features), default='k-means++'
        'k-means++': greedy weighted k-means++ seeding (fastem's, drawn over
        the rows in an order that depends only on their values, so that
        integer sample weights seed exactly as repeated rows; on at most
        131,072 rows drawn at random from larger data). 'random':
        ``n_clusters`` rows drawn without replacement with probability
        proportional to their weight, the same rows as scikit-learn draws
        from the same ``random_state`` for in-memory data. An array: the
        initial centres. A callable: ``init(X, n_clusters, random_state=...)``
        returning them, called with the training rows (out of core: the
        seeding sample).
    n_init : 'auto' or int, default='auto'
        Runs from different initial centres; the one with the lowest inertia
        is kept. 'auto': 1 for 'k-means++' and arrays, 10 for 'random' and
        callables (scikit-learn's rule). An array ``init`` runs once.
    max_iter : int, default=300
        Lloyd iterations per run at most.
    tol : float, default=1e-4
        Convergence when the summed squared movement of the centres is at
        most ``tol`` times the mean of the columns' variances (unweighted, as
        in scikit-learn). A run also stops when no label changed.
    verbose : int, default=0
        Print the inertia of every iteration, as scikit-learn does.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.
    copy_x : bool, default=True
        Accepted for compatibility; fastem never modifies ``X`` (it centres
        the rows block by block inside the kernel), so there is nothing to copy.
    algorithm : {'lloyd', 'elkan'}, default='lloyd'
        Accepted for compatibility: both run the same fused Lloyd pass, which
        gives the same result as either of scikit-learn's algorithms.
    n_jobs : int, default=None
        Kernel threads; None or -1 uses every core.
    chunk_size : int, default=None
        Rows read at once from out-of-core sources (memory maps, ``.npy``
        paths, HDF5/zarr datasets, iterables); None picks about 64 MiB of
        rows. In-memory arrays are one chunk unless this is set.
    progress : bool, default=False
        Show a progress bar (tqdm, on standard error) with rows/s and the
        inertia during :meth:`fit`.
    callback : callable, default=None
        ``callback(iteration, inertia)`` after every Lloyd iteration, with
        the inertia of that iteration's assignment; return True to stop.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centres, in the dtype of the training data.
    labels_ : ndarray of shape (n_samples,), int32
        Cluster of every training row (after a final assignment to the final
        centres, so ``labels_ == predict(X)``); a lazy Dask array for Dask input.
    inertia_ : float
        Sum of squared distances of the rows to their centres, weighted by
        the sample weights.
    n_iter_ : int
        Lloyd iterations of the kept run (after :meth:`partial_fit`, the
        number of batches, ``n_steps_``).
    converged_ : bool
        Whether the kept run converged (its labels stopped changing, or its
        centres moved less than ``tol``) before ``max_iter`` or a stop by
        ``callback``; a fastem addition (False after :meth:`partial_fit`).
    n_steps_ : int
        Mini-batches seen by :meth:`partial_fit`.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, for input with string column names.

    See Also
    --------
    fastem.GaussianMixture : The soft-assignment model this is the limit of.

    Notes
    -----
    Each Lloyd iteration is one fused, row-parallel pass: the distances of a
    block of rows to every centre come from one product (``|x|^2 - 2 x.c +
    |c|^2``, in float32 for speed), the nearest centre, its weighted count,
    the sum of its rows and the inertia are accumulated per thread in
    float64, and no N x K matrix exists. Labels are those of the direct
    distances ``sum (x - c)^2``: wherever the product's rounding could decide
    between two centres, they are compared directly.

    Empty clusters are relocated as scikit-learn does: an empty cluster
    takes the row farthest from its centre (the next farthest for the next
    one), which leaves its former cluster; rows of weight 0 are never taken.
    If every row sits on its centre nothing moves, and a cluster still empty
    sits on the centre of the heaviest cluster (with fewer distinct rows than
    clusters a ``ConvergenceWarning`` says so).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=float)
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    >>> (km.predict([[0, 0], [12, 3]]) == km.labels_[[0, 3]]).all()
    np.True_
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), callable, "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "copy_x": ["boolean"],
        "algorithm": [StrOptions({"lloyd", "elkan"})],
        "n_jobs": [Integral, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "progress": ["boolean"],
        "callback": [callable, None],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        verbose=0,
        random_state=None,
        copy_x=True,
        algorithm="lloyd",
        n_jobs=None,
        chunk_size=None,
        progress=False,
        callback=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.progress = progress
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- fitting ----------------------------------------------------------------------------
    def fit(
        self,
        X,
        y=None,
        sample_weight=None,
        *,
        checkpoint=None,
        checkpoint_every=0.0,
        resume=True,
        keep_checkpoint=False,
    ):
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like, path, memmap, h5py.Dataset, zarr array, iterable or callable
            Training rows. Besides in-memory arrays, every source that
            :meth:`fastem.GaussianMixture.fit` accepts: memory maps and
            ``.npy`` paths, HDF5 and zarr datasets, re-iterables (or callables
            returning an iterator) of 2-D row chunks or ``(rows,
            sample_weight)`` pairs, read ``chunk_size`` rows at a time with
            one pass per iteration; Dask arrays, processed where their blocks
            live.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; an integer weight ``m`` acts as ``m``
            copies of the row. Used by 'k-means++' and 'random' too.
        checkpoint : str or os.PathLike, default=None
            File for the state of the fit: after every Lloyd iteration (or at
            most every ``checkpoint_every`` seconds) and after every run of
            ``n_init``, the centres, iteration count, labels, the best run so
            far and the random generator's state are written atomically. The
            same call after a crash continues from it, and gives the model an
            uninterrupted fit gives (bit for bit with the same number of
            threads). A checkpoint made with other parameters or other data
            is refused with an error that says what differs. None (the
            default): no checkpoint.
        checkpoint_every : float, default=0.0
            Least seconds between two checkpoint writes; 0 writes after
            every iteration.
        resume : bool, default=True
            Continue from ``checkpoint`` if the file exists; False starts
            over (and overwrites it).
        keep_checkpoint : bool, default=False
            Keep the checkpoint, holding the final state, when the fit
            completes; by default it is removed.

        Returns
        -------
        self : object
            Fitted estimator.

        Notes
        -----
        A fit that raises (bad data, a failing chunk, KeyboardInterrupt)
        leaves the estimator as it was before the call, and the checkpoint,
        if any, usable.
        """
        self._validate_params()
        if checkpoint is not None:
            checkpoint = _checkpoint.Checkpoint(
                checkpoint, checkpoint_every, resume=resume, keep=keep_checkpoint
            )
            # Taken before the fit draws from a RandomState given as random_state.
            header = _checkpoint.estimator_header(self)
        with _checkpoint.transaction(self):
            self._fit(X, sample_weight, checkpoint, header if checkpoint is not None else None)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Compute the clustering and return every row's cluster (``fit(X).labels_``).

        Parameters
        ----------
        X : array-like or any source accepted by :meth:`fit`
            Training rows.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
            Cluster of every row.
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X, y=None, sample_weight=None):
        """Compute the clustering and return every row's distance to every centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (or a Dask array: a lazy result).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as in :meth:`fit`.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            Euclidean distances to the centres (float32 for float32 ``X``).
        """
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the centres with one mini-batch (scikit-learn's MiniBatchKMeans step).

        The first call on an unfitted estimator takes its initial centres
        from the batch (``init``; 'k-means++' or 'random' on the batch's
        rows). Every call assigns the batch's rows to the nearest centres
        and moves each centre to the running weighted mean of every row ever
        assigned to it: ``c_k += sum_batch w (x - c_k) / (n_k + sum_batch w)``
        with ``n_k`` the centre's accumulated weight, which then grows by the
        batch's. After :meth:`fit`, ``n_k`` starts from the clusters' weights
        in the fitted data (after :func:`fastem.load`, which does not keep
        them, from 0: the next batch then sets the centres it reaches).
        Unlike MiniBatchKMeans, centres with little weight are not randomly
        reassigned.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A mini-batch of rows (at least ``n_clusters`` on the first call).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows.

        Returns
        -------
        self : object
            The updated estimator; ``labels_`` and ``inertia_`` are those of
            this batch under the updated centres.
        """
        self._validate_params()
        first = not hasattr(self, "cluster_centers_")
        X = self._validate_X(X, reset=first)
        sample_weight = self._validate_sample_weight(sample_weight, X)
        with kernel_threads(self.n_jobs, X.shape[0]):
            if first:
                if X.shape[0] < self.n_clusters:
                    raise self._too_few_rows(X.shape[0])
                if not hasattr(self, "_random_state"):
                    self._random_state = check_random_state(self.random_state)
                batch = ArraySource(X, sample_weight)
                shift = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
                family = KMeansFamily(self.n_clusters, X.shape[1], X.dtype, shift=shift)
                check_centers = self._centers_checker(X.shape[1], X.dtype)
                init = self.init
                if not (isinstance(init, str) or callable(init)):
                    init = check_centers(init)
                centers = check_centers(
                    initial_centers(family, batch, self.n_clusters, init, self._random_state)
                )
                counts = np.zeros(self.n_clusters)
                self.n_steps_ = 0
            else:
                centers = np.array(self.cluster_centers_, dtype=np.float64)
                counts = getattr(self, "_counts", None)
                counts = np.zeros(self.n_clusters) if counts is None else counts.copy()
                family = KMeansFamily(
                    self.n_clusters, X.shape[1], X.dtype, shift=centers.mean(axis=0)
                )
            stats = family.lloyd_stats(X, sample_weight, centers, inertia=False)
            batch_counts, sums = stats.arrays["counts"], stats.arrays["sums"]
            filled = batch_counts > 0
            total = counts + batch_counts
            centers[filled] += sums[filled] / total[filled, None]
            labels = np.empty(X.shape[0], dtype=np.int32)
            inertia = family.assign(X, sample_weight, centers, labels=labels)
        self.cluster_centers_ = centers.astype(X.dtype)
        self._n_features_out = self.n_clusters
        self._counts = total
        self.labels_ = labels
        self.inertia_ = float(inertia)
        self.n_steps_ = getattr(self, "n_steps_", 0) + 1
        self.n_iter_ = self.n_steps_
        self.converged_ = False
        return self

    # -- prediction -------------------------------------------------------------------------
    def _family(self, dtype):
        centers = np.asarray(self.cluster_centers_, dtype=np.float64)
        # The centre of the centres: a shift near the data's, known after loading too.
        return KMeansFamily(
            self.n_clusters, centers.shape[1], dtype, shift=centers.mean(axis=0)
        ), centers

    def _rowwise(self, X, method, n_columns, dtype):
        """``_<method>`` on validated rows, or lazily per block where an adapter holds ``X``."""
        check_is_fitted(self, "cluster_centers_")
        adapter = adapter_for(X)
        if adapter is not None:
            single = copy.copy(self)
            single.n_jobs = 1
            single.callback = None
            return adapter.map_rows(X, getattr(single, method), n_columns, dtype)
        return getattr(self, "_" + method)(self._validate_X(X, reset=False))

    def _predict(self, X):
        family, centers = self._family(X.dtype)
        labels = np.empty(X.shape[0], dtype=np.int32)
        with kernel_threads(self.n_jobs, X.shape[0]):
            family.assign(X, np.empty(0), centers, labels=labels)
        return labels

    def _transform(self, X):
        family, centers = self._family(X.dtype)
        with kernel_threads(self.n_jobs, X.shape[0]):
            sq = family.sq_distances(X, centers)
        np.sqrt(sq, out=sq)
        return sq.astype(self._distance_dtype(X.dtype), copy=False)

    def _distance_dtype(self, dtype):
        """dtype of ``transform``: the rows' float dtype promoted with the centres'.

        As scikit-learn's ``euclidean_distances``: float32 only when both are.
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            dtype = np.dtype(np.float64)  # what validation converts other rows to
        return np.result_type(dtype, np.asarray(self.cluster_centers_).dtype)

    def predict(self, X):
        """Nearest centre of every row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows (a Dask array gives a lazy Dask array).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
            Index of the nearest centre (the lowest index on exact ties).
        """
        return self._rowwise(X, "predict", None, np.int32)

    def transform(self, X):
        """Euclidean distance of every row to every centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows (a Dask array gives a lazy Dask array).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            Distances, computed directly as ``sqrt(sum (x - c)^2)``: float32
            when ``X`` and the centres are float32, else float64 (as in
            scikit-learn).
        """
        check_is_fitted(self, "cluster_centers_")
        # The dtype of a lazy result, which must be known before any block is.
        dtype = self._distance_dtype(_rows_dtype(X)) if adapter_for(X) is not None else None
        return self._rowwise(X, "transform", self.n_clusters, dtype)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the k-means objective on ``X``: minus the (weighted) inertia.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows (or a Dask array, reduced where its blocks live).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        score : float
            ``-sum w |x - c_nearest|^2``.
        """
        check_is_fitted(self, "cluster_centers_")
        family, centers = self._family(np.float64)
        adapter = adapter_for(X)
        if adapter is not None:
            source = adapter.source(X, sample_weight, check_chunk=self._check_chunk)
            return -float(source.map_reduce(partial(_chunk_inertia, centers, family.shift)))
        X = self._validate_X(X, reset=False)
        weights = self._validate_sample_weight(sample_weight, X)
        with kernel_threads(self.n_jobs, X.shape[0]):
            return -float(family.assign(X, weights, centers))

    def save(self, path):
        """Save the estimator to a portable ``.npz`` file; read it back with :func:`fastem.load`.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, written exactly as named.
        """
        _io.save(self, path)


def _rows_dtype(X):
    """The dtype of the rows of an array or data frame (float64 where not one dtype)."""
    if hasattr(X, "dtype"):
        return X.dtype
    try:
        return np.result_type(*X.dtypes)
    except (AttributeError, TypeError):
        return np.float64


_io.register_estimator(KMeans)

__all__ = ["KMeans"]
