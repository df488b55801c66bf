"""Mixture: the estimator base shared by every family.

It owns what scikit-learn users know (validation, ``n_init``, ``warm_start``,
the convergence rule, ``predict*``, ``score*``, ``bic``/``aic``), the
parameters every mixture shares, and reaches the numerics only through the
family contract (``fastem.families.Family``), the initialisation
(``fastem._init``) and the drivers. See ``docs/architecture.md``.
"""

import copy
import math
import warnings
from abc import abstractmethod
from numbers import Integral, Real
from time import perf_counter

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _io
from ._compat import Interval, StrOptions, _check_sample_weight
from ._drivers import exact_em, stepwise_update
from ._init import data_moments, initial_stats
from ._progress import Progress
from ._sources import ArraySource, adapter_for, is_out_of_core, make_source
from ._threads import kernel_threads

#: numpydoc text of the parameters every mixture shares; estimators' docstrings
#: hold ``%(shared_parameters)s`` where it goes (see :func:`fill_shared_doc`).
SHARED_PARAMETERS_DOC = """\
tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood per sample.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of :meth:`sample`.
    warm_start : bool, default=False
        Continue from the fitted parameters on the next :meth:`fit`.
    verbose : int, default=0
        Print progress (1: iterations, 2: with timings and changes).
    verbose_interval : int, default=10
        Iterations between two progress lines.
    n_jobs : int, default=None
        Kernel threads; None or -1 uses every core.
    chunk_size : int, default=None
        Rows read at once from out-of-core sources (memory maps, ``.npy``
        paths, HDF5/zarr datasets, iterables); None picks about 64 MiB of
        rows. In-memory arrays are one chunk unless this is set.
    decay : float, default=0.7
        Exponent of the step size ``(t + 2) ** -decay`` of online EM
        (:meth:`partial_fit`, ``fit(mode="online")``); in (0.5, 1].
    progress : bool, default=False
        Show a progress bar (tqdm, on standard error) with rows/s and the
        current mean log-likelihood during :meth:`fit`.
    callback : callable, default=None
        ``callback(iteration, lower_bound)`` after every EM iteration (online:
        every mini-batch); return True to stop early."""


def fill_shared_doc(cls):
    """Class decorator: put :data:`SHARED_PARAMETERS_DOC` into ``cls.__doc__``."""
    if cls.__doc__:
        cls.__doc__ = cls.__doc__.replace("%(shared_parameters)s", SHARED_PARAMETERS_DOC)
    return cls


class Mixture(DensityMixin, BaseEstimator):
    """Base class of fastem's mixtures; not for direct use.

    Subclasses keep an explicit ``__init__`` signature (scikit-learn's
    ``get_params`` reads it) that passes the shared parameters to this one,
    and provide the hooks below.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        "decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "progress": ["boolean"],
        "callback": [callable, None],
    }

    def __init__(
        self,
        n_components,
        *,
        tol,
        max_iter,
        n_init,
        init_params,
        weights_init,
        means_init,
        random_state,
        warm_start,
        verbose,
        verbose_interval,
        n_jobs,
        chunk_size,
        decay,
        progress,
        callback,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.decay = decay
        self.progress = progress
        self.callback = callback

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _io.register_estimator(cls)

    # -- hooks a family estimator provides -------------------------------------------
    #: The family class (``fastem.families.Family``) of this estimator.
    _family_class = None

    @abstractmethod
    def _make_family(self, n_features, dtype=np.float64, shift=None):
        """The family object for ``n_features`` columns of ``dtype``, around ``shift``."""

    @abstractmethod
    def _reg(self):
        """The regularisation handed to the family's M-step."""

    @abstractmethod
    def _check_init_parameters(self, n_features, dtype):
        """Validate user-given initial parameters (``weights_init`` and friends)."""

    @abstractmethod
    def _initial_params(self, family, source, random_state):
        """Initial parameters of one initialisation (see :meth:`_initial_stats`)."""

    @abstractmethod
    def _params_to_attributes(self, params, dtype):
        """Set the fitted attributes from family parameters."""

    @abstractmethod
    def _params_from_attributes(self):
        """Family parameters from the fitted attributes (users may set them)."""

    _attributes_for_fitted = ("weights_", "means_")

    def _initial_stats(self, family, source, random_state):
        """Statistics of the initial responsibilities chosen by ``init_params``."""
        return initial_stats(family, source, self.init_params, random_state)

    def _fit_family(self, source):
        """The family for fitting ``source``: centred on the data where it sums around one."""
        shift = None
        if self._family_class.uses_shift:
            family = self._make_family(source.n_features, source.dtype)
            shift = data_moments(source, family.column_moments)[0]
        return self._make_family(source.n_features, source.dtype, shift)

    def save(self, path):
        """Save the mixture to a portable ``.npz`` file; read it back with :func:`fastem.load`.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, written exactly as named.
        """
        _io.save(self, path)

    # -- input handling -----------------------------------------------------------------
    def _validate_X(self, X, reset):
        return validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
            reset=reset,
            order="C",
        )

    @staticmethod
    def _validate_sample_weight(sample_weight, X):
        """Float64 weights, or an empty array meaning 'all ones' (no N-sized copy)."""
        if sample_weight is None:
            return np.empty(0, dtype=np.float64)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must have at least one positive entry; all are 0.")
        return np.ascontiguousarray(sample_weight)

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, *, mode="exact", batch_size=None, n_epochs=1):
        """Estimate the model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters of the
        initialisation with the largest lower bound are kept. Each run iterates
        E- and M-steps until the change of the mean log-likelihood per sample
        is below ``tol`` or ``max_iter`` is reached (a ``ConvergenceWarning``
        then). With ``warm_start``, later calls continue from the fitted model.

        Parameters
        ----------
        X : array-like, path, memmap, h5py.Dataset, zarr array, iterable or callable
            Training data, one row per sample. Besides in-memory arrays:
            ``np.memmap``/``np.load(..., mmap_mode="r")`` arrays and paths to
            ``.npy`` files (memory-mapped, never copied whole), HDF5 and zarr
            datasets, and any re-iterable (or callable returning an iterator)
            of 2-D row chunks, or of ``(rows, sample_weight)`` pairs. These are
            read in chunks of ``chunk_size`` rows: exact EM, one pass per
            iteration, memory bounded by a couple of chunks.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a row of weight 0 has no effect and an
            integer weight ``m`` acts like ``m`` copies of the row.
        mode : {"exact", "online"}, default="exact"
            "exact": batch EM over all rows per iteration. "online": stepwise
            EM (see :meth:`partial_fit`) over mini-batches of ``batch_size``
            rows for ``n_epochs`` passes; prefer it for a single pass over a
            stream or for data too large to read many times. Rows should be
            in random order (in-memory arrays have their batch order shuffled
            each epoch).
        batch_size : int, default=None
            Rows per mini-batch in online mode (None: ``chunk_size``, or 10,000).
        n_epochs : int, default=1
            Passes over the data in online mode.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        self._fit(X, sample_weight, mode=mode, batch_size=batch_size, n_epochs=n_epochs)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model to ``X`` and return the most probable component of each row.

        Equal to ``fit(X).predict(X)``: a final E-step with the retained
        parameters gives the labels.

        Parameters
        ----------
        X : array-like or any source accepted by :meth:`fit`
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        source = self._fit(X, sample_weight)
        if not source.sequential:
            return self.predict(X)
        with kernel_threads(self.n_jobs):
            return np.concatenate(
                [self._weighted_log_prob(chunk).argmax(axis=1) for chunk, _ in source.chunks()]
            )

    @staticmethod
    def _check_chunk(rows):
        """Validate and convert one raw chunk of an out-of-core source (floats, finite).

        A static method: Dask ships it to the workers, which must not need the
        estimator (nor what its callback holds).
        """
        rows = np.asarray(rows)
        if rows.ndim != 2:
            raise ValueError(f"Every chunk must be a 2-D array of rows, got shape {rows.shape}.")
        if rows.dtype not in (np.float32, np.float64):
            if not np.issubdtype(rows.dtype, np.number) and rows.dtype != np.bool_:
                raise ValueError(f"Rows must be numeric, got dtype {rows.dtype}.")
            rows = rows.astype(np.float64)
        if not np.all(np.isfinite(rows)):
            raise ValueError("Input X contains NaN or infinity.")
        return np.ascontiguousarray(rows)

    def _fit_source(self, X, sample_weight):
        """The source of rows for ``fit``, validated as far as can be without a pass."""
        chunk_size = self.chunk_size
        if adapter_for(X) is not None or is_out_of_core(X):
            return make_source(
                X, sample_weight, chunk_size=chunk_size, check_chunk=self._check_chunk
            )
        X = self._validate_X(X, reset=True)
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, n_samples = {X.shape[0]}"
            )
        sample_weight = self._validate_sample_weight(sample_weight, X)
        if sample_weight.size and np.count_nonzero(sample_weight) < self.n_components:
            raise ValueError(
                f"Expected at least n_components = {self.n_components} samples with "
                f"positive weight, got {np.count_nonzero(sample_weight)}."
            )
        return ArraySource(X, sample_weight, chunk_size=chunk_size)

    def _check_source_size(self, source):
        """Row-count checks that an out-of-core source allows only after one pass."""
        if source.in_memory:
            return
        if source.n_samples < max(2, self.n_components):
            raise ValueError(
                "Expected n_samples >= n_components and at least 2 samples, but got "
                f"n_components = {self.n_components}, n_samples = {source.n_samples}"
            )
        self.n_features_in_ = source.n_features
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _fit(self, X, sample_weight, mode="exact", batch_size=None, n_epochs=1):
        self._validate_params()
        if mode not in ("exact", "online"):
            raise ValueError(f"mode must be 'exact' or 'online', got {mode!r}.")
        source = self._fit_source(X, sample_weight)
        with kernel_threads(self.n_jobs, _rows_per_call(source)):
            if source.n_features is None:
                source.peek()
            if mode == "online":
                if not source.sequential:
                    raise ValueError(
                        "mode='online' reads mini-batches in order on the client; it is not "
                        "available for Dask arrays. Use exact EM (the default) there."
                    )
                self._fit_online(source, batch_size, n_epochs)
                return source
            family = self._fit_family(source)
            _ = source.weight_sum  # completes the validating first pass
            self._check_source_size(source)
            self._check_init_parameters(source.n_features, source.dtype)
            self._fit_exact(family, source)
        return source

    def _fit_exact(self, family, source):
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        best = None
        self.converged_ = False
        progress = Progress(self.progress, self.max_iter * n_init)
        try:
            for init in range(n_init):
                self._verbose_init_begin(init)
                if do_init:
                    params = self._initial_params(family, source, random_state)
                    lower_bound = -np.inf
                else:
                    params = self._params_from_attributes()
                    lower_bound = self.lower_bound_
                if self.max_iter == 0:
                    result = (params, -np.inf, [], 0, False)
                else:
                    params, bounds, n_iter, converged = exact_em(
                        family,
                        source,
                        params,
                        reg=self._reg(),
                        tol=self.tol,
                        max_iter=self.max_iter,
                        lower_bound=lower_bound,
                        on_iteration=self._verbose_iteration,
                        progress=progress,
                        callback=self.callback,
                    )
                    self._verbose_init_end(bounds[-1], converged)
                    result = (params, bounds[-1], bounds, n_iter, converged)
                if best is None or result[1] > best[1] or best[1] == -np.inf:
                    best = result
        finally:
            progress.close()
        params, lower_bound, bounds, n_iter, converged = best
        self.converged_ = converged
        if not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        self._params_to_attributes(params, source.dtype)
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = bounds

    # -- online (stepwise) EM -----------------------------------------------------------
    def _online_start(self, X_batch, w_batch, random_state):
        """First mini-batch: the family (centred on the batch) and initial parameters."""
        batch = ArraySource(X_batch, w_batch)
        family = self._fit_family(batch)
        self._check_init_parameters(family.n_features, X_batch.dtype)
        if self.warm_start and hasattr(self, "converged_") and hasattr(self, "weights_"):
            params = self._params_from_attributes()
        else:
            params = self._initial_params(family, batch, random_state)
        self._online = {"stats": None, "t": 0, "shift": family.shift, "dtype": X_batch.dtype}
        return family, params

    def _online_step(self, family, X_batch, w_batch, params):
        state = self._online
        running, params, batch_ll = stepwise_update(
            family,
            state["stats"],
            X_batch,
            w_batch,
            params,
            t=state["t"],
            decay=self.decay,
            reg=self._reg(),
        )
        state["stats"] = running
        state["t"] += 1
        return params, batch_ll

    def partial_fit(self, X, y=None, sample_weight=None):
        """One step of online (stepwise) EM on a mini-batch.

        The first call initialises the model from the batch (``init_params``);
        every call then computes the batch's statistics, blends them into
        running statistics with step ``(t + 2) ** -decay`` and takes an
        M-step. Use it for streams that never end or are read once; for data
        that can be read several times, exact EM (:meth:`fit`) converges to the
        batch optimum without step-size tuning.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A mini-batch of rows (at least ``n_components`` on the first call).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows.

        Returns
        -------
        self : object
            The updated mixture. ``lower_bound_`` is the mean log-likelihood
            of this batch under the parameters before the step.
        """
        self._validate_params()
        first = not hasattr(self, "_online")
        X = self._validate_X(X, reset=first)
        if first and X.shape[0] < self.n_components:
            raise ValueError(
                "The first partial_fit batch needs n_samples >= n_components, got "
                f"n_components = {self.n_components}, n_samples = {X.shape[0]}"
            )
        sample_weight = self._validate_sample_weight(sample_weight, X)
        with kernel_threads(self.n_jobs, X.shape[0]):
            if first:
                if not hasattr(self, "_online_random_state"):
                    self._online_random_state = check_random_state(self.random_state)
                family, params = self._online_start(X, sample_weight, self._online_random_state)
                self.lower_bounds_ = []
            else:
                state = self._online
                family = self._make_family(X.shape[1], state["dtype"], state["shift"])
                params = self._params_from_attributes()
            params, batch_ll = self._online_step(family, X, sample_weight, params)
        self._params_to_attributes(params, self._online["dtype"])
        self.lower_bound_ = batch_ll
        self.lower_bounds_.append(batch_ll)
        self.n_iter_ = self._online["t"]
        self.converged_ = False
        return self

    def _fit_online(self, source, batch_size, n_epochs):
        """``fit(mode="online")``: stepwise EM over mini-batches of a source."""
        if not isinstance(n_epochs, Integral) or n_epochs < 1:
            raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}.")
        if batch_size is None:
            batch_size = self.chunk_size or 10_000
        if not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if hasattr(self, "_online"):
            del self._online
        random_state = check_random_state(self.random_state)
        progress = Progress(self.progress, None, "online EM")
        callback = self.callback
        family, params, previous, epoch_means = None, None, -np.inf, []
        converged = False
        try:
            for _ in range(n_epochs):
                ll_sum = w_sum = 0.0
                for X_batch, w_batch in _mini_batches(source, batch_size, random_state):
                    if params is None:
                        family, params = self._online_start(X_batch, w_batch, random_state)
                    params, batch_ll = self._online_step(family, X_batch, w_batch, params)
                    w = float(w_batch.sum()) if w_batch.size else float(X_batch.shape[0])
                    ll_sum, w_sum = ll_sum + batch_ll * w, w_sum + w
                    progress.rows(X_batch.shape[0])
                    progress.iteration(self._online["t"], batch_ll)
                    if callback is not None and callback(self._online["t"], batch_ll):
                        break
                epoch_means.append(ll_sum / w_sum)
                converged = abs(epoch_means[-1] - previous) < self.tol
                previous = epoch_means[-1]
        finally:
            progress.close()
        self._check_source_size(source)
        self._params_to_attributes(params, self._online["dtype"])
        self.lower_bound_ = epoch_means[-1]
        self.lower_bounds_ = epoch_means
        self.n_iter_ = self._online["t"]
        self.converged_ = bool(converged and n_epochs > 1)

    # -- verbose output, as scikit-learn prints it -------------------------------------
    def _verbose_init_begin(self, init):
        if self.verbose >= 1:
            print(f"Initialization {init}")
            self._init_prev_time = self._iter_prev_time = perf_counter()

    def _verbose_iteration(self, n_iter, change):
        if self.verbose and n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            else:
                now = perf_counter()
                print(
                    f"  Iteration {n_iter}\t time lapse {now - self._iter_prev_time:.5f}s\t "
                    f"ll change {change:.5f}"
                )
                self._iter_prev_time = now

    def _verbose_init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self._init_prev_time
            print(
                f"Initialization {message}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )

    # -- prediction -------------------------------------------------------------------------
    def _weighted_log_prob(self, X):
        params = self._params_from_attributes()
        family = self._make_family(X.shape[1], X.dtype)
        with kernel_threads(self.n_jobs, X.shape[0]):
            log_prob = family.log_prob(X, params)
        with np.errstate(divide="ignore"):
            log_prob += np.log(params.weights)
        return log_prob

    @staticmethod
    def _output_dtype(X):
        """dtype of ``predict_proba``/``score_samples`` for validated rows ``X``."""
        return X.dtype

    def _rowwise(self, X, method, n_columns, dtype):
        """``_<method>`` on validated rows, or lazily per block where an adapter holds ``X``.

        The one place where prediction dispatches on the kind of input: an
        adapter's blocks (Dask) run the public ``method`` of a copy of this
        estimator with one kernel thread each.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        adapter = adapter_for(X)
        if adapter is not None:
            single = copy.copy(self)
            single.n_jobs = 1
            return adapter.map_rows(X, getattr(single, method), n_columns, dtype)
        return getattr(self, "_" + method)(self._validate_X(X, reset=False))

    def _predict(self, X):
        return self._weighted_log_prob(X).argmax(axis=1)

    def _predict_proba(self, X):
        weighted = self._weighted_log_prob(X)
        norm = logsumexp(weighted, axis=1)
        with np.errstate(under="ignore"):
            return np.exp(weighted - norm[:, None]).astype(self._output_dtype(X), copy=False)

    def _score_samples(self, X):
        return logsumexp(self._weighted_log_prob(X), axis=1).astype(
            self._output_dtype(X), copy=False
        )

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (a Dask array gives a lazy Dask array).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self._rowwise(X, "predict", None, np.int64)

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (a Dask array gives a lazy Dask array).

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; rows sum to 1.
        """
        return self._rowwise(X, "predict_proba", self.n_components, np.float64)

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data (a Dask array gives a lazy Dask array).

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(x)`` of every row.
        """
        return self._rowwise(X, "score_samples", None, np.float64)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted mean with ``sample_weight``).

        Without weights this is exactly ``score_samples(X).mean()``, as in
        scikit-learn.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the mean.

        Returns
        -------
        log_likelihood : float
            Mean log-likelihood of ``X`` under the model.
        """
        log_prob = self.score_samples(X)
        if sample_weight is None:
            return float(log_prob.mean())
        if not isinstance(log_prob, np.ndarray):  # lazy (Dask): reduce where it lives
            return float((log_prob * sample_weight).sum() / sample_weight.sum())
        return float(np.average(log_prob, weights=np.asarray(sample_weight, dtype=np.float64)))

    def _n_parameters(self):
        check_is_fitted(self, self._attributes_for_fitted)
        return self._make_family(np.shape(self.means_)[1]).n_parameters()

    def bic(self, X):
        """Bayesian information criterion of the model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        bic : float
            ``-2 log L + n_parameters * log(n_samples)``.
        """
        n_samples = np.shape(X)[0]
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(n_samples)

    def aic(self, X):
        """Akaike information criterion of the model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        aic : float
            ``-2 log L + 2 n_parameters``.
        """
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw random rows from the fitted model.

        Uses ``random_state`` exactly as scikit-learn does, so the same seed
        gives the same rows.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows, grouped by component.
        y : ndarray of shape (n_samples,)
            The component of each row.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        params = self._params_from_attributes()
        family = self._make_family(params.means.shape[1], np.asarray(self.means_).dtype)
        rng = check_random_state(self.random_state)
        return family.sample(params, n_samples, rng)


def check_weights(weights, n_components):
    """``weights_init`` validated as scikit-learn does: shape (K,), in [0, 1], summing to 1."""
    given = np.asarray(weights)
    atol = 1e-6 if given.dtype == np.float32 else 1e-8
    weights = given.astype(np.float64)
    if weights.shape != (n_components,):
        raise ValueError(
            f"The parameter 'weights' should have the shape of {(n_components,)}, "
            f"but got {weights.shape}"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(weights > 1):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.max(weights):.5f}, min value {np.min(weights):.5f}"
        )
    if not np.allclose(abs(1.0 - weights.sum()), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got "
            f"sum(weights) = {weights.sum():.5f}"
        )
    return weights


def _mini_batches(source, batch_size, random_state):
    """Mini-batches of ``batch_size`` rows; in-memory arrays in a shuffled batch order."""
    if source.in_memory:
        X, w = source.X, source.sample_weight
        starts = np.arange(0, X.shape[0], batch_size)
        for start in starts[random_state.permutation(starts.size)]:
            stop = min(X.shape[0], start + batch_size)
            yield X[start:stop], (w[start:stop] if w.size else w)
        return
    for X_chunk, w_chunk in source.chunks():
        for start in range(0, X_chunk.shape[0], batch_size):
            stop = min(X_chunk.shape[0], start + batch_size)
            yield X_chunk[start:stop], (w_chunk[start:stop] if w_chunk.size else w_chunk)


def _rows_per_call(source):
    """The most rows one kernel call of a fit reads (None when unknown)."""
    if not source.sequential or source.n_samples is None:
        return None
    if source.in_memory and source.chunk_size is None:
        return source.n_samples
    return min(source.n_samples, source._chunk_rows())
