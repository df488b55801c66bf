"""The criteria of the selector's candidates: their evaluation, BIC/AIC/ICL, order and choice.

One shared pass evaluates every candidate (exact log-likelihood and entropy
of the responsibilities under its final parameters); the criteria follow,
and the candidates are ranked with ties up to round-off
(:mod:`fastem._selection.ties`).
"""

import math
import warnings

import numpy as np

from .._passes import shared_pass
from ..kernels.logsumexp import logsumexp_rows
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
            norm = logsumexp_rows(weighted)
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
        return Evaluation(ll, entropy)


def evaluate(candidates, source):
    """Every candidate's :class:`Evaluation` in one pass: ``[(candidate, evaluation)]``.

    A candidate whose evaluation raises is failed and left out.
    """
    if not candidates:
        return []
    funcs = [_Evaluate(c.fitted(source.dtype)) for c in candidates]
    results, seconds = shared_pass(source, funcs)
    out = []
    for candidate, evaluation, spent in zip(candidates, results, seconds, strict=True):
        candidate.seconds += spent
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
