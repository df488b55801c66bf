"""Mixture: the estimator base shared by every family.

It owns what scikit-learn users know (validation, ``n_init``, ``warm_start``,
the convergence rule, ``predict*``, ``score*``, ``bic``/``aic``) and reaches the
numerics only through the family contract (``estep_stats``, ``m_step``,
``log_prob``, ``n_parameters``, ``sample``) and the drivers.
"""

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
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._drivers import exact_em, stepwise_update
from ._progress import Progress
from ._sources import ArraySource, is_out_of_core, make_source
from ._threads import kernel_threads
from .dask import is_dask_array


class Mixture(DensityMixin, BaseEstimator):
    """Base class of fastem's mixtures; not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    # -- hooks a family estimator provides -------------------------------------------
    @abstractmethod
    def _make_family(self, n_features):
        """The family object (the contract of ``DESIGN.md``) for this estimator."""

    @abstractmethod
    def _check_init_parameters(self, n_features, dtype):
        """Validate user-given initial parameters (``weights_init`` and friends)."""

    @abstractmethod
    def _initial_params(self, family, source, random_state):
        """Initial parameters of one initialisation."""

    @abstractmethod
    def _params_to_attributes(self, params, dtype):
        """Set the fitted attributes from family parameters."""

    @abstractmethod
    def _params_from_attributes(self):
        """Family parameters from the fitted attributes (users may set them)."""

    _attributes_for_fitted = ("weights_", "means_")

    def _reg(self):
        return getattr(self, "reg_covar", 0.0)

    def save(self, path):
        """Save the mixture to a portable ``.npz`` file; read it back with :func:`fastem.load`.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file, written exactly as named.
        """
        from ._io import save

        save(self, path)

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
        chunk_size = getattr(self, "chunk_size", None)
        if chunk_size is not None and (not isinstance(chunk_size, Integral) or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}.")
        if is_dask_array(X):
            from .dask import DaskSource

            return DaskSource(X, sample_weight, check_chunk=self._check_chunk)
        if is_out_of_core(X):
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
            family = self._make_family(source.n_features)
            if mode == "online":
                if not source.sequential:
                    raise ValueError(
                        "mode='online' reads mini-batches in order on the client; it is not "
                        "available for Dask arrays. Use exact EM (the default) there."
                    )
                self._fit_online(family, source, batch_size, n_epochs)
                return source
            family.set_shift(source)
            _ = source.weight_sum  # completes the validating first pass
            self._check_source_size(source)
            self._check_init_parameters(source.n_features, source.dtype)
            family.dtype = source.dtype
            self._fit_exact(family, source)
        return source

    def _fit_exact(self, family, source):
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        best = None
        self.converged_ = False
        progress = Progress(getattr(self, "progress", False), self.max_iter * n_init)
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
                        callback=getattr(self, "callback", None),
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
    def _check_decay(self):
        decay = getattr(self, "decay", 0.7)
        if not (isinstance(decay, Real) and 0.5 < decay <= 1.0):
            raise ValueError(
                f"decay must be in (0.5, 1] so that stepwise EM converges, got {decay!r}."
            )
        return float(decay)

    def _online_start(self, family, X_batch, w_batch, random_state):
        """First mini-batch: initial parameters and the statistics' shift from it."""
        batch = ArraySource(X_batch, w_batch)
        family.set_shift(batch)
        family.dtype = X_batch.dtype
        self._check_init_parameters(family.n_features, X_batch.dtype)
        if self.warm_start and hasattr(self, "converged_") and hasattr(self, "weights_"):
            params = self._params_from_attributes()
        else:
            params = self._initial_params(family, batch, random_state)
        self._online = {"stats": None, "t": 0, "shift": family.shift, "dtype": X_batch.dtype}
        return params

    def _online_step(self, family, X_batch, w_batch, params):
        decay = self._check_decay()
        state = self._online
        running, params, batch_ll = stepwise_update(
            family,
            state["stats"],
            X_batch,
            w_batch,
            params,
            t=state["t"],
            decay=decay,
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
        self._check_decay()
        first = not hasattr(self, "_online")
        X = self._validate_X(X, reset=first)
        if first and X.shape[0] < self.n_components:
            raise ValueError(
                "The first partial_fit batch needs n_samples >= n_components, got "
                f"n_components = {self.n_components}, n_samples = {X.shape[0]}"
            )
        sample_weight = self._validate_sample_weight(sample_weight, X)
        family = self._make_family(X.shape[1])
        with kernel_threads(self.n_jobs, X.shape[0]):
            if first:
                if not hasattr(self, "_online_random_state"):
                    self._online_random_state = check_random_state(self.random_state)
                params = self._online_start(family, X, sample_weight, self._online_random_state)
                self.lower_bounds_ = []
            else:
                family.shift = self._online["shift"]
                family.dtype = self._online["dtype"]
                params = self._params_from_attributes()
            params, batch_ll = self._online_step(family, X, sample_weight, params)
        self._params_to_attributes(params, self._online["dtype"])
        self.lower_bound_ = batch_ll
        self.lower_bounds_.append(batch_ll)
        self.n_iter_ = self._online["t"]
        self.converged_ = False
        return self

    def _fit_online(self, family, source, batch_size, n_epochs):
        """``fit(mode="online")``: stepwise EM over mini-batches of a source."""
        self._check_decay()
        if not isinstance(n_epochs, Integral) or n_epochs < 1:
            raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}.")
        if batch_size is None:
            batch_size = getattr(self, "chunk_size", None) or 10_000
        if not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        if hasattr(self, "_online"):
            del self._online
        random_state = check_random_state(self.random_state)
        progress = Progress(getattr(self, "progress", False), None, "online EM")
        callback = getattr(self, "callback", None)
        params, previous, epoch_means = None, -np.inf, []
        converged = False
        try:
            for _ in range(n_epochs):
                ll_sum = w_sum = 0.0
                for X_batch, w_batch in _mini_batches(source, batch_size, random_state):
                    if params is None:
                        params = self._online_start(family, X_batch, w_batch, random_state)
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
        family = self._make_family(X.shape[1])
        with kernel_threads(self.n_jobs, X.shape[0]):
            log_prob = family.log_prob(X, params)
        with np.errstate(divide="ignore"):
            log_prob += np.log(params.weights)
        return log_prob

    @staticmethod
    def _output_dtype(X):
        """dtype of ``predict_proba``/``score_samples`` for validated rows ``X``."""
        return X.dtype

    def _predict_validated(self, X):
        return self._weighted_log_prob(X).argmax(axis=1)

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        if is_dask_array(X):
            from . import dask as fastem_dask

            return fastem_dask.predict(self, X)
        X = self._validate_X(X, reset=False)
        return self._predict_validated(X)

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; rows sum to 1.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        if is_dask_array(X):
            from . import dask as fastem_dask

            return fastem_dask.predict_proba(self, X)
        X = self._validate_X(X, reset=False)
        weighted = self._weighted_log_prob(X)
        norm = logsumexp(weighted, axis=1)
        with np.errstate(under="ignore"):
            return np.exp(weighted - norm[:, None]).astype(self._output_dtype(X), copy=False)

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(x)`` of every row.
        """
        check_is_fitted(self, self._attributes_for_fitted)
        if is_dask_array(X):
            from . import dask as fastem_dask

            return fastem_dask.score_samples(self, X)
        X = self._validate_X(X, reset=False)
        return logsumexp(self._weighted_log_prob(X), axis=1).astype(
            self._output_dtype(X), copy=False
        )

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row (weighted mean with ``sample_weight``).

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
        if is_dask_array(log_prob):
            if sample_weight is not None:
                return float((log_prob * sample_weight).sum().compute() / sample_weight.sum())
            return float(log_prob.mean().compute())
        log_prob = log_prob.astype(np.float64)
        if sample_weight is None:
            return float(np.mean(log_prob))
        return float(np.average(log_prob, weights=np.asarray(sample_weight, dtype=float)))

    def _n_parameters(self):
        params = self._params_from_attributes()
        return self._make_family(params.means.shape[1]).n_parameters(params)

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
        family = self._make_family(params.means.shape[1])
        rng = check_random_state(self.random_state)
        return family.sample(params, n_samples, rng)


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
