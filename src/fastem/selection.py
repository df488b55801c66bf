"""MixtureSelector: the number of components and the covariance type, chosen by BIC, AIC or ICL.

Every candidate (K, covariance type) and every start of it advance together
in the same passes over the data (``fastem._multi``): a memory map or a
chunked source is read once per EM iteration for all of them.
"""

import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin, MetaEstimatorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _checkpoint
from ._compat import Interval, StrOptions
from ._init import kmeans_plusplus
from ._mixture import Mixture, _rows_per_call
from ._multi import (
    InitRequest,
    PassCounter,
    Run,
    advance,
    geometry_key,
    initial_stats_many,
    random_state_key,
    shared_pass,
)
from ._sources import ArraySource
from ._threads import kernel_threads
from .gaussian import GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: Iterations the chosen model may take beyond its fit to reach ``refit_tol``.
REFIT_MAX_ITER = 1000

#: Starts per candidate of the "short-em" strategy when ``n_init`` is None.
SHORT_EM_STARTS = 30

#: Most rows the short runs of "short-em" read (a uniform sample of larger data).
SHORT_EM_ROWS = 1 << 15

#: Relative difference below which two log-likelihoods or criterion values tie.
TIE_RTOL = 1e-9

#: Rows per block of the final evaluation pass (bounds its ``(rows, K)`` temporaries).
_EVAL_ROWS = 65536


def _params_key(params):
    """A hashable image of a parameters object (identical starts give identical runs)."""

    def part(value):
        if isinstance(value, np.ndarray):
            return (value.shape, value.dtype.str, value.tobytes())
        if isinstance(value, tuple):
            return tuple(part(v) for v in value)
        return repr(value)

    return tuple(part(value) for value in vars(params).values())


class _Candidate:
    """One (K, covariance type): its estimator, family, starts and outcome."""

    def __init__(self, index, estimator, n_components, covariance_type):
        self.index = index
        self.estimator = estimator
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.family = None
        self.runs = []
        self.error = None
        self.seconds = 0.0
        self.n_starts = 0
        self.best = None
        self.degenerate = ""
        self.evaluation = None
        self.init_errors = []

    @property
    def params(self):
        out = {"n_components": self.n_components}
        if self.covariance_type is not None:
            out["covariance_type"] = self.covariance_type
        return out

    def fail(self, exc):
        self.error = " ".join(str(exc).split()) or type(exc).__name__


class _Evaluation:
    """Log-likelihood and entropy of the responsibilities, summed over rows (``+``)."""

    __slots__ = ("log_likelihood", "entropy")

    def __init__(self, log_likelihood, entropy):
        self.log_likelihood = log_likelihood
        self.entropy = entropy

    def __add__(self, other):
        return _Evaluation(
            self.log_likelihood + other.log_likelihood, self.entropy + other.entropy
        )


class _Evaluate:
    """``sum w log p(x)`` and ``-sum w r log r`` of a chunk under a fitted estimator."""

    __slots__ = ("estimator",)

    def __init__(self, estimator):
        self.estimator = estimator

    def __call__(self, X_chunk, w_chunk):
        ll = entropy = 0.0
        for start in range(0, X_chunk.shape[0], _EVAL_ROWS):
            stop = min(X_chunk.shape[0], start + _EVAL_ROWS)
            weighted = self.estimator._weighted_log_prob(X_chunk[start:stop])
            norm = logsumexp(weighted, axis=1)
            with np.errstate(under="ignore", invalid="ignore"):
                log_resp = weighted - norm[:, None]
                resp = np.exp(log_resp)
                terms = np.where(resp > 0, resp * log_resp, 0.0).sum(axis=1)
            if w_chunk.size:
                w = w_chunk[start:stop]
                ll += float(w @ norm)
                entropy -= float(w @ terms)
            else:
                ll += float(norm.sum())
                entropy -= float(terms.sum())
        return _Evaluation(ll, entropy)


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
        the candidate; reading the data is shared), ``degenerate`` (bool),
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

    # -- the grid ---------------------------------------------------------------------------
    def _base_estimator(self):
        return GaussianMixture() if self.estimator is None else self.estimator

    def _k_values(self):
        values = [self.n_components] if np.ndim(self.n_components) == 0 else self.n_components
        ks = []
        for k in values:
            if isinstance(k, bool) or not isinstance(k, Integral | np.integer) or k < 1:
                raise ValueError(
                    f"n_components must hold integers >= 1, got {self.n_components!r}."
                )
            if int(k) not in ks:
                ks.append(int(k))
        if not ks:
            raise ValueError("n_components must hold at least one number of components.")
        return sorted(ks)

    def _covariance_types(self, base):
        has_types = "covariance_type" in base.get_params()
        given = self.covariance_type
        if not has_types:
            if given not in (None, "all"):
                raise ValueError(
                    f"{type(base).__name__} has no covariance types; covariance_type must "
                    f"be None (or 'all'), got {given!r}."
                )
            return [None]
        if given is None:
            return [base.covariance_type]
        if given == "all":
            return list(COVARIANCE_TYPES)
        kinds = [given] if isinstance(given, str) else list(given)
        bad = [c for c in kinds if c not in COVARIANCE_TYPES]
        if bad or not kinds:
            raise ValueError(
                f"covariance_type must be 'all', None, or some of {COVARIANCE_TYPES}, "
                f"got {given!r}."
            )
        return list(dict.fromkeys(kinds))

    def _starts(self, base, n_components):
        if n_components == 1:
            return 1
        if self.n_init is not None:
            return self.n_init
        return SHORT_EM_STARTS if self.strategy == "short-em" else base.n_init

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
        ks = self._k_values()
        kinds = self._covariance_types(base)
        template = clone(base).set_params(n_components=ks[0])
        template._validate_params()
        source = template._fit_source(X, sample_weight)
        counter = self._counter = PassCounter(source)
        self._saver = None
        try:
            with kernel_threads(base.n_jobs, _rows_per_call(source)):
                if source.n_features is None:
                    source.peek()
                state = None
                if checkpoint is not None:
                    header["data"] = _checkpoint.source_fingerprint(source)
                    state = checkpoint.start(header)
                template._fit_family(source)
                weight_sum = source.weight_sum
                template._check_source_size(source)
                candidates = self._make_candidates(base, ks, kinds, source)
                if checkpoint is not None:
                    self._saver = _SearchCheckpoint(checkpoint, candidates, counter, base, state)
                stage = None if state is None else state["stage"]
                if stage in ("refit", "done"):
                    best = self._saver.restore_chosen()
                else:
                    self._run(candidates, source, base, stage)
                    evaluations = self._evaluate(
                        [c for c in candidates if c.best is not None], source
                    )
                    for candidate, evaluation in evaluations:
                        candidate.evaluation = evaluation
                    best = self._choose(candidates, weight_sum)
                if best is not None and self.refit_tol is not None and stage != "done":
                    self._refit(best, source, weight_sum, resumed=stage == "refit")
                n_passes = counter.n_passes
                if self._saver is not None:
                    n_passes += self._saver.passes_before
                    self._saver.finish(best)
        finally:
            counter.release()
            del self._counter, self._saver
        self.n_passes_ = n_passes
        self.criterion_ = self.criterion
        self._set_results(candidates, weight_sum)
        self._set_best(best, candidates, template, source)
        return self

    def _make_candidates(self, base, ks, kinds, source):
        candidates = []
        n_samples = source.n_samples
        weights = source.sample_weight if source.in_memory else np.empty(0)
        for kind in kinds:
            for k in ks:
                params = {"n_components": k}
                if kind is not None:
                    params["covariance_type"] = kind
                estimator = clone(base).set_params(**params)
                candidate = _Candidate(len(candidates), estimator, k, kind)
                candidates.append(candidate)
                try:
                    if n_samples < k:
                        raise ValueError(
                            "Expected n_samples >= n_components but got "
                            f"n_components = {k}, n_samples = {n_samples}"
                        )
                    if weights.size and np.count_nonzero(weights) < k:
                        raise ValueError(
                            f"Expected at least n_components = {k} samples with positive "
                            f"weight, got {np.count_nonzero(weights)}."
                        )
                    estimator._check_init_parameters(source.n_features, source.dtype)
                    candidate.family = estimator._fit_family(source)
                except ValueError as exc:
                    candidate.fail(exc)
        return candidates

    def _random_states(self, base, candidates):
        """One random state per candidate; the covariance types of one K draw alike.

        With an integer ``random_state`` every candidate starts from it, as
        the estimator fitted alone would; otherwise one seed per K is drawn.
        """
        seed = base.random_state
        if isinstance(seed, Integral | np.integer) and not isinstance(seed, bool):
            return [np.random.RandomState(int(seed)) for _ in candidates]
        rng = check_random_state(seed)
        ks = sorted({c.n_components for c in candidates})
        drawn = dict(zip(ks, rng.randint(np.iinfo(np.int32).max, size=len(ks)), strict=True))
        return [np.random.RandomState(drawn[c.n_components]) for c in candidates]

    def _initial_runs(self, candidates, source, states, n_starts):
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
                params = self._params_from_stats(candidate, request.stats, source)
                if params is None:
                    continue
            self._add_run(candidate, params)

    def _params_from_stats(self, candidate, stats, source):
        """The estimator's initial parameters from given initial statistics (None if invalid)."""
        start = time.perf_counter()
        try:
            return candidate.estimator._initial_params_from_stats(candidate.family, source, stats)
        except ValueError as exc:
            candidate.init_errors.append(exc)
            return None
        finally:
            candidate.seconds += time.perf_counter() - start

    def _seeded_runs(self, candidates, states, n_starts, rows, weights, source):
        """Starts from k-means++ seeds drawn among ``rows`` (no pass over the data).

        Seeds of candidates bound to draw the same ones (the covariance types
        of one K, from equal random states) are drawn once.
        """
        drawn = {}
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
                    chosen = kmeans_plusplus(family, rows, weights, K, random_state)
                    drawn[key] = (chosen, random_state.get_state())
                # Each seed is one point, whatever its weight (as k-means++ starts).
                stats = family.resp_stats(family.dense_rows(rows, chosen), np.empty(0), np.eye(K))
                candidate.seconds += time.perf_counter() - start
                params = self._params_from_stats(candidate, stats, source)
                if params is not None:
                    self._add_run(candidate, params)

    def _add_run(self, candidate, params):
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

    def _advance(self, runs, source, stage=None, **kwargs):
        """Advance ``runs`` together; a checkpoint of ``stage`` at its start and per pass.

        ``stage`` None (the short runs on a sample) writes no checkpoint.
        """
        counter = self._counter
        callback = self.callback
        saver = self._saver if stage is not None else None
        if saver is not None:
            saver.save(stage, force=True)

        def on_pass(n_live):
            if saver is not None:
                saver.save(stage)
            if callback is not None:
                callback(
                    counter.n_passes + (0 if self._saver is None else self._saver.passes_before),
                    n_live,
                )

        return advance(runs, source, on_pass=on_pass, **kwargs)

    def _run(self, candidates, source, base, stage=None):
        """The starts of every candidate, run; ``stage`` resumes a checkpoint's stage."""
        if stage is not None:
            # Every start as the checkpoint left it: no initialisation to run again.
            self._saver.restore_runs()
        else:
            states = self._random_states(base, candidates)
            for candidate in candidates:
                candidate.n_starts = self._starts(base, candidate.n_components)
        if self.strategy == "em":
            if stage is None:
                self._initial_runs(candidates, source, states, lambda c: c.n_starts)
            self._advance([run for c in candidates for run in c.runs], source, "em")
        elif stage == "continue":
            self._advance([run for c in candidates for run in c.runs], source, "continue")
        else:
            self._short_em(
                candidates, source, None if stage else states, base.random_state, resumed=stage
            )
        for candidate in candidates:
            if candidate.error is None and not candidate.runs:
                errors = candidate.init_errors or [ValueError("no start succeeded")]
                candidate.fail(errors[0])
            self._pick_run(candidate, source)

    def _short_em(self, candidates, source, states, seed, resumed=None):
        """emEM: many short runs together, the best few of each candidate continued.

        The first start of every candidate is the estimator's own
        initialisation (``init_params``), the others k-means++ seeds. The short
        runs read a uniform sample of at most :data:`SHORT_EM_ROWS` rows held in
        memory (every row for smaller data), so that many starts
        cost no pass over a large source; the runs kept are then continued on
        every row. ``resumed="short"``: the runs were restored from a
        checkpoint taken at the start of the short stage (the sample is drawn
        again from the generator's state of then).
        """
        if resumed is None:
            self._initial_runs(candidates, source, states, lambda c: 1)
        if self._saver is not None:
            self._saver.before_sample(resumed)
        rows, weights, everything = self._short_sample(source, seed)
        if everything and source.in_memory:
            short_source = source
        else:
            short_source = ArraySource(rows, weights)
        if resumed is None:
            self._seeded_runs(
                candidates, states, lambda c: c.n_starts - 1, rows, weights, short_source
            )
            for candidate in candidates:
                for run in candidate.runs:
                    run.max_iter = min(run.max_iter, self.short_iter)
        if self._saver is not None:
            # The stage's start: the starts are drawn (those of k-means read the data).
            self._saver.save("short", force=True)
        self._advance([run for c in candidates for run in c.runs], short_source)
        continued = []
        for candidate in candidates:
            alive = _by_bound([r for r in candidate.runs if r.error is None])
            kept = alive[: self.n_continued]
            for run in kept:
                if not everything:
                    # Bounds on the sample do not compare with bounds on every row.
                    run.forget_history()
                run.continue_with(
                    tol=candidate.estimator.tol, max_iter=candidate.estimator.max_iter
                )
            for run in candidate.runs:
                if run.error is not None:
                    candidate.init_errors.append(ValueError(run.error))
                elif run not in kept:
                    candidate.seconds += run.seconds
            candidate.runs = kept
            continued.extend(kept)
        self._advance(continued, source, "continue")

    def _short_sample(self, source, seed):
        """Rows (and weights) of the short runs: every row, or a uniform sample.

        Returns ``(rows, weights, everything)``; weights are empty for unit
        weights in memory.
        """
        n_samples = source.n_samples
        limit = SHORT_EM_ROWS
        if n_samples <= limit and source.in_memory:
            return source.X, source.sample_weight, True
        if n_samples <= limit:
            indices = np.arange(n_samples)
        else:
            rng = (
                np.random.RandomState(int(seed))
                if isinstance(seed, Integral | np.integer) and not isinstance(seed, bool)
                else check_random_state(seed)
            )
            indices = np.sort(rng.choice(n_samples, size=limit, replace=False))
        rows, weights = source.take(indices)
        if source.in_memory and not source.sample_weight.size:
            weights = np.empty(0)
        return rows, weights, n_samples <= limit

    def _pick_run(self, candidate, source):
        """The candidate's best start: highest bound, non-degenerate first (as ``n_init``)."""
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
        ordered = _by_bound(finished, ties=self.strategy != "em")
        healthy = [run for run in ordered if not run.degenerate]
        best = healthy[0] if healthy else ordered[0]
        candidate.degenerate = best.degenerate
        candidate.best = best

    def _fitted(self, candidate, dtype):
        """A copy of the candidate's estimator holding its best run's parameters."""
        estimator = clone(candidate.estimator)
        estimator._params_to_attributes(candidate.best.params, dtype)
        return estimator

    def _evaluate(self, candidates, source):
        if not candidates:
            return []
        funcs = [_Evaluate(self._fitted(c, source.dtype)) for c in candidates]
        results, seconds = shared_pass(source, funcs)
        out = []
        for candidate, evaluation, spent in zip(candidates, results, seconds, strict=True):
            candidate.seconds += spent
            if not isinstance(evaluation, _Evaluation):
                candidate.fail(evaluation.exc)
                candidate.best = None
                continue
            out.append((candidate, evaluation))
        return out

    def _scores(self, candidate, weight_sum):
        n_parameters = candidate.family.n_parameters()
        ll = candidate.evaluation.log_likelihood
        bic = -2.0 * ll + n_parameters * math.log(weight_sum)
        return {
            "log_likelihood": ll,
            "n_parameters": n_parameters,
            "bic": bic,
            "aic": -2.0 * ll + 2.0 * n_parameters,
            "icl": bic + 2.0 * candidate.evaluation.entropy,
            "entropy": candidate.evaluation.entropy,
        }

    def _order(self, candidates, weight_sum):
        """Candidates from best to worst: valid by criterion, then degenerate, then failed."""
        kinds = list(dict.fromkeys(c.covariance_type for c in candidates))

        def value(candidate):
            if candidate.error is not None or candidate.evaluation is None:
                return math.inf
            v = self._scores(candidate, weight_sum)[self.criterion]
            return v if np.isfinite(v) else math.inf

        def tiebreak(candidate):
            return (
                candidate.family.n_parameters() if candidate.family is not None else 0,
                candidate.n_components,
                kinds.index(candidate.covariance_type),
                candidate.index,
            )

        def status(candidate):
            if candidate.error is not None or candidate.evaluation is None:
                return 2
            return 1 if candidate.degenerate else 0

        return [
            c
            for group in (0, 1, 2)
            for c in _sorted_with_ties(
                [c for c in candidates if status(c) == group], value, tiebreak
            )
        ]

    def _choose(self, candidates, weight_sum):
        ordered = self._order(candidates, weight_sum)
        best = ordered[0] if ordered else None
        if best is None or best.error is not None or best.evaluation is None:
            errors = "; ".join(f"{c.params}: {c.error}" for c in candidates if c.error is not None)
            raise ValueError(f"Every candidate failed: {errors}")
        if best.degenerate:
            warnings.warn(
                "Every candidate has a degenerate component (collapsed onto a few rows); "
                f"choosing the best of them, {best.params}. Scale the data, raise "
                "reg_covar or try fewer components.",
                UserWarning,
                stacklevel=3,
            )
        return best

    def _refit(self, best, source, weight_sum, resumed=False):
        """Continue the chosen model to ``refit_tol``; ``resumed``: a checkpoint's refit."""
        run = best.best
        if resumed:
            if self._saver.refit_from is None:
                return  # the chosen model needed no refit
            n_iter, spent = self._saver.refit_from, run.seconds
        else:
            run.continue_with(tol=self.refit_tol, max_iter=run.n_iter + REFIT_MAX_ITER)
            if not run.live:
                return
            n_iter, spent = run.n_iter, run.seconds
        if self._saver is not None:
            self._saver.chosen, self._saver.refit_from = best, n_iter
        self._advance([run], source, "refit")
        best.seconds += run.seconds - spent
        if run.error is not None:
            # The continuation's last M-step failed (a covariance became
            # singular): keep the last valid parameters rather than lose the search.
            warnings.warn(
                f"Continuing the chosen model {best.params} to refit_tol stopped: {run.error}",
                ConvergenceWarning,
                stacklevel=4,
            )
            run.error = None
            run.max_iter = run.n_iter
        if run.n_iter > n_iter:
            evaluated = self._evaluate([best], source)
            if evaluated:
                best.evaluation = evaluated[0][1]

    # -- results ------------------------------------------------------------------------------
    def _set_results(self, candidates, weight_sum):
        n = len(candidates)
        floats = {
            name: np.full(n, np.nan)
            for name in ("log_likelihood", "mean_log_likelihood", "bic", "aic", "icl", "entropy")
        }
        n_parameters = np.zeros(n, dtype=np.int64)
        n_iter = np.zeros(n, dtype=np.int64)
        converged = np.zeros(n, dtype=bool)
        degenerate = np.zeros(n, dtype=bool)
        reasons = np.empty(n, dtype=object)
        errors = np.empty(n, dtype=object)
        fit_time = np.zeros(n)
        starts = np.zeros(n, dtype=np.int64)
        for i, c in enumerate(candidates):
            if c.family is not None:
                n_parameters[i] = c.family.n_parameters()
            errors[i] = c.error or ""
            reasons[i] = c.degenerate
            degenerate[i] = bool(c.degenerate)
            fit_time[i] = c.seconds
            starts[i] = c.n_starts
            if c.error is None and c.evaluation is not None:
                scores = self._scores(c, weight_sum)
                for name in ("log_likelihood", "bic", "aic", "icl", "entropy"):
                    floats[name][i] = scores[name]
                floats["mean_log_likelihood"][i] = scores["log_likelihood"] / weight_sum
                n_iter[i] = c.best.n_iter
                converged[i] = c.best.converged
        rank = np.empty(n, dtype=np.int64)
        for position, c in enumerate(self._order(candidates, weight_sum), start=1):
            rank[c.index] = position
        self.results_ = {
            "params": [c.params for c in candidates],
            "n_components": np.array([c.n_components for c in candidates], dtype=np.int64),
            "covariance_type": np.array([c.covariance_type for c in candidates], dtype=object),
            **{name: floats[name] for name in ("log_likelihood", "mean_log_likelihood")},
            "n_parameters": n_parameters,
            **{name: floats[name] for name in ("bic", "aic", "icl", "entropy")},
            "n_iter": n_iter,
            "converged": converged,
            "n_init": starts,
            "fit_time": fit_time,
            "degenerate": degenerate,
            "degenerate_reason": reasons,
            "error": errors,
            "rank": rank,
        }

    def _set_best(self, best, candidates, template, source):
        validation = {
            # What validating the data set on the template (n_features_in_,
            # feature_names_in_, the sample dtype) belongs to every fitted model.
            name: value
            for name, value in vars(template).items()
            if name not in set(template.get_params())
        }
        fitted = []
        for candidate in candidates:
            if candidate.error is not None or candidate.best is None:
                fitted.append(None)
                continue
            estimator = self._fitted(candidate, source.dtype)
            run = candidate.best
            estimator.n_iter_ = run.n_iter
            estimator.lower_bound_ = run.lower_bound
            estimator.lower_bounds_ = list(run.lower_bounds)
            estimator.converged_ = bool(run.converged)
            for name, value in validation.items():
                setattr(estimator, name, value)
            fitted.append(estimator)
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


class _SearchCheckpoint:
    """The checkpoint of a search: what :meth:`MixtureSelector.fit` saves and restores.

    The state lists every start of every candidate (parameters, bounds,
    iterations, tolerance, errors) and the candidates' bookkeeping, the stage
    the search is in, the passes made so far, and the state of the random
    generator of the search (``random_state``, a ``RandomState``), before and
    after the sample of the short runs was drawn.
    """

    def __init__(self, checkpoint, candidates, counter, base, state):
        self.checkpoint = checkpoint
        self.candidates = candidates
        self.counter = counter
        # The passes before the search proper (the data centre, the validating
        # pass), which a resumed fit makes again: the state counts the others.
        self.setup_passes = counter.n_passes
        rng = base.random_state
        self.rng = rng if isinstance(rng, np.random.RandomState) else None
        self.state = state
        self.passes_before = 0 if state is None else int(state["n_passes"])
        self.rng_sample = None if state is None else state["rng_sample"]
        self.chosen = None
        self.sample_mark = None
        self.refit_from = None if state is None else state["refit_from"]

    # -- saving ---------------------------------------------------------------------------
    def before_sample(self, resumed):
        """The generator's state before the sample of the short runs (set back on resume)."""
        # The sample is drawn again on resume: its pass belongs to the stage.
        self.sample_mark = self.counter.n_passes
        if self.rng is None:
            return
        if resumed == "short" and self.rng_sample is not None:
            _checkpoint.set_rng_state(self.rng, self.rng_sample)
        self.rng_sample = _checkpoint.rng_state(self.rng)

    def save(self, stage, force=False):
        self.checkpoint.save(lambda: self._state(stage), force=force)

    def _state(self, stage):
        passes = self.sample_mark if stage == "short" else self.counter.n_passes
        return {
            "stage": stage,
            "n_passes": self.passes_before + passes - self.setup_passes,
            "rng": None if self.rng is None else _checkpoint.rng_state(self.rng),
            "rng_sample": self.rng_sample,
            "chosen": None if self.chosen is None else self.chosen.index,
            "refit_from": self.refit_from,
            "candidates": [_candidate_state(c) for c in self.candidates],
        }

    def finish(self, best):
        """The search completed: keep its final state (``keep_checkpoint``) or remove the file."""
        self.chosen = best
        self.checkpoint.finish(lambda: self._state("done"))

    # -- restoring ------------------------------------------------------------------------
    def restore_runs(self):
        """Every candidate's starts and bookkeeping as saved; the generator as it was."""
        state = self.state
        if self.rng is not None and state["rng"] is not None and state["stage"] != "short":
            _checkpoint.set_rng_state(self.rng, state["rng"])
        for candidate, saved in zip(self.candidates, state["candidates"], strict=True):
            candidate.error = saved["error"]
            candidate.init_errors = [ValueError(message) for message in saved["init_errors"]]
            candidate.seconds = saved["seconds"]
            candidate.n_starts = saved["n_starts"]
            candidate.runs = [_restored_run(candidate, run) for run in saved["runs"]]

    def restore_chosen(self):
        """A checkpoint of the refit: the runs, the picks, the evaluations and the choice."""
        self.restore_runs()
        for candidate, saved in zip(self.candidates, self.state["candidates"], strict=True):
            if saved["best"] is not None:
                candidate.best = candidate.runs[saved["best"]]
                candidate.best.degenerate = saved["degenerate"]
            candidate.degenerate = saved["degenerate"]
            if saved["evaluation"] is not None:
                candidate.evaluation = _Evaluation(*saved["evaluation"])
        return self.candidates[self.state["chosen"]]


def _candidate_state(candidate):
    best = candidate.best
    evaluation = candidate.evaluation
    return {
        "error": candidate.error,
        "init_errors": [" ".join(str(e).split()) for e in candidate.init_errors],
        "seconds": float(candidate.seconds),
        "n_starts": int(candidate.n_starts),
        "runs": [
            {
                "params": run.params,
                "scalars": np.array([run.lower_bound, run.tol, run.seconds], dtype=np.float64),
                "lower_bounds": np.asarray(run.lower_bounds, dtype=np.float64),
                "n_iter": int(run.n_iter),
                "max_iter": int(run.max_iter),
                "converged": bool(run.converged),
                "error": run.error,
            }
            for run in candidate.runs
        ],
        "best": None if best is None else candidate.runs.index(best),
        "degenerate": candidate.degenerate,
        "evaluation": (
            None
            if evaluation is None
            else np.array([evaluation.log_likelihood, evaluation.entropy], dtype=np.float64)
        ),
    }


def _restored_run(candidate, saved):
    lower_bound, tol, seconds = (float(v) for v in saved["scalars"])
    run = Run(
        candidate.family,
        saved["params"],
        reg=candidate.estimator._reg(),
        tol=tol,
        max_iter=saved["max_iter"],
        tag=candidate,
    )
    run.lower_bound = lower_bound
    run.lower_bounds = [float(v) for v in saved["lower_bounds"]]
    run.n_iter = saved["n_iter"]
    run.converged = saved["converged"]
    run.error = saved["error"]
    run.seconds = seconds
    return run


def _tied(a, b):
    """Values equal up to round-off (sample weights and repeated rows, chunkings)."""
    return abs(a - b) <= TIE_RTOL * max(1.0, abs(a), abs(b))


def _sorted_with_ties(items, value, tiebreak):
    """``items`` by increasing ``value``, values tied up to round-off ordered by ``tiebreak``.

    Near-equal values (the same optimum reached along paths whose sums were
    rounded differently, or the same model with its components in another
    order) must not be decided by round-off: the choice would change with
    the chunking of the data or between weights and repeated rows.
    """
    ordered = sorted(items, key=lambda item: (value(item), tiebreak(item)))
    groups = []
    for item in ordered:
        v = value(item)
        if groups and math.isfinite(v) and _tied(v, value(groups[-1][-1])):
            groups[-1].append(item)
        else:
            groups.append([item])
    return [item for group in groups for item in sorted(group, key=tiebreak)]


def _by_bound(runs, ties=True):
    """Runs from the highest lower bound, ties to the earlier start.

    With ``ties=False`` only exactly equal bounds tie, as between the
    ``n_init`` restarts of one fit (so that ``strategy="em"`` keeps the start
    the estimator fitted alone keeps, even among near-equal optima).
    """
    position = {id(run): i for i, run in enumerate(runs)}
    if not ties:
        return sorted(runs, key=lambda r: (-r.lower_bound, position[id(r)]))
    return _sorted_with_ties(runs, lambda r: -r.lower_bound, lambda r: position[id(r)])


__all__ = ["MixtureSelector", "degenerate_components"]
