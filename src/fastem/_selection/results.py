"""What a search of the selector reports: ``results_`` and every candidate's fitted model."""

import numpy as np

from .criteria import order, scores


def results_table(candidates, weight_sum, criterion):
    """``results_``: one entry per candidate, in the order of ``candidates``."""
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
            values = scores(c, weight_sum)
            for name in ("log_likelihood", "bic", "aic", "icl", "entropy"):
                floats[name][i] = values[name]
            floats["mean_log_likelihood"][i] = values["log_likelihood"] / weight_sum
            n_iter[i] = c.best.n_iter
            converged[i] = c.best.converged
    rank = np.empty(n, dtype=np.int64)
    for position, c in enumerate(order(candidates, weight_sum, criterion), start=1):
        rank[c.index] = position
    return {
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


def fitted_estimators(candidates, template, dtype):
    """``estimators_``: every candidate's fitted model (its best start), None for failed ones.

    Each holds its best run's parameters, iterations and bounds, and the
    attributes that validating the data set on ``template``.
    """
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
        estimator = candidate.fitted(dtype)
        run = candidate.best
        estimator.n_iter_ = run.n_iter
        estimator.lower_bound_ = run.lower_bound
        estimator.lower_bounds_ = list(run.lower_bounds)
        estimator.converged_ = bool(run.converged)
        for name, value in validation.items():
            setattr(estimator, name, value)
        fitted.append(estimator)
    return fitted
