"""Online (stepwise) EM for the mixtures: ``partial_fit`` and ``fit(mode="online")``."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from ._checkpoint import rng_state, set_rng_state, transaction
from ._drivers import stepwise_update
from ._progress import Progress
from ._sources import ArraySource, neutralise_zero_weight_rows
from ._threads import kernel_threads


class OnlineEMMixin:
    """Stepwise EM over mini-batches, on the hooks of :class:`fastem._mixture.Mixture`."""

    # -- online (stepwise) EM -----------------------------------------------------------
    def _online_start(self, X_batch, w_batch, random_state):
        """First mini-batch: the family (centred on the batch) and initial parameters."""
        batch = ArraySource(X_batch, w_batch)
        # The batches to come are looked at one by one for missing values.
        family = self._fit_family(batch, missing_known=False)
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
            of this batch under the parameters before the step. If the call
            fails (or is interrupted), the mixture is left as it was.
        """
        self._validate_params()
        with transaction(self):
            return self._partial_fit(X, sample_weight)

    def _partial_fit(self, X, sample_weight):
        first = not hasattr(self, "_online")
        X = self._validate_X(X, reset=first)
        if first and X.shape[0] < self.n_components:
            raise ValueError(
                "The first partial_fit batch needs n_samples >= n_components, got "
                f"n_components = {self.n_components}, n_samples = {X.shape[0]}"
            )
        sample_weight = self._validate_sample_weight(sample_weight, X)
        X = neutralise_zero_weight_rows(
            X, sample_weight if sample_weight.size else None, allow_nan=self._allow_nan
        )
        self._check_values(X)
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
        self._set_fitted_params(params, self._online["dtype"])
        self.lower_bound_ = batch_ll
        self.lower_bounds_.append(batch_ll)
        self.n_iter_ = self._online["t"]
        self.converged_ = False
        return self

    @staticmethod
    def _online_arguments(batch_size, n_epochs, chunk_size):
        """``batch_size`` (None: ``chunk_size`` or 10,000) and ``n_epochs``, checked."""
        if not isinstance(n_epochs, Integral) or n_epochs < 1:
            raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}.")
        if batch_size is None:
            batch_size = chunk_size or 10_000
        if not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        return int(batch_size), int(n_epochs)

    def _fit_online(self, source, batch_size, n_epochs, checkpoint=None, state=None):
        """``fit(mode="online")``: stepwise EM over mini-batches of a source.

        ``run`` holds where the fit is (epoch, mini-batches done in it, the
        epoch's sums, the epoch means so far), so that a checkpoint taken after
        any mini-batch resumes exactly: in-memory batch orders are drawn again
        from the generator state that drew them (``order_rng``), and the
        mini-batches already done are skipped.
        """
        batch_size, n_epochs = self._online_arguments(batch_size, n_epochs, self.chunk_size)
        random_state = check_random_state(self.random_state)
        progress = Progress(self.progress, None, "online EM")
        callback = self.callback
        family = params = None
        if state is None:
            if hasattr(self, "_online"):
                del self._online
            run = {
                "epoch": 0,
                "batch": 0,
                "ll_sum": 0.0,
                "w_sum": 0.0,
                "epoch_means": [],
                "previous": -np.inf,
                "converged": False,
                "stopped": False,
                "order_rng": None,
            }
        else:
            run = state["run"]
            dtype = np.dtype(state["dtype"])
            self._online = {"stats": state["stats"], "t": state["t"], "shift": state["shift"]}
            self._online["dtype"] = dtype
            params = state["params"]
            family = self._make_family(source.n_features, dtype, state["shift"])
            self._check_init_parameters(source.n_features, dtype)
            set_rng_state(random_state, state["rng"])

        def make_state():
            online = self._online
            return {
                "run": run,
                "params": params,
                "stats": online["stats"],
                "t": online["t"],
                "shift": online["shift"],
                "dtype": str(online["dtype"]),
                "rng": rng_state(random_state),
            }

        try:
            while run["epoch"] < n_epochs:
                if run["batch"] == 0:
                    run["order_rng"] = rng_state(random_state) if source.in_memory else None
                    order = _batch_order(source, batch_size, random_state)
                elif run["order_rng"] is not None:
                    # Resuming inside an epoch: its order, drawn again from the state
                    # that drew it (the generator itself stays where it is now).
                    drawn = np.random.RandomState()
                    set_rng_state(drawn, run["order_rng"])
                    order = _batch_order(source, batch_size, drawn)
                else:
                    order = None
                batches = () if run["stopped"] else _mini_batches(source, batch_size, order)
                for X_batch, w_batch in _skip(batches, run["batch"]):
                    run["batch"] += 1
                    w = float(w_batch.sum()) if w_batch.size else float(X_batch.shape[0])
                    if w <= 0:
                        continue  # no information (and 0/0 in its normalised statistics)
                    if params is None:
                        _check_first_batch(X_batch, w_batch, self.n_components)
                        family, params = self._online_start(X_batch, w_batch, random_state)
                    params, batch_ll = self._online_step(family, X_batch, w_batch, params)
                    run["ll_sum"], run["w_sum"] = run["ll_sum"] + batch_ll * w, run["w_sum"] + w
                    progress.rows(X_batch.shape[0])
                    progress.iteration(self._online["t"], batch_ll)
                    run["stopped"] = callback is not None and bool(
                        callback(self._online["t"], batch_ll)
                    )
                    if checkpoint is not None:
                        checkpoint.save(make_state)
                    if run["stopped"]:
                        break
                if run["w_sum"] > 0:
                    mean = run["ll_sum"] / run["w_sum"]
                    run["epoch_means"].append(mean)
                    run["converged"] = bool(abs(mean - run["previous"]) < self.tol)
                    run["previous"] = mean
                run.update(epoch=run["epoch"] + 1, batch=0, ll_sum=0.0, w_sum=0.0, order_rng=None)
                if run["stopped"]:
                    break
                if checkpoint is not None and params is not None:
                    checkpoint.save(make_state)
        finally:
            progress.close()
        self._check_source_size(source)
        if params is None:
            raise ValueError("sample_weight must have at least one positive entry; all are 0.")
        self._set_fitted_params(params, self._online["dtype"])
        self.lower_bound_ = run["epoch_means"][-1]
        self.lower_bounds_ = list(run["epoch_means"])
        self.n_iter_ = self._online["t"]
        self.converged_ = bool(run["converged"] and n_epochs > 1)
        if checkpoint is not None:
            checkpoint.finish(make_state)


def _check_first_batch(X_batch, w_batch, n_components):
    """Online EM initialises from its first mini-batch: it needs n_components rows there."""
    n_rows = int(np.count_nonzero(w_batch)) if w_batch.size else X_batch.shape[0]
    if n_rows < n_components:
        raise ValueError(
            f"Online EM initialises the model from its first mini-batch, which has {n_rows} "
            f"row(s) of positive weight, fewer than n_components = {n_components}. Use a "
            "batch_size of at least n_components (or a chunk_size, for out-of-core sources)."
        )


def _batch_order(source, batch_size, random_state):
    """This epoch's order of the in-memory mini-batches (None: chunks in order)."""
    if not source.in_memory:
        return None
    return random_state.permutation(-(-source.X.shape[0] // batch_size))


def _skip(batches, n):
    """``batches`` after the first ``n`` (read, not computed: resuming inside an epoch)."""
    for index, batch in enumerate(batches):
        if index >= n:
            yield batch


def _mini_batches(source, batch_size, order):
    """Mini-batches of ``batch_size`` rows; in-memory arrays in the batch ``order``."""
    if source.in_memory:
        X, w = source.X, source.sample_weight
        for index in order:
            start = int(index) * batch_size
            stop = min(X.shape[0], start + batch_size)
            yield X[start:stop], (w[start:stop] if w.size else w)
        return
    for X_chunk, w_chunk in source.chunks():
        for start in range(0, X_chunk.shape[0], batch_size):
            stop = min(X_chunk.shape[0], start + batch_size)
            yield X_chunk[start:stop], (w_chunk[start:stop] if w_chunk.size else w_chunk)
