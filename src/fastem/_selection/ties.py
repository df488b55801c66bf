"""Orderings of the selector's runs and candidates, values equal up to round-off tied."""

import math

#: Relative difference below which two log-likelihoods or criterion values tie.
TIE_RTOL = 1e-9


def tied(a, b):
    """Values equal up to round-off (sample weights and repeated rows, chunkings)."""
    return abs(a - b) <= TIE_RTOL * max(1.0, abs(a), abs(b))


def sorted_with_ties(items, value, tiebreak):
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
        if groups and math.isfinite(v) and tied(v, value(groups[-1][-1])):
            groups[-1].append(item)
        else:
            groups.append([item])
    return [item for group in groups for item in sorted(group, key=tiebreak)]


def by_bound(runs, ties=True):
    """Runs from the highest lower bound, ties to the earlier start.

    With ``ties=False`` only exactly equal bounds tie, as between the
    ``n_init`` restarts of one fit (so that ``strategy="em"`` keeps the start
    the estimator fitted alone keeps, even among near-equal optima).
    """
    position = {id(run): i for i, run in enumerate(runs)}
    if not ties:
        return sorted(runs, key=lambda r: (-r.lower_bound, position[id(r)]))
    return sorted_with_ties(runs, lambda r: -r.lower_bound, lambda r: position[id(r)])
