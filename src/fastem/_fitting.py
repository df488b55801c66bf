"""The fit of the mixtures: ``fit``, ``fit_predict`` and one run of exact EM.

``fit`` sets up what every mode shares (parameter checks, the checkpoint, the
transaction that undoes a failed fit, kernel threads, the source of rows) and
keeps the best of the ``n_init`` runs; the restarts that advance together are
``fastem._restarts``. See ``docs/architecture.md``.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _checkpoint
from ._drivers import exact_em
from ._progress import Progress
from ._sources import rows_per_call
from ._threads import kernel_threads


class FitMixin:
    """``fit`` and ``fit_predict`` on the hooks of :class:`fastem._mixture.Mixture`."""

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
            with kernel_threads(self.n_jobs, rows_per_call(source)):
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
