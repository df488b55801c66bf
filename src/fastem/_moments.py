"""Column moments of a source in one pass, cached on it, with the check for non-finite data.

The data centre (the shift the statistics are summed around) and the k-means
tolerance both read them; rows of distributed sources are checked for NaN
and infinity here, where they live.
"""

from functools import partial

import numpy as np


def _unweighted(column_moments, X_chunk, w_chunk):
    return column_moments(X_chunk, np.empty(0))


def data_moments(source, column_moments, weighted=True):
    """Column means and variances over every row of ``source`` (one pass).

    Also rejects data with NaN or infinity that reached this pass unchecked
    (rows of distributed sources are checked here, where they live). Cached on
    the source: the data centre (the shift of the statistics) and the k-means
    tolerance both need it.

    Parameters
    ----------
    source : fastem._sources.Source
        The rows.
    column_moments : callable
        ``column_moments(X_chunk, w_chunk) -> ColumnMoments`` (the family's).
    weighted : bool, default=True
        Weight the rows by their sample weights (the mixtures); False counts
        every row once (scikit-learn's k-means tolerance ignores the weights).

    Returns
    -------
    mean, variance : ndarray of shape (n_features,)
    """
    attribute = "_moments" if weighted else "_moments_rows"
    cached = getattr(source, attribute, None)
    if cached is not None:
        return cached
    func = column_moments if attribute == "_moments" else partial(_unweighted, column_moments)
    total = source.map_reduce(func)
    if not (np.all(np.isfinite(total.mean)) and np.all(np.isfinite(total.m2))):
        raise ValueError(
            "Input X contains NaN or infinity, or values so large that their squares "
            "overflow; scale the data."
        )
    if np.ndim(total.weight):
        _check_observed_columns(total.weight)
    elif total.weight <= 0:
        raise ValueError("sample_weight must have at least one positive entry; all are 0.")
    moments = (total.mean, total.m2 / total.weight)
    setattr(source, attribute, moments)
    source.has_missing = bool(getattr(total, "n_missing", 0))
    return moments


def _check_observed_columns(weight):
    """A clear error for columns without any observed value (of positive weight)."""
    empty = np.flatnonzero(~(weight > 0))
    if empty.size == weight.size:
        raise ValueError(
            "X has no observed value: every entry is NaN (or every row with an observed "
            "value has sample weight 0), so there is nothing to fit."
        )
    if empty.size:
        names = ", ".join(str(int(j)) for j in empty[:10]) + (", ..." if empty.size > 10 else "")
        which = "Column" if empty.size == 1 else "Columns"
        raise ValueError(
            f"{which} {names} of X (0-based) {'has' if empty.size == 1 else 'have'} no "
            "observed value (every entry is NaN, or only rows of sample weight 0 observe "
            "it): a mixture cannot estimate a column it never sees. Drop the column or "
            "fill it."
        )


__all__ = ["data_moments"]
