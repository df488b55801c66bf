"""Estimators for the command line: built from options, loaded from files, evaluated."""

import math
from pathlib import Path

import numpy as np

from fastem import BernoulliMixture, GaussianMixture, KMeans, TabularMixture, load

from .data import row_blocks
from .errors import CliError

_FAMILIES = {
    "gaussian": GaussianMixture,
    "bernoulli": BernoulliMixture,
    "kmeans": KMeans,
    "tabular": TabularMixture,
}

#: ``--init`` of the command line -> KMeans's ``init`` (its 'random' draws rows,
#: the mixtures' 'random_from_data').
_KMEANS_INIT = {"kmeans": "k-means++", "k-means++": "k-means++", "random_from_data": "random"}


def _make_kmeans(n_clusters, args, covariance):
    """An unfitted :class:`fastem.KMeans` from the fitting options in ``args``."""
    if hasattr(args, "criterion"):
        raise CliError(
            "select compares models by BIC or AIC, which k-means does not define; fit each K "
            "with 'fastem fit --family kmeans' and compare the inertia"
        )
    for option, value in (("--covariance", covariance), ("--reg-covar", args.reg_covar)):
        if value is not None:
            raise CliError(f"{option} does not apply to the kmeans family")
    if args.init not in _KMEANS_INIT:
        raise CliError(
            f"--init {args.init} does not apply to the kmeans family; use k-means++ or "
            "random_from_data"
        )
    params = {
        "n_clusters": n_clusters,
        "n_init": args.n_init,
        "max_iter": args.max_iter,
        "tol": args.tol,
        "init": _KMEANS_INIT[args.init],
        "random_state": args.seed,
        "n_jobs": args.n_jobs,
        "chunk_size": args.chunk_size,
    }
    return KMeans(**{name: value for name, value in params.items() if value is not None})


def n_clusters(model):
    """Number of components (mixtures) or clusters (k-means) of a model.

    Parameters
    ----------
    model : fastem estimator
        Fitted or not.

    Returns
    -------
    int
    """
    return model.n_clusters if isinstance(model, KMeans) else model.n_components


def make_estimator(family, n_components, args, covariance=None):
    """An unfitted estimator of ``family`` from the fitting options in ``args``.

    Parameters
    ----------
    family : {'gaussian', 'bernoulli', 'kmeans', 'tabular'}
        Model family.
    n_components : int
        Number of components (clusters for k-means).
    args : argparse.Namespace
        Parsed options of ``fit`` or ``select``.
    covariance : str, optional
        Covariance type; None keeps the estimator's default.

    Returns
    -------
    GaussianMixture, BernoulliMixture, KMeans or TabularMixture
    """
    if family == "kmeans":
        return _make_kmeans(n_components, args, covariance)
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
        if family == "tabular" and covariance not in ("diag", "full"):
            raise CliError(
                f"--covariance {covariance} does not apply to the tabular family (its gaussian "
                "columns are independent within a class, diag, or one full-covariance block, "
                "full)"
            )
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
    fastem estimator
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
    if not hasattr(model, method):
        raise CliError(f"{method} is not defined for a {type(model).__name__} model")
    blocks = row_blocks(X, check_chunk=getattr(model, "_check_chunk", None))
    return np.concatenate([getattr(model, method)(block) for block in blocks])


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
        For k-means, which has no likelihood: ``inertia``, its mean per
        sample (``mean_sq_distance``), ``log_likelihood`` as minus that mean
        (``score(X) / n_samples``), ``n_parameters``, and NaN for ``bic`` and
        ``aic``.
    """
    n_samples = X.shape[0]
    if isinstance(model, KMeans):
        blocks = row_blocks(X, check_chunk=model._check_chunk)
        inertia = -sum(model.score(block) for block in blocks)
        return {
            "inertia": inertia,
            "mean_sq_distance": inertia / n_samples,
            "log_likelihood": -inertia / n_samples,
            "bic": math.nan,
            "aic": math.nan,
            "n_parameters": int(np.size(model.cluster_centers_)),
        }
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
    model : fastem estimator
        Any mixture or k-means, fitted or not.

    Returns
    -------
    str
        The class with its number of components (and covariance type).
    """
    if isinstance(model, KMeans):
        return f"KMeans(n_clusters={model.n_clusters})"
    extra = ""
    if hasattr(model, "covariance_type"):
        extra = f", covariance_type={model.covariance_type!r}"
    return f"{type(model).__name__}(n_components={model.n_components}{extra})"


def table_statistics(model, table):
    """Mean log-likelihood, BIC and AIC of a fitted tabular model on a table or Parquet path.

    Parameters
    ----------
    model : TabularMixture
        Fitted model.
    table : pandas.DataFrame or str
        The table, or a Parquet path (scored batch by batch).

    Returns
    -------
    dict
        ``log_likelihood`` (per sample), ``bic``, ``aic``, ``n_parameters``
        and ``n_samples``.
    """
    if isinstance(table, str):
        from fastem._file_sources import parquet_tables

        total, n_samples = 0.0, 0
        for batch in parquet_tables(table, EVAL_ROWS)():
            scores = model.score_samples(batch)
            total += float(scores.sum())
            n_samples += scores.shape[0]
    else:
        n_samples = table.shape[0]
        total = float(np.sum(model.score_samples(table), dtype=np.float64))
    n_parameters = _n_parameters(model)
    return {
        "log_likelihood": total / n_samples,
        "bic": -2 * total + n_parameters * math.log(n_samples),
        "aic": -2 * total + 2 * n_parameters,
        "n_parameters": n_parameters,
        "n_samples": n_samples,
    }


#: Rows per batch when a Parquet table is scored.
EVAL_ROWS = 1 << 18
