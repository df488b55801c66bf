"""The candidate grid of the selector: every (K, covariance type) with its estimator and starts.

Which numbers of components and covariance types
:class:`fastem.selection.MixtureSelector` tries, each candidate's estimator
and family (or the error that rules it out), how many starts it gets and the
random state they are drawn from.
"""

from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: Starts per candidate of the "short-em" strategy when ``n_init`` is None.
SHORT_EM_STARTS = 30


class Candidate:
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

    def fitted(self, dtype):
        """A copy of the candidate's estimator holding its best run's parameters."""
        estimator = clone(self.estimator)
        estimator._params_to_attributes(self.best.params, dtype)
        return estimator


def k_values(n_components):
    """The distinct numbers of components of ``n_components`` (an int or a sequence), sorted."""
    values = [n_components] if np.ndim(n_components) == 0 else n_components
    ks = []
    for k in values:
        if isinstance(k, bool) or not isinstance(k, Integral | np.integer) or k < 1:
            raise ValueError(f"n_components must hold integers >= 1, got {n_components!r}.")
        if int(k) not in ks:
            ks.append(int(k))
    if not ks:
        raise ValueError("n_components must hold at least one number of components.")
    return sorted(ks)


def covariance_types(given, base):
    """The covariance types ``given`` names for ``base`` ([None] for an estimator without)."""
    has_types = "covariance_type" in base.get_params()
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
            f"covariance_type must be 'all', None, or some of {COVARIANCE_TYPES}, got {given!r}."
        )
    return list(dict.fromkeys(kinds))


def n_starts(base, n_components, n_init, strategy):
    """Starts of a candidate with ``n_components`` (one component has a single optimum)."""
    if n_components == 1:
        return 1
    if n_init is not None:
        return n_init
    return SHORT_EM_STARTS if strategy == "short-em" else base.n_init


def make_candidates(base, ks, kinds, source):
    """Every candidate, covariance type by covariance type, then by K; invalid ones failed."""
    candidates = []
    n_samples = source.n_samples
    weights = source.sample_weight if source.in_memory else np.empty(0)
    for kind in kinds:
        for k in ks:
            params = {"n_components": k}
            if kind is not None:
                params["covariance_type"] = kind
            estimator = clone(base).set_params(**params)
            candidate = Candidate(len(candidates), estimator, k, kind)
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


def random_states(base, candidates):
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
