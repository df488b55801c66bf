"""MixtureSelector: the number of components and the covariance type, chosen by BIC, AIC or ICL.

Every candidate (K, covariance type) and every start of it advance together
in the same passes over the data (``fastem._multi``): a memory map or a
chunked source is read once per EM iteration for all of them. Here: the
selector, the test of a degenerate candidate and the pick of a candidate's
best start; the grid, the starts, the EM stages, the criteria, the results
and the checkpoint of the search are in ``fastem._selection``.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, MetaEstimatorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from . import _checkpoint
from ._compat import Interval, StrOptions
from ._mixture import Mixture
from ._passes import PassCounter
from ._selection.checkpoint import SearchCheckpoint
from ._selection.criteria import choose, evaluate
from ._selection.grid import COVARIANCE_TYPES, covariance_types, k_values, make_candidates
from ._selection.results import fitted_estimators, results_table
from ._selection.search import Search
from ._selection.ties import by_bound
from ._sources import rows_per_call
from ._threads import kernel_threads
from .gaussian import GaussianMixture


def degenerate_components(estimator, params, weight_sum):
    """Why a fitted candidate is degenerate ("" when it is not).

    A component is degenerate when it carries fewer (weighted) rows than the
    model has free parameters per component (``n_parameters / K``), or, for
    Gaussians, when one of its variances is at the ``reg_covar`` floor: the
    smallest eigenvalue of its covariance (full; the shared one for tied),
    its smallest diagonal variance (diag) or its variance (spherical) is at
    most ``2 * reg_covar`` (and, with ``reg_covar=0``, at most ``1e-12``
    times the largest variance of the model). Both are the marks of a
    component collapsed onto a few (nearly) identical rows, whose unbounded
    density makes the likelihood, and so BIC, look better than any real fit.

    Parameters
    ----------
    estimator : fastem mixture
        The candidate's estimator (its ``n_components``, ``reg_covar``, family).
    params : object
        The candidate's fitted family parameters.
    weight_sum : float
        Total weight of the rows (the number of rows without weights).

    Returns
    -------
    str
        A short reason naming the first degenerate component, or "".
    """
    K = estimator.n_components
    n_features = np.shape(params.means)[1]
    family = estimator._make_family(n_features)
    per_component = family.n_parameters() / K
    rows = np.asarray(params.weights, dtype=np.float64) * weight_sum
    few = np.flatnonzero(rows < per_component)
    if few.size:
        k = int(few[0])
        return (
            f"component {k} carries {rows[k]:.3g} rows, fewer than its "
            f"{per_component:.3g} parameters"
        )
    covariance_type = getattr(estimator, "covariance_type", None)
    covariances = getattr(params, "covariances", None)
    if covariance_type is None or covariances is None:
        return ""
    if covariance_type == "full":
        smallest = np.linalg.eigvalsh(covariances).min(axis=1)
    elif covariance_type == "tied":
        smallest = np.full(K, np.linalg.eigvalsh(covariances).min())
    elif covariance_type == "diag":
        smallest = covariances.min(axis=1)
    else:
        smallest = np.asarray(covariances, dtype=np.float64)
    reg = float(estimator.reg_covar)
    largest = float(np.max(covariances)) if np.size(covariances) else 0.0
    floor = 2.0 * reg if reg > 0 else 1e-12 * largest
    low = np.flatnonzero(smallest <= floor)
    if low.size:
        k = int(low[0])
        which = "the shared covariance" if covariance_type == "tied" else f"component {k}"
        return f"{which} has a variance of {smallest[k]:.3g} at the reg_covar floor"
    return ""


def _pick_run(candidate, source, ties):
    """The candidate's best start: highest bound, non-degenerate first (as ``n_init``).

    ``ties``: bounds equal up to round-off tie (see :func:`fastem._selection.ties.by_bound`).
    """
    for run in candidate.runs:
        candidate.seconds += run.seconds
    if candidate.error is not None:
        return
    finished = [r for r in candidate.runs if r.error is None]
    if not finished:
        candidate.fail(next(r.error for r in candidate.runs))
        return
    weight_sum = source.weight_sum
    for run in finished:
        run.degenerate = degenerate_components(candidate.estimator, run.params, weight_sum)
    ordered = by_bound(finished, ties=ties)
    healthy = [run for run in ordered if not run.degenerate]
    best = healthy[0] if healthy else ordered[0]
    candidate.degenerate = best.degenerate
    candidate.best = best


class MixtureSelector(MetaEstimatorMixin, DensityMixin, BaseEstimator):
    """Choose the number of components (and covariance type) of a mixture by BIC, AIC or ICL.

    Fits every candidate, ``n_components`` values times covariance types, each
    from several starts, and keeps the one with the lowest criterion, as
    mclust's ``Mclust`` does in R. Every candidate and every start advance
    together: each EM iteration reads the data once (every chunk of a memory
    map or chunked source is read once per pass and used by every run still
    going), so selection from disk costs about as many passes as the slowest
    single fit, not the sum of all of them. A candidate that fails (a
    singular covariance, for example) is recorded with its error and never
    stops the search; a degenerate one (see Notes) is recorded and never
    chosen. The chosen model is continued to ``refit_tol``.

    Parameters
    ----------
    estimator : fastem mixture, default=None
        The model to select, e.g. ``GaussianMixture(reg_covar=1e-4)`` or
        ``BernoulliMixture()``; its other parameters (``tol``, ``max_iter``,
        ``init_params``, ``random_state``, ``chunk_size``, ``n_jobs``...) are
        kept for every candidate. None: ``GaussianMixture()``.
    n_components : int or sequence of int, default=(1, 2, ..., 9)
        Numbers of components to try (a ``range`` works).
    covariance_type : {"all", "full", "tied", "diag", "spherical"}, list or None, default="all"
        Covariance types to try (Gaussians): "all" for the four, one type, or
        a list. None keeps the estimator's own. Estimators without covariance
        types (``BernoulliMixture``) accept only None or "all".
    criterion : {"bic", "aic", "icl"}, default="bic"
        What to minimise: ``BIC = -2 log L + p log n``, ``AIC = -2 log L + 2 p``,
        ``ICL = BIC + 2 EN`` where ``EN = -sum_i w_i sum_k r_ik log r_ik`` is
        the entropy of the responsibilities (Biernacki, Celeux & Govaert 2000,
        in the form of McLachlan & Peel). ``log L`` is the weighted total
        log-likelihood of the fitted model, ``p`` its number of free
        parameters, ``n`` the total weight (the number of rows without
        weights).
    n_init : int, default=None
        Starts per candidate. None: 30 with ``strategy="short-em"``, the
        estimator's ``n_init`` with ``strategy="em"``. Candidates with one
        component have a single optimum and get one start.
    strategy : {"short-em", "em"}, default="short-em"
        "short-em", the emEM strategy of Biernacki, Celeux & Govaert (2003):
        the first start of each candidate is the estimator's own
        initialisation (``init_params``), the others are k-means++ seeds;
        every start runs ``short_iter`` EM iterations, all together, on the
        data (or, beyond 32,768 rows, on a uniform sample of that many rows
        held in memory, so that many starts cost no pass over a large
        source); the best ``n_continued`` of each candidate are then run to
        convergence on every row. Many cheap, diverse starts find better
        optima than a few long runs from k-means: on the data sets that
        scikit-learn ships it never ends below ``n_init=10`` fits of
        scikit-learn (see the README). "em": every start (the estimator's
        ``init_params``, drawn one after the other from its ``random_state``)
        runs to convergence, as the estimator's ``n_init`` restarts do; each
        candidate is then exactly the estimator fitted alone with the same
        ``random_state`` and ``n_init``.
    short_iter : int, default=30
        EM iterations of every start in the first stage of "short-em".
    n_continued : int, default=2
        Starts of each candidate continued to convergence by "short-em".
    refit_tol : float or None, default=1e-6
        Tolerance (on the mean log-likelihood per sample) to which the chosen
        model is continued, for at most 1000 more iterations, so that the
        reported optimum is a converged one. None keeps it as fitted.
    random_state : int, RandomState instance or None, default=None
        Seed of the starts (and of the fitted models' ``sample``); it replaces
        the estimator's ``random_state``. None keeps the estimator's. With an
        integer seed every candidate starts from it, as the estimator fitted
        alone with that seed; otherwise one seed per K is drawn from it.
    callback : callable, default=None
        ``callback(n_pass, n_live)`` after every EM pass, with the number of
        runs still iterating.

    Attributes
    ----------
    best_estimator_ : fastem mixture
        The chosen model, fitted (an estimator like ``estimator`` with the
        chosen ``n_components`` and ``covariance_type``).
    best_params_ : dict
        ``n_components`` (and ``covariance_type``) of the chosen model.
    best_score_ : float
        The chosen model's criterion value (lower is better).
    best_index_ : int
        Index of the chosen candidate in ``results_``.
    results_ : dict of str to ndarray
        One entry per candidate, in the order covariance type, then K (as
        ``GridSearchCV.cv_results_``): ``params``, ``n_components``,
        ``covariance_type``, ``log_likelihood`` (weighted total),
        ``mean_log_likelihood`` (per sample), ``n_parameters``, ``bic``,
        ``aic``, ``icl``, ``entropy``, ``n_iter``, ``converged``,
        ``n_init`` (starts tried), ``fit_time`` (seconds of computing spent on
        the candidate; reading the data is shared, and a product shared by the
        candidates of one covariance type is shared out by their numbers of
        components), ``degenerate`` (bool),
        ``degenerate_reason``, ``error`` ("" unless the candidate failed),
        ``rank`` (1 for the chosen one; degenerate and failed candidates rank
        last). Values of failed candidates are NaN.
    estimators_ : list of fastem mixture or None
        Every candidate's fitted model (its best start), in the order of
        ``results_``; None for failed candidates. ``estimators_[best_index_]``
        is ``best_estimator_``.
    n_passes_ : int
        Passes over the data the selection made (each reads every row once).
    criterion_ : str
        The criterion used.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` had string column names.

    See Also
    --------
    fastem.plot.selection : The criterion against K, one line per covariance type.

    Notes
    -----
    Degenerate candidates. On data with repeated values (rounded
    measurements, integer columns), EM can collapse a component onto a few
    identical rows; its variance then sits at ``reg_covar`` and its density
    is huge, so that a too complex model looks best. A candidate is
    degenerate when its fitted model has a component that carries fewer
    (weighted) rows than the model's parameters per component
    (``n_parameters / K``), or a Gaussian component with a variance at the
    ``reg_covar`` floor (see :func:`~fastem.selection.degenerate_components`). Of a candidate's
    starts, the best non-degenerate one is kept; a candidate with no other is
    marked (``results_["degenerate"]``) and not chosen, unless every
    candidate is degenerate (then the best of them is chosen with a warning).

    Ties in the criterion go to the model with fewer parameters, then fewer
    components, then the earlier covariance type of ``covariance_type``.

    Passes. Before EM, one pass computes the data centre (Gaussians) and the
    initialisation shares its passes (k-means: the seeding sample, the
    Lloyd iterations of every start, one hard assignment); k-means shared by
    candidates that are bound to compute the same one (the covariance types
    of one K with one random state) runs once. EM then takes as many passes
    as the longest run, one more evaluates every candidate (exact
    log-likelihood and entropy under the final parameters), and the chosen
    model's continuation to ``refit_tol`` adds its own iterations and one
    evaluation. ``n_passes_`` counts them all.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture, MixtureSelector
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(6, 1, (200, 2))])
    >>> selector = MixtureSelector(GaussianMixture(random_state=0), n_components=range(1, 5))
    >>> selector.fit(X).best_params_
    {'n_components': 2, 'covariance_type': 'spherical'}
    """

    _parameter_constraints: dict = {
        "estimator": [Mixture, None],
        "n_components": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "covariance_type": [StrOptions({"all", *COVARIANCE_TYPES}), list, tuple, None],
        "criterion": [StrOptions({"bic", "aic", "icl"})],
        "n_init": [Interval(Integral, 1, None, closed="left"), None],
        "strategy": [StrOptions({"short-em", "em"})],
        "short_iter": [Interval(Integral, 1, None, closed="left")],
        "n_continued": [Interval(Integral, 1, None, closed="left")],
        "refit_tol": [Interval(Real, 0.0, None, closed="neither"), None],
        "random_state": ["random_state"],
        "callback": [callable, None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        n_components=tuple(range(1, 10)),
        covariance_type="all",
        criterion="bic",
        n_init=None,
        strategy="short-em",
        short_iter=30,
        n_continued=2,
        refit_tol=1e-6,
        random_state=None,
        callback=None,
    ):
        self.estimator = estimator
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.criterion = criterion
        self.n_init = n_init
        self.strategy = strategy
        self.short_iter = short_iter
        self.n_continued = n_continued
        self.refit_tol = refit_tol
        self.random_state = random_state
        self.callback = callback

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self._base_estimator().__sklearn_tags__()
        tags.input_tags = inner.input_tags
        return tags

    def _base_estimator(self):
        return GaussianMixture() if self.estimator is None else self.estimator

    # -- fitting ------------------------------------------------------------------------------
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
        """Fit every candidate and keep the best by the criterion.

        Parameters
        ----------
        X : array-like, path, memmap, h5py.Dataset, zarr array, iterable or callable
            Training data: every source the estimator's ``fit`` accepts
            (in-memory arrays, memory maps and ``.npy`` paths, HDF5 and zarr
            datasets, re-iterables of row chunks, Dask arrays).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as in the estimator's ``fit``.
        checkpoint : str or os.PathLike, default=None
            File for the state of the search, written atomically at the start
            of every stage (the short runs of "short-em", their continuation,
            the runs of "em", the refit of the chosen model) and after every
            pass over the data of the stages that read every row (at most
            every ``checkpoint_every`` seconds): every start of every
            candidate with its parameters, bounds and iterations, and the
            random generator's state. The same call after a crash continues
            from it (the short runs of "short-em", which read an in-memory
            sample, start over with their stage) and gives the results an
            uninterrupted search gives (bit for bit with the same number of
            threads, except the times in ``results_["fit_time"]``). A
            checkpoint made with other parameters (the estimator's included)
            or other data is refused with an error that says what differs.
        checkpoint_every : float, default=0.0
            Least seconds between two checkpoint writes within a stage.
        resume : bool, default=True
            Continue from ``checkpoint`` if the file exists; False starts over.
        keep_checkpoint : bool, default=False
            Keep the checkpoint when the search completes; by default it is
            removed.

        Returns
        -------
        self : object
            The fitted selector.

        Notes
        -----
        A search that raises (bad data, a failing chunk, KeyboardInterrupt)
        leaves the selector as it was before the call, and the checkpoint,
        if any, usable.
        """
        self._validate_params()
        header = None
        if checkpoint is not None:
            checkpoint = _checkpoint.Checkpoint(
                checkpoint, checkpoint_every, resume=resume, keep=keep_checkpoint
            )
            # Taken before the search draws from a RandomState given as random_state.
            header = _checkpoint.estimator_header(self, deep=True)
        with _checkpoint.transaction(self):
            self._fit(X, sample_weight, checkpoint, header)
        return self

    def _fit(self, X, sample_weight, checkpoint, header):
        base = clone(self._base_estimator())
        if self.random_state is not None:
            base.set_params(random_state=self.random_state)
        ks = k_values(self.n_components)
        kinds = covariance_types(self.covariance_type, base)
        template = clone(base).set_params(n_components=ks[0])
        template._validate_params()
        source = template._fit_source(X, sample_weight)
        counter = PassCounter(source)
        try:
            with kernel_threads(base.n_jobs, rows_per_call(source)):
                if source.n_features is None:
                    source.peek()
                state = None
                if checkpoint is not None:
                    header["data"] = _checkpoint.source_fingerprint(source)
                    state = checkpoint.start(header)
                template._fit_family(source)
                weight_sum = source.weight_sum
                template._check_source_size(source)
                candidates = make_candidates(base, ks, kinds, source)
                saver = None
                if checkpoint is not None:
                    saver = SearchCheckpoint(checkpoint, candidates, counter, base, state)
                search = Search(self, counter, saver)
                stage = None if state is None else state["stage"]
                if stage in ("refit", "done"):
                    best = saver.restore_chosen()
                else:
                    search.run(candidates, source, base, stage)
                    for candidate in candidates:
                        _pick_run(candidate, source, ties=self.strategy != "em")
                    evaluations = evaluate([c for c in candidates if c.best is not None], source)
                    for candidate, evaluation in evaluations:
                        candidate.evaluation = evaluation
                    best = choose(candidates, weight_sum, self.criterion)
                if best is not None and self.refit_tol is not None and stage != "done":
                    search.refit(best, source, resumed=stage == "refit")
                n_passes = counter.n_passes
                if saver is not None:
                    n_passes += saver.passes_before
                    saver.finish(best)
        finally:
            counter.release()
        self.n_passes_ = n_passes
        self.criterion_ = self.criterion
        self.results_ = results_table(candidates, weight_sum, self.criterion)
        self._set_best(best, candidates, template, source)
        return self

    def _set_best(self, best, candidates, template, source):
        fitted = fitted_estimators(candidates, template, source.dtype)
        if not best.best.converged and best.best.max_iter > 0:
            tol = "refit_tol" if self.refit_tol is not None else "tol"
            warnings.warn(
                f"The chosen model {best.params} did not converge to {tol}. Try increasing "
                "the estimator's max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.estimators_ = fitted
        self.best_estimator_ = fitted[best.index]
        self.best_index_ = best.index
        self.best_params_ = dict(best.params)
        self.best_score_ = float(self.results_[self.criterion][best.index])

    # -- delegation ---------------------------------------------------------------------------
    @property
    def n_features_in_(self):
        """Number of features seen during :meth:`fit`."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.n_features_in_

    @property
    def feature_names_in_(self):
        """Names of the features seen during :meth:`fit` (only for string column names)."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.feature_names_in_

    def _best(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def predict(self, X):
        """Most probable component of each row under the chosen model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        return self._best().predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component of the chosen model for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; rows sum to 1.
        """
        return self._best().predict_proba(X)

    def score_samples(self, X):
        """Log-likelihood of each row under the chosen model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            ``log p(x)`` of every row.
        """
        return self._best().score_samples(X)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per row under the chosen model.

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
            Mean log-likelihood of ``X``.
        """
        return self._best().score(X, sample_weight=sample_weight)

    def sample(self, n_samples=1):
        """Draw random rows from the chosen model.

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
        return self._best().sample(n_samples)

    def bic(self, X):
        """BIC of the chosen model on ``X`` (see the estimator's ``bic``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        bic : float
            The Bayesian information criterion of the chosen model on ``X``; lower is better.
        """
        return self._best().bic(X)

    def aic(self, X):
        """AIC of the chosen model on ``X`` (see the estimator's ``aic``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        aic : float
            The Akaike information criterion of the chosen model on ``X``; lower is better.
        """
        return self._best().aic(X)


__all__ = ["MixtureSelector", "degenerate_components"]
