"""The criteria of the selector's candidates: their evaluation, BIC/AIC/ICL, order and choice.

One shared pass evaluates every candidate (exact log-likelihood and entropy
of the responsibilities under its final parameters); the criteria follow,
and the candidates are ranked with ties up to round-off
(:mod:`fastem._selection.ties`).
"""

import math
import warnings

import numpy as np

from .._passes import RUN_ERRORS, Each, _Failure, grouped_by_method, per_member, shared_pass
from ..kernels.logsumexp import log_likelihood_and_entropy
from .ties import sorted_with_ties

#: Rows per block of the final evaluation pass (bounds its ``(rows, K)`` temporaries).
_EVAL_ROWS = 65536


class Evaluation:
    """Log-likelihood and entropy of the responsibilities, summed over rows (``+``)."""

    __slots__ = ("log_likelihood", "entropy")

    def __init__(self, log_likelihood, entropy):
        self.log_likelihood = log_likelihood
        self.entropy = entropy

    def __add__(self, other):
        return Evaluation(self.log_likelihood + other.log_likelihood, self.entropy + other.entropy)


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
            w = np.ascontiguousarray(w_chunk[start:stop] if w_chunk.size else w_chunk, np.float64)
            ll_block, entropy_block = log_likelihood_and_entropy(weighted, w)
            ll += ll_block
            entropy += entropy_block
        return Evaluation(ll, entropy)


class _EvaluateMany:
    """:class:`_Evaluate` of several candidates whose family class has ``evaluate_many``.

    One fused pass of the candidates' E-steps (models of one covariance type
    in one product); chunks the family leaves to the caller (rows with NaN)
    are scored through each estimator as :class:`_Evaluate` does.
    """

    __slots__ = ("families", "params", "estimators")

    def __init__(self, families, params, estimators):
        self.families, self.params, self.estimators = families, params, estimators

    def __call__(self, X_chunk, w_chunk):
        try:
            found = type(self.families[0]).evaluate_many(
                self.families, X_chunk, w_chunk, self.params
            )
        except RUN_ERRORS:
            found = [None] * len(self.families)
        items = []
        for estimator, result in zip(self.estimators, found, strict=True):
            if result is not None:
                items.append(Evaluation(*result))
                continue
            try:
                items.append(_Evaluate(estimator)(X_chunk, w_chunk))
            except RUN_ERRORS as exc:
                items.append(_Failure(exc))
        return Each(items)


def evaluate(candidates, source):
    """Every candidate's :class:`Evaluation` in one pass: ``[(candidate, evaluation)]``.

    Candidates whose family class has ``evaluate_many`` (the Gaussian ones)
    are evaluated together by it; the others one by one through their
    fitted estimator. A candidate whose evaluation raises is failed and
    left out.
    """
    if not candidates:
        return []
    fitted = [c.fitted(source.dtype) for c in candidates]
    # Every Gaussian candidate through the fused evaluation, a lone one too, so that
    # a candidate's criteria never depend on the others searched beside it.
    groups, alone = grouped_by_method(
        list(range(len(candidates))), lambda i: candidates[i].best.family, "evaluate_many", 1
    )
    funcs = [
        _EvaluateMany(
            [candidates[i].best.family for i in indices],
            [fitted[i]._params_from_attributes() for i in indices],
            [fitted[i] for i in indices],
        )
        for indices in groups
    ]
    funcs += [_Evaluate(fitted[i]) for i in alone]
    results, seconds = shared_pass(source, funcs)
    evaluations = [None] * len(candidates)
    for i, evaluation, spent in per_member(
        results, seconds, groups + [[i] for i in alone], lambda i: candidates[i].n_components
    ):
        candidates[i].seconds += spent
        evaluations[i] = evaluation
    out = []
    for candidate, evaluation in zip(candidates, evaluations, strict=True):
        if not isinstance(evaluation, Evaluation):
            candidate.fail(evaluation.exc)
            candidate.best = None
            continue
        out.append((candidate, evaluation))
    return out


def scores(candidate, weight_sum):
    """The evaluated candidate's log-likelihood, parameters, BIC, AIC, ICL and entropy."""
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


def order(candidates, weight_sum, criterion):
    """Candidates from best to worst: valid by criterion, then degenerate, then failed."""
    kinds = list(dict.fromkeys(c.covariance_type for c in candidates))

    def value(candidate):
        if candidate.error is not None or candidate.evaluation is None:
            return math.inf
        v = scores(candidate, weight_sum)[criterion]
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
        for c in sorted_with_ties([c for c in candidates if status(c) == group], value, tiebreak)
    ]


def choose(candidates, weight_sum, criterion):
    """The best candidate by ``criterion``: a warning if degenerate, an error if none is valid."""
    ordered = order(candidates, weight_sum, criterion)
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
