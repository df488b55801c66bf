"""Estimators for the command line: built from options, loaded from files, evaluated."""

import math
from pathlib import Path

import numpy as np

from fastem import BernoulliMixture, GaussianMixture, load

from .data import row_blocks
from .errors import CliError

_FAMILIES = {"gaussian": GaussianMixture, "bernoulli": BernoulliMixture}


def make_estimator(family, n_components, args, covariance=None):
    """An unfitted estimator of ``family`` from the fitting options in ``args``.

    Parameters
    ----------
    family : {'gaussian', 'bernoulli'}
        Mixture family.
    n_components : int
        Number of components.
    args : argparse.Namespace
        Parsed options of ``fit`` or ``select``.
    covariance : str, optional
        Covariance type; None keeps the estimator's default.

    Returns
    -------
    GaussianMixture or BernoulliMixture
    """
    cls = _FAMILIES[family]
    params = {
        "n_components": n_components,
        "n_init": args.n_init,
        "max_iter": args.max_iter,
        "tol": args.tol,
        "init_params": args.init,
        "random_state": args.seed,
        "n_jobs": args.n_jobs,
    }
    if covariance is not None:
        params["covariance_type"] = covariance
    if args.reg_covar is not None:
        params["reg_covar"] = args.reg_covar
    if args.chunk_size is not None:
        params["chunk_size"] = args.chunk_size
    accepted = cls().get_params()
    options = (
        ("covariance_type", "--covariance"),
        ("reg_covar", "--reg-covar"),
        ("chunk_size", "--chunk-size"),
    )
    for name, option in options:
        if name in params and name not in accepted:
            raise CliError(f"{option} does not apply to the {family} family")
    return cls(**{name: value for name, value in params.items() if value is not None})


def load_model(path):
    """The model saved at ``path``, with a one-line error when there is none.

    Parameters
    ----------
    path : str
        A ``.npz`` file written by ``fastem fit`` or ``model.save``.

    Returns
    -------
    fastem mixture
    """
    if not Path(path).exists():
        raise CliError(f"{path}: no such file")
    return load(path)


def evaluate(model, X, method):
    """``model.method`` over row blocks of ``X``, concatenated.

    Parameters
    ----------
    model : fastem mixture
        Fitted model.
    X : ndarray
        Rows from :func:`fastem.cli.data.read_data` (memory maps included).
    method : str
        ``predict``, ``predict_proba`` or ``score_samples``.

    Returns
    -------
    ndarray
        One result row per row of ``X``.
    """
    return np.concatenate([getattr(model, method)(block) for block in row_blocks(X)])


def _n_parameters(model):
    """Number of free parameters of a fitted model (the BIC and AIC penalty)."""
    # TODO(arch): public n_parameters
    return model._n_parameters()


def fit_statistics(model, X):
    """Mean log-likelihood, BIC and AIC of a fitted model on ``X``, in one pass.

    Equal to ``model.score(X)``, ``model.bic(X)`` and ``model.aic(X)``, but
    computed by row blocks: bounded memory on large memory-mapped files.

    Parameters
    ----------
    model : fastem mixture
        Fitted model.
    X : ndarray of shape (n_samples, n_features)
        Rows.

    Returns
    -------
    dict
        ``log_likelihood`` (per sample), ``bic``, ``aic`` and ``n_parameters``.
    """
    n_samples = X.shape[0]
    mean_ll = float(np.mean(evaluate(model, X, "score_samples"), dtype=np.float64))
    n_parameters = _n_parameters(model)
    total = mean_ll * n_samples
    return {
        "log_likelihood": mean_ll,
        "bic": -2 * total + n_parameters * math.log(n_samples),
        "aic": -2 * total + 2 * n_parameters,
        "n_parameters": n_parameters,
    }


def check_k(k_values, n_samples):
    """Reject numbers of components above the number of rows, before any fit.

    Parameters
    ----------
    k_values : list of int
        Numbers of components asked for.
    n_samples : int
        Rows of the data.
    """
    too_big = [k for k in k_values if k > n_samples]
    if too_big:
        raise CliError(f"--k {max(too_big)} exceeds the number of rows ({n_samples})")


def describe(model):
    """``GaussianMixture(n_components=3, covariance_type='full')``: a model in one line.

    Parameters
    ----------
    model : fastem mixture
        Any mixture, fitted or not.

    Returns
    -------
    str
        The class with its number of components (and covariance type).
    """
    extra = ""
    if hasattr(model, "covariance_type"):
        extra = f", covariance_type={model.covariance_type!r}"
    return f"{type(model).__name__}(n_components={model.n_components}{extra})"
