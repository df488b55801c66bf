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
from typing import ClassVar

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _checkpoint, _io
from ._compat import Interval, StrOptions, _check_sample_weight
from ._drivers import exact_em
from ._init import data_moments, initial_stats
from ._multi import InitRequest, Run, advance, initial_stats_many
from ._online import OnlineEMMixin
from ._progress import Progress
from ._sources import (
    LARGEST_VALUE,
    ArraySource,
    adapter_for,
    is_out_of_core,
    make_source,
    neutralise_zero_weight_rows,
)
from ._threads import kernel_threads
from ._verbose import RestartLog, VerboseMixin


class _NeedStats(Exception):
    """Raised by the probe of ``_initial_params``: it asks for initial statistics."""


def _ask_for_stats(family, source, random_state):
    raise _NeedStats


def _given_stats(stats):
    """An ``_initial_stats`` that returns ``stats`` (computed for it in shared passes)."""

    def initial_stats(family, source, random_state):
        return stats

    return initial_stats


def _run_state(run):
    """What a checkpoint keeps of a restart advancing with others (see ``_restored_run``)."""
    return {
        "params": run.params,
        "bounds": list(run.lower_bounds),
        "n_iter": run.n_iter,
        "converged": run.converged,
        "max_iter": run.max_iter,
    }


class Mixture(OnlineEMMixin, VerboseMixin, DensityMixin, BaseEstimator):
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

    #: Whether the ``n_init`` restarts initialise in shared passes
    #: (:func:`fastem._multi.initial_stats_many`, for estimators whose
    #: :meth:`_initial_stats` is the shared one); False initialises them one
    #: after the other with the estimator's own :meth:`_initial_params`.
    _shared_initialisation: ClassVar[bool] = True

    #: Whether NaN in the data means a missing value (marginalised, missing at random)
    #: instead of an error: validation, chunk checks and the ``allow_nan`` tag follow it.
    _allow_nan: ClassVar[bool] = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        return tags

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

    def _set_fitted_params(self, params, dtype):
        """:meth:`_params_to_attributes`, refusing parameters that ``dtype`` cannot hold.

        A float32 fit keeps float32 attributes; float64 parameters beyond its
        range (a variance below about 1e-38 makes an infinite precision) would
        be inf or NaN there. That is a ``ValueError``, never a model with
        non-finite attributes (the fit's transaction then restores the
        estimator).
        """
        weights = np.asarray(params.weights, dtype=np.float64)
        if np.any(weights > 1.0):
            # Initial weights (max_iter=0) are scikit-learn's (N_k + 10 eps) / N; with
            # tiny sample weights the eps dominates. Probabilities, whatever the start.
            params.weights = weights / weights.sum()
        with np.errstate(over="ignore", invalid="ignore"):
            self._params_to_attributes(params, dtype)
        bad = [
            name
            for name, value in vars(self).items()
            if name.endswith("_")
            and not name.startswith("_")
            and isinstance(value, np.ndarray)
            and value.dtype.kind == "f"
            and not np.all(np.isfinite(value))
        ]
        if bad:
            raise ValueError(
                f"The fitted parameters do not fit in {np.dtype(dtype)}: {', '.join(bad)} "
                f"would hold infinity or NaN (a variance below what {np.dtype(dtype)} "
                "resolves makes an infinite precision). Fit float64 data, or regularise "
                "more (e.g. a larger reg_covar)."
            )

    def _initial_stats(self, family, source, random_state):
        """Statistics of the initial responsibilities chosen by ``init_params``."""
        return initial_stats(family, source, self.init_params, random_state)

    def _fit_family(self, source):
        """The family for fitting ``source``: centred on the data where it sums around one."""
        shift = None
        if self._family_class.uses_shift:
            family = self._make_family(source.n_features, source.dtype)
            try:
                shift = data_moments(source, family.column_moments)[0]
            except ValueError as exc:
                # Every row was checked finite (and within LARGEST_VALUE) already, so
                # non-finite moments can only come from sums that overflow.
                if type(exc) is not ValueError or "NaN or infinity" not in str(exc):
                    raise  # a chunk's own error (ChunkError) or another problem
                raise ValueError(
                    "The column moments of the data overflow float64 although every value "
                    "is finite: the (weighted) sums of squared values are too large. Scale "
                    "the data (e.g. divide by its largest magnitude) or the sample weights "
                    "(only their ratios matter), then fit again."
                ) from exc
        family = self._make_family(source.n_features, source.dtype, shift)
        missing = getattr(source, "has_missing", None)
        if missing is not None and hasattr(family, "missing"):
            # Known from the pass that found the centre: complete data never looks again.
            family.missing = missing
        return family

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
            ensure_all_finite="allow-nan" if self._allow_nan else True,
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

    @staticmethod
    def _check_values(X):
        """Reject validated float rows too large for the statistics (see ``_check_magnitude``)."""
        if isinstance(X, np.ndarray) and X.dtype.kind == "f":
            _check_magnitude(X)

    # -- fitting --------------------------------------------------------------------------
    def fit(
        self,
        X,
        y=None,
        sample_weight=None,
        *,
        mode="exact",
        batch_size=None,
        n_epochs=1,
        checkpoint=None,
        checkpoint_every=0.0,
        resume=True,
        keep_checkpoint=False,
    ):
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
        checkpoint : str or os.PathLike, default=None
            File that keeps the fit's state, so that a fit that is killed
            (crash, SIGKILL, a lost machine) can continue. After every EM
            iteration (online: every mini-batch), or at most every
            ``checkpoint_every`` seconds, the complete state needed to go on
            (parameters, iteration, lower bounds so far, the ``n_init`` restart
            in progress and the best one so far, online step count and running
            statistics, the random generator's state) is written atomically
            (temporary file in the same directory, fsync, rename), so the file
            always holds the previous or the new state, never a torn one.
            Calling the same ``fit`` again resumes from it, and the model is
            the one an uninterrupted fit gives (bit for bit with the same
            number of threads). A checkpoint made by a fit with another
            estimator, other parameters (``n_jobs``, ``verbose``, ``progress``
            and ``callback`` excepted), other fit arguments, another fastem
            version or other data (shape, dtype, row count and a hash of a few
            sampled rows and weights) is refused with a ``ValueError`` that
            says what differs. None (the default): no checkpoint.
        checkpoint_every : float, default=0.0
            Least seconds between two checkpoint writes; 0 writes after every
            iteration. Set it (e.g. to 60) when iterations are short, as online
            mini-batches often are: each write costs a file write and an fsync.
        resume : bool, default=True
            Continue from ``checkpoint`` if the file exists; False starts over
            (the file is then overwritten).
        keep_checkpoint : bool, default=False
            Keep the checkpoint, holding the final state, when the fit
            completes (fitting again then returns the same model at once);
            by default it is removed.

        Returns
        -------
        self : object
            The fitted mixture. If the fit fails or is interrupted
            (KeyboardInterrupt included), the mixture is left exactly as it
            was before the call (fitted or not), and the checkpoint, if any,
            holds the last completed state.
        """
        self._fit(
            X,
            sample_weight,
            mode=mode,
            batch_size=batch_size,
            n_epochs=n_epochs,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            resume=resume,
            keep_checkpoint=keep_checkpoint,
        )
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
            return np.concatenate([self._predict(chunk) for chunk, _ in source.chunks()])

    @classmethod
    def _check_chunk(cls, rows):
        """Validate and convert one raw chunk of an out-of-core source (floats, finite).

        NaN (a missing value) passes where the class allows it (``_allow_nan``);
        infinity never does. A class method: Dask ships it to the workers, which
        must not need the estimator (nor what its callback holds).
        """
        rows = np.asarray(rows)
        if rows.ndim != 2:
            raise ValueError(f"Every chunk must be a 2-D array of rows, got shape {rows.shape}.")
        if rows.dtype not in (np.float32, np.float64):
            if rows.dtype.kind == "O":
                try:
                    rows = rows.astype(np.float64)
                except (TypeError, ValueError):
                    raise ValueError(
                        "Rows must be numeric, got an object array holding non-numbers."
                    ) from None
            elif rows.dtype.kind not in "biuf":
                raise ValueError(f"Rows must be real numbers, got dtype {rows.dtype}.")
            else:
                rows = rows.astype(np.float64)
        if cls._allow_nan:
            if np.any(np.isinf(rows)):
                raise ValueError(
                    "Input X contains infinity (NaN is allowed and means a missing value)."
                )
        elif not np.all(np.isfinite(rows)):
            raise ValueError("Input X contains NaN or infinity.")
        _check_magnitude(rows)
        return np.ascontiguousarray(rows)

    def _fit_source(self, X, sample_weight):
        """The source of rows for ``fit``, validated as far as can be without a pass."""
        chunk_size = self.chunk_size
        if adapter_for(X) is not None or is_out_of_core(X):
            source = make_source(
                X, sample_weight, chunk_size=chunk_size, check_chunk=self._check_chunk
            )
            source.allow_nan = self._allow_nan
            return source
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
        if sample_weight.size:
            X = neutralise_zero_weight_rows(X, sample_weight, allow_nan=self._allow_nan)
        self._check_values(X)
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

    def _fit(
        self,
        X,
        sample_weight,
        mode="exact",
        batch_size=None,
        n_epochs=1,
        checkpoint=None,
        checkpoint_every=0.0,
        resume=True,
        keep_checkpoint=False,
    ):
        self._validate_params()
        if mode not in ("exact", "online"):
            raise ValueError(f"mode must be 'exact' or 'online', got {mode!r}.")
        if mode == "online":
            batch_size, n_epochs = self._online_arguments(batch_size, n_epochs, self.chunk_size)
        if checkpoint is not None:
            checkpoint = _checkpoint.Checkpoint(
                checkpoint, checkpoint_every, resume=resume, keep=keep_checkpoint
            )
            # Taken before the fit draws from a RandomState given as random_state.
            header = self._checkpoint_header(mode, batch_size, n_epochs)
        with _checkpoint.transaction(self):
            source = self._fit_source(X, sample_weight)
            with kernel_threads(self.n_jobs, _rows_per_call(source)):
                if source.n_features is None:
                    source.peek()
                if mode == "online" and not source.sequential:
                    raise ValueError(
                        "mode='online' reads mini-batches in order on the client; it is not "
                        "available for Dask arrays. Use exact EM (the default) there."
                    )
                state = None
                if checkpoint is not None:
                    header["data"] = _checkpoint.source_fingerprint(source)
                    state = checkpoint.start(header)
                if mode == "online":
                    self._fit_online(source, batch_size, n_epochs, checkpoint, state)
                    return source
                if state is not None:
                    # The data centre of the interrupted fit: no pass to find it again.
                    family = self._make_family(source.n_features, source.dtype, state["shift"])
                else:
                    family = self._fit_family(source)
                _ = source.weight_sum  # completes the validating first pass
                self._check_source_size(source)
                self._check_init_parameters(source.n_features, source.dtype)
                self._fit_exact(family, source, checkpoint, state)
        return source

    def _checkpoint_header(self, mode, batch_size, n_epochs):
        """What a checkpoint must share with this fit to be resumed by it (no data yet)."""
        if mode == "online":
            warm = self.warm_start and hasattr(self, "converged_") and hasattr(self, "weights_")
        else:
            warm = self.warm_start and hasattr(self, "converged_")
        start = "initialisation"
        if warm:
            fitted = {
                name: _checkpoint.parameter_token(getattr(self, name, None))
                for name in (*self._attributes_for_fitted, "covariances_", "lower_bound_")
            }
            start = "warm start from " + _checkpoint.parameter_token(repr(sorted(fitted.items())))
        fit = {"mode": mode, "batch_size": batch_size, "n_epochs": n_epochs}
        return _checkpoint.estimator_header(self, fit=fit, start=start)

    def _fit_exact(self, family, source, checkpoint=None, state=None):
        """``n_init`` runs of exact EM; the best is kept. Resumes ``state`` (a checkpoint's).

        One run (``n_init=1``, a warm start) iterates alone (:meth:`_em_alone`);
        several restarts advance together in the same passes
        (:meth:`_em_together`). Nothing is set on the estimator before the end.
        """
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if do_init and self.n_init > 1:
            best, make_state = self._em_together(family, source, checkpoint, state)
        else:
            best, make_state = self._em_alone(family, source, checkpoint, state, do_init)
        params, lower_bound, bounds, n_iter, converged = best
        if not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        self._set_fitted_params(params, source.dtype)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = list(bounds)
        if checkpoint is not None:
            checkpoint.finish(make_state)

    def _em_alone(self, family, source, checkpoint, state, do_init):
        """One run of exact EM (from an initialisation, or warm): ``(best, make_state)``.

        ``run`` is the run in progress (parameters, bounds, iterations, whether
        it is done); ``best`` the finished one, ``(params, lower_bound, bounds,
        n_iter, converged)``. The checkpoint layout (``init``, ``run``,
        ``best``) is that of the sequential restarts of earlier versions.
        """
        random_state = check_random_state(self.random_state)
        best, run = None, None
        if state is not None:
            _checkpoint.set_rng_state(random_state, state["rng"])
            best = state["best"]

        def make_state():
            return {
                "init": 0,
                "run": run,
                "best": best,
                "shift": family.shift,
                "rng": _checkpoint.rng_state(random_state),
            }

        progress = Progress(self.progress, self.max_iter)
        try:
            self._verbose_init_begin(0)
            if state is not None:
                run = state["run"]
            else:
                if do_init:
                    params = self._initial_params(family, source, random_state)
                    start_bound = -np.inf
                else:
                    params = self._params_from_attributes()
                    start_bound = self.lower_bound_
                run = {
                    "params": params,
                    "bounds": [],
                    "n_iter": 0,
                    "converged": False,
                    "done": self.max_iter == 0,
                    "start_bound": start_bound,
                }
                if checkpoint is not None:
                    checkpoint.save(make_state)
            if not run["done"]:

                def on_step(params, bounds, n_iter, converged, done, run=run):
                    run.update(
                        params=params,
                        bounds=bounds,
                        n_iter=n_iter,
                        converged=converged,
                        done=done,
                    )
                    if checkpoint is not None:
                        checkpoint.save(make_state)

                bounds = run["bounds"]
                params, bounds, n_iter, converged = exact_em(
                    family,
                    source,
                    run["params"],
                    reg=self._reg(),
                    tol=self.tol,
                    max_iter=self.max_iter,
                    lower_bound=bounds[-1] if bounds else run["start_bound"],
                    on_iteration=self._verbose_iteration,
                    progress=progress,
                    callback=self.callback,
                    start_iter=run["n_iter"],
                    lower_bounds=bounds,
                    on_step=on_step,
                )
                self._verbose_init_end(bounds[-1], converged)
                run.update(params=params, bounds=bounds, n_iter=n_iter, converged=converged)
                run["done"] = True
            if self.max_iter == 0:
                best = (run["params"], -np.inf, [], 0, False)
            else:
                bounds = run["bounds"]
                best = (run["params"], bounds[-1], bounds, run["n_iter"], run["converged"])
        finally:
            progress.close()
        return best, make_state

    def _em_together(self, family, source, checkpoint, state):
        """``n_init`` restarts of exact EM advanced together: ``(best, make_state)``.

        Every restart is initialised first, all in shared passes
        (:func:`fastem._multi.initial_stats_many`, with the draws from the
        random state in the order of the sequential restarts), then every EM
        pass reads each chunk once for all restarts still iterating
        (:func:`fastem._multi.advance`). Each restart computes exactly what it
        computes alone, so the kept restart (the best lower bound, the first of
        equal ones, as scikit-learn) is the sequential fit's. The first
        failure in the sequential order (restart by restart, initialisation
        before EM) is raised, after the restarts before it have finished; later
        restarts stop at once.

        The callback is called after every pass once per restart that iterated
        in it, in restart order, with that restart's iteration and bound; a
        true return stops that restart. The checkpoint holds every restart.
        """
        n_init, reg = self.n_init, self._reg()
        random_state = check_random_state(self.random_state)
        log = RestartLog(self.verbose, self.verbose_interval, n_init) if self.verbose else None
        failure = None  # (restart, exception) of the first failure in sequential order
        if state is not None:
            if "runs" not in state:
                raise _checkpoint.CheckpointError(
                    "The checkpoint holds restarts fitted one after another (an earlier "
                    "fastem); this one fits them together. Delete it, or fit with "
                    "resume=False, to start over."
                )
            _checkpoint.set_rng_state(random_state, state["rng"])
            runs = [self._restored_run(family, saved, reg) for saved in state["runs"]]
        else:
            runs, failure = self._initial_runs(family, source, random_state, reg)

        def make_state():
            return {
                "runs": [_run_state(run) for run in runs],
                "shift": family.shift,
                "rng": _checkpoint.rng_state(random_state),
            }

        seen = [run.n_iter for run in runs]
        if log is not None:
            for index, run in enumerate(runs):
                if not run.live and run.error is None:
                    log.end(index, run.lower_bound if self.max_iter else None, run.converged)
        if checkpoint is not None and failure is None and state is None:
            checkpoint.save(make_state)
        progress = Progress(self.progress, self.max_iter)
        n_pass = max(seen, default=0)

        def on_pass(n_live):
            nonlocal failure, n_pass
            n_pass += 1
            for index, run in enumerate(runs):
                if run.error is not None and (failure is None or index < failure[0]):
                    failure = (index, run.exception)
                if run.n_iter == seen[index]:
                    continue
                seen[index] = run.n_iter
                bounds = run.lower_bounds
                change = bounds[-1] - (bounds[-2] if len(bounds) > 1 else -np.inf)
                if log is not None:
                    log.iteration(index, run.n_iter, change)
                if self.callback is not None and self.callback(run.n_iter, run.lower_bound):
                    run.max_iter = run.n_iter  # stops this restart (converged as it is)
                if log is not None and not run.live:
                    log.end(index, run.lower_bound, run.converged)
            if failure is not None:
                for run in runs[failure[0] + 1 :]:
                    run.max_iter = run.n_iter  # never reached by sequential restarts
            live = [run.lower_bound for run in runs if run.live]
            progress.iteration(n_pass, max(live or [run.lower_bound for run in runs]))
            if log is not None:
                log.flush()
            if checkpoint is not None and failure is None:
                checkpoint.save(make_state)

        try:
            advance(runs, source, progress=progress, on_pass=on_pass)
        finally:
            progress.close()
        if failure is not None:
            if log is not None:
                log.abort(failure[0])
            raise failure[1]
        if log is not None:
            log.flush()
        best = None
        for run in runs:
            if self.max_iter == 0:
                result = (run.params, -np.inf, [], 0, False)
            else:
                bounds = run.lower_bounds
                result = (run.params, bounds[-1], bounds, run.n_iter, run.converged)
            if best is None or result[1] > best[1] or best[1] == -np.inf:
                best = result
        return best, make_state

    def _initial_runs(self, family, source, random_state, reg):
        """The restarts' runs, initialised in shared passes: ``(runs, failure)``.

        ``failure`` is ``(restart, exception)`` for the first restart whose
        initialisation fails (the runs before it only are returned), or None.
        """
        n_init = self.n_init
        if not self._shared_initialisation:
            # The estimator initialises in its own way: one restart after the
            # other (the same draws, in the same order), then EM in shared passes.
            starts, failure = [], None
            for index in range(n_init):
                try:
                    starts.append(self._initial_params(family, source, random_state))
                except (ValueError, ArithmeticError) as exc:
                    failure = (index, exc)
                    break
            return self._runs(family, starts, reg), failure
        params = self._initial_params_without_stats(family, source, random_state)
        if params is not None:
            # Every start given (weights_init and friends): no draw, the same start each time.
            starts = [copy.deepcopy(params) for _ in range(n_init)]
            failure = None
        else:
            requests = [InitRequest(family, self.init_params, random_state) for _ in range(n_init)]
            initial_stats_many(requests, source, hook="lloyd")
            starts, failure = [], None
            for index, request in enumerate(requests):
                if request.error is not None:
                    failure = (index, request.error)
                    break
                try:
                    starts.append(self._initial_params_from_stats(family, source, request.stats))
                except (ValueError, ArithmeticError) as exc:
                    failure = (index, exc)
                    break
        return self._runs(family, starts, reg), failure

    def _initial_params_without_stats(self, family, source, random_state):
        """The start :meth:`_initial_params` gives without initial statistics, else None.

        None means it asks :meth:`_initial_stats` for them: the caller computes
        them, batched with other runs' in shared passes, and hands them to
        :meth:`_initial_params_from_stats`.
        """
        self._initial_stats = _ask_for_stats
        try:
            return self._initial_params(family, source, random_state)
        except _NeedStats:
            return None
        finally:
            del self._initial_stats

    def _initial_params_from_stats(self, family, source, stats):
        """:meth:`_initial_params` with ``stats`` as its initial statistics."""
        self._initial_stats = _given_stats(stats)
        try:
            return self._initial_params(family, source, None)
        finally:
            del self._initial_stats

    def _runs(self, family, starts, reg):
        """One :class:`fastem._multi.Run` per start, tagged with its restart number."""
        return [
            Run(family, params, reg=reg, tol=self.tol, max_iter=self.max_iter, tag=index)
            for index, params in enumerate(starts)
        ]

    def _restored_run(self, family, saved, reg):
        """A :class:`fastem._multi.Run` in the state a checkpoint saved (see ``_run_state``)."""
        run = Run(family, saved["params"], reg=reg, tol=self.tol, max_iter=saved["max_iter"])
        run.lower_bounds = list(saved["bounds"])
        run.lower_bound = run.lower_bounds[-1] if run.lower_bounds else -np.inf
        run.n_iter = saved["n_iter"]
        run.converged = saved["converged"]
        return run

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
        X = self._validate_X(X, reset=False)
        self._check_values(X)
        return getattr(self, "_" + method)(X)

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
        score, n_samples = self._score_and_rows(X)
        return -2 * score * n_samples + self._n_parameters() * math.log(n_samples)

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
        score, n_samples = self._score_and_rows(X)
        return -2 * score * n_samples + 2 * self._n_parameters()

    def _score_and_rows(self, X):
        """``(score(X), number of rows)`` for the information criteria."""
        return self.score(X), np.shape(X)[0]

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
        return self._draw(n_samples)

    def _sampling_family(self, params):
        """The family that draws the rows of :meth:`sample`."""
        return self._make_family(params.means.shape[1], np.asarray(self.means_).dtype)

    def _draw(self, n_samples):
        """``(rows, labels)`` drawn from the fitted model as the family encodes them."""
        check_is_fitted(self, self._attributes_for_fitted)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        params = self._params_from_attributes()
        # Initial weights (max_iter=0) are scikit-learn's (N_k + 10 eps) / N: they can
        # exceed 1 by round-off, which the multinomial refuses.
        weights = np.minimum(params.weights, 1.0)
        if weights[:-1].sum() > 1.0 + 1e-12:  # (numpy's own tolerance)
            weights = weights / weights.sum()
        params.weights = weights
        family = self._sampling_family(params)
        rng = check_random_state(self.random_state)
        return family.sample(params, n_samples, rng)


def _rows_per_call(source):
    """The most rows one kernel call of a fit reads (None when unknown)."""
    if not source.sequential or source.n_samples is None:
        return None
    if source.in_memory and source.chunk_size is None:
        return source.n_samples
    return min(source.n_samples, source._chunk_rows())


def _check_magnitude(X):
    """A clear error for finite values whose squares the statistics cannot hold.

    The kernels square the centred values and sum the squares over rows in
    float64, which overflows for magnitudes beyond about 1e154; fastem accepts
    up to :data:`fastem._sources.LARGEST_VALUE` (1e140), leaving room for the
    sums. Without this check such data would end in NaN statistics, reported
    as "NaN or infinity" although every value is finite.
    """
    if X.size == 0:
        return
    # fmax/fmin skip NaN (missing values); on data without NaN they are max/min.
    peak = max(abs(float(np.fmax.reduce(X, axis=None))), abs(float(np.fmin.reduce(X, axis=None))))
    if peak > LARGEST_VALUE:
        exponent = math.floor(math.log10(peak))
        raise ValueError(
            f"Input X holds finite values up to {peak:.3g} in magnitude, too large for the "
            "statistics of a mixture fit: they square the (centred) values, which "
            f"overflows float64 beyond about 1e154 (fastem accepts magnitudes up to "
            f"{LARGEST_VALUE:.0e}). Scale the data first, e.g. X / 1e{exponent} or "
            "StandardScaler, and scale the fitted means and covariances back."
        )
