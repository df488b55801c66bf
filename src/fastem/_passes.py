"""Shared passes: one read of each chunk of a source feeds many functions.

Sources combine per-chunk results with ``+`` (in order, or in a tree on
Dask), so one pass can compute the statistics of many runs at once, each
function's failure kept apart from the others'. :class:`PassCounter` counts
the passes a fit makes (``MixtureSelector.n_passes_``).
"""

import time

import numpy as np

from ._checkpoint import test_hook


class _Failure:
    """An exception raised by one function of a shared pass; absorbs what is added to it."""

    def __init__(self, exc):
        self.exc = exc

    def __add__(self, other):
        return self

    __radd__ = __add__


class Parts:
    """Per-function results of one chunk, added element by element (``+``).

    Sources combine per-chunk results with ``+`` (in order, or in a tree on
    Dask), so a list of statistics summed this way is the list of every
    function's sum over the chunks.
    """

    __slots__ = ("items", "seconds")

    def __init__(self, items, seconds):
        self.items = items
        self.seconds = seconds

    def __add__(self, other):
        return Parts(
            [add_results(a, b) for a, b in zip(self.items, other.items, strict=True)],
            [a + b for a, b in zip(self.seconds, other.seconds, strict=True)],
        )


def add_results(a, b):
    """``a + b`` of two chunks' results, where a :class:`_Failure` in either wins."""
    if isinstance(b, _Failure):
        return b
    return a + b


#: What one function of a shared pass may raise without stopping the others.
RUN_ERRORS = (ValueError, FloatingPointError, ArithmeticError, np.linalg.LinAlgError)


class Each:
    """Results of several runs from one function of a shared pass, added run by run (``+``).

    A function serving many runs at once (``estep_stats_many``) returns one;
    its items may be :class:`_Failure` of single runs.
    """

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items

    def __add__(self, other):
        return Each([add_results(a, b) for a, b in zip(self.items, other.items, strict=True)])

    @classmethod
    def of_each(cls, funcs, X_chunk, w_chunk):
        """Every ``func(X_chunk, w_chunk)`` alone, a failure kept as its own."""
        items = []
        for func in funcs:
            try:
                items.append(func(X_chunk, w_chunk))
            except RUN_ERRORS as exc:
                items.append(_Failure(exc))
        return cls(items)


def grouped_by_method(members, family_of, name, min_size=2):
    """Members whose family class has the method ``name``, grouped by class, and the rest.

    Returns ``(groups, alone)``: lists of at least ``min_size`` members that one
    call of ``type(family).name`` can serve, and every other member (in their order).
    """
    by_class = {}
    for member in members:
        family = family_of(member)
        if getattr(type(family), name, None) is not None:
            by_class.setdefault(type(family), []).append(member)
    groups = [group for group in by_class.values() if len(group) >= min_size]
    grouped = {id(member) for group in groups for member in group}
    return groups, [member for member in members if id(member) not in grouped]


def per_member(results, seconds, served, size):
    """``(member, result, seconds)`` for every member a function of a shared pass served.

    ``served[i]`` lists the members of function ``i``; an :class:`Each` result
    is theirs item by item, any other (one member's result, or a failure of
    the whole call) is every member's. A call's time is shared out by
    ``size(member)`` (the work each member's part of it took).
    """
    for result, spent, members in zip(results, seconds, served, strict=True):
        items = result.items if isinstance(result, Each) else [result] * len(members)
        sizes = [size(member) for member in members]
        for member, item, part in zip(members, items, sizes, strict=True):
            yield member, item, spent * part / sum(sizes)


def _apply_all(funcs, X_chunk, w_chunk, hook="estep"):
    if hook is not None:
        test_hook(hook)
    items, seconds = [], []
    for func in funcs:
        start = time.perf_counter()
        try:
            items.append(func(X_chunk, w_chunk))
        except RUN_ERRORS as exc:
            # One run's failure must not stop the others sharing the pass.
            items.append(_Failure(exc))
        seconds.append(time.perf_counter() - start)
    return Parts(items, seconds)


class _Bound:
    """``func(X, w, *args)`` as a function of the chunk (picklable for Dask workers)."""

    __slots__ = ("func", "args")

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __call__(self, X_chunk, w_chunk):
        return self.func(X_chunk, w_chunk, *self.args)


class _ApplyAll:
    __slots__ = ("funcs", "hook")

    def __init__(self, funcs, hook="estep"):
        self.funcs = funcs
        self.hook = hook

    def __call__(self, X_chunk, w_chunk):
        return _apply_all(self.funcs, X_chunk, w_chunk, self.hook)


def shared_pass(source, funcs, progress=None, hook="estep"):
    """One pass over ``source`` computing every ``func(X_chunk, w_chunk)``, summed.

    Parameters
    ----------
    source : fastem._sources.Source
        The rows.
    funcs : list of callable
        ``func(X_chunk, w_chunk)`` returning something closed under ``+``.
    progress : fastem._progress.Progress, optional
        Advanced per chunk.
    hook : str or None, default="estep"
        The test hook (:func:`fastem._checkpoint.test_hook`) passed once per
        chunk of the pass; None passes none.

    Returns
    -------
    results : list
        Each function's sum over the chunks, or a :class:`_Failure` holding
        the exception it raised.
    seconds : list of float
        Time spent in each function (its share of the pass's computing).
    """
    if not funcs:
        return [], []
    total = source.map_reduce(_ApplyAll(list(funcs), hook), progress)
    return total.items, total.seconds


class PassCounter:
    """Counts the passes over a source: every start of a read of its rows.

    Wraps the instance's ``chunks`` (every pass of a sequential source goes
    through it, also those of ``map_reduce``, ``take`` and ``weight_sum``)
    and, for sources that are not read in order (Dask), ``map_reduce``.
    """

    def __init__(self, source):
        self.n_passes = 0
        self.source = source
        if source.sequential:
            self._wrap("chunks")
        else:
            self._wrap("map_reduce")
            self._wrap("map_reduce_seeded")

    def _wrap(self, name):
        method = getattr(self.source, name, None)
        if method is None:
            return
        counter = self

        def counted(*args, **kwargs):
            counter.n_passes += 1
            return method(*args, **kwargs)

        setattr(self.source, name, counted)

    def release(self):
        """Give the source back its own methods."""
        for name in ("chunks", "map_reduce", "map_reduce_seeded"):
            self.source.__dict__.pop(name, None)


__all__ = [
    "RUN_ERRORS",
    "Each",
    "PassCounter",
    "add_results",
    "grouped_by_method",
    "per_member",
    "shared_pass",
]
