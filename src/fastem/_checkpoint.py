"""Checkpoints of long fits: the state between two iterations, written atomically.

``fit(X, checkpoint=PATH)`` hands the estimator a :class:`Checkpoint`. After
every iteration (exact EM) or mini-batch (online EM), or at most every
``checkpoint_every`` seconds, the estimator gives it the complete state needed
to continue: parameters, iteration count, lower bounds so far, the ``n_init``
restart in progress and the best one so far, the online step count and running
statistics, and the random generator's state. The file is written with
:func:`fastem._io.write_atomically` (temporary file in the same directory,
fsync, rename, fsync of the directory), so a crash at any moment leaves the
previous checkpoint or the new one, never a torn one.

The same ``fit`` called again finds the file and continues from it; since the
state is exact (float64 arrays, the generator's state), the final model is the
one an uninterrupted fit gives, bit for bit with the same thread count. A
checkpoint is resumed only by the fit that made it: its header records the
estimator class, the parameters that shape the result, the fit arguments, the
fastem version and a fingerprint of the data (shape, dtype, row count and a
hash of a few sampled rows and weights); any difference is refused with a
:class:`CheckpointMismatchError` that names it.

The file format is an ordinary ``.npz`` archive read with
``allow_pickle=False``: ``__fastem_checkpoint__`` (the format version),
``__meta__`` (JSON: the header and the state's structure) and one member per
array or float of the state (floats are stored as 0-d float64 arrays, so they
round-trip exactly, infinities included).
"""

import contextlib
import copy
import dataclasses
import hashlib
import importlib
import io
import json
import numbers
import os
import signal
import time
from pathlib import Path

import numpy as np

from . import _io
from ._version import __version__

FORMAT_VERSION = 1
"""Version of the checkpoint layout; a checkpoint of another version is refused."""

_MAGIC = "__fastem_checkpoint__"

#: Estimator parameters that do not change the fitted model (what is printed, the
#: thread count): a checkpoint made with other values of these is resumed. Other
#: thread counts give the same model up to round-off (bit for bit with the same).
IGNORED_PARAMETERS = frozenset({"verbose", "verbose_interval", "progress", "callback", "n_jobs"})

#: Rows sampled (evenly spaced) for the data fingerprint.
FINGERPRINT_ROWS = 16


class CheckpointError(ValueError):
    """A checkpoint file cannot be used (not a checkpoint, damaged, other format)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was made by another fit (other estimator, parameters or data)."""


# -- test hooks ---------------------------------------------------------------------------
#: ``FASTEM_TEST_HOOK=NAME:COUNT[:ACTION]``: at the COUNT-th time the fit passes the
#: point NAME (every time for ``*``), ACTION happens: ``kill`` (SIGKILL of the
#: process, the default), ``interrupt`` (KeyboardInterrupt) or ``sleep=SECONDS``.
#: Points: ``estep`` (every chunk of an E-step pass, every online mini-batch),
#: ``checkpoint-write`` (half-way through writing the temporary file),
#: ``checkpoint-written`` (after the rename). For fault tests only.
HOOK_ENV = "FASTEM_TEST_HOOK"
_hooks = {}


def _parse_hooks(text):
    hooks = {}
    for spec in filter(None, (part.strip() for part in (text or "").split(","))):
        name, _, rest = spec.partition(":")
        count, _, action = rest.partition(":")
        hooks[name] = [-1 if count == "*" else int(count or 1), action or "kill"]
    return hooks


def set_test_hook(name, count=1, action="kill"):
    """Arm the test hook ``name`` in this process (``action`` may be a callable).

    ``count="*"`` acts at every pass; ``set_test_hook(None)`` disarms every hook.
    """
    _hooks.clear()
    if name is not None:
        _hooks[name] = [-1 if count == "*" else int(count), action]


def test_hook(name):
    """Count a pass through the point ``name``; act when an armed hook's count is reached."""
    if not _hooks:
        return
    hook = _hooks.get(name)
    if hook is None:
        return
    if hook[0] > 0:
        hook[0] -= 1
        if hook[0] != 0:
            return
    elif hook[0] == 0:
        return  # fired already
    action = hook[1]
    if callable(action):
        action()
    elif action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "interrupt":
        raise KeyboardInterrupt(f"test hook {name}")
    elif action.startswith("sleep="):
        time.sleep(float(action.split("=", 1)[1]))


_hooks.update(_parse_hooks(os.environ.get(HOOK_ENV)))


# -- fingerprints ---------------------------------------------------------------------------
def _digest(*parts):
    h = hashlib.blake2b(digest_size=12)
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()


def _array_digest(array):
    array = np.ascontiguousarray(array)
    return _digest(array.dtype.str, array.shape, array.tobytes())


def _rows_digest(rows):
    """Digest of sampled rows: dense arrays, or CSR-like rows (``indptr``, ``indices``)."""
    if hasattr(rows, "indptr") and hasattr(rows, "indices"):
        parts = [rows.indptr, rows.indices, getattr(rows, "data", np.empty(0))]
        return _digest(tuple(rows.shape), *(_array_digest(np.asarray(p)) for p in parts))
    return _array_digest(np.asarray(rows))


def parameter_token(value):
    """A JSON-able value that is equal for parameters that fit the same model.

    Numbers and strings stand for themselves (floats by their exact ``repr``);
    arrays by dtype, shape and a hash of their bytes; a ``RandomState`` by a hash
    of its state (taken when the fit starts, before it draws from it).
    """
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return value if not isinstance(value, np.bool_) else bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, (list, tuple, range)) and all(
        v is None or isinstance(v, (bool, str, numbers.Real)) for v in value
    ):
        return [parameter_token(v) for v in value]
    if isinstance(value, np.random.RandomState):
        kind, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        return f"RandomState #{_digest(kind, _array_digest(keys), pos, has_gauss, cached)}"
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - any object that is not an array
        array = None
    if array is not None and array.dtype.kind in "biuf":
        return f"array {array.dtype} {array.shape} #{_array_digest(array)}"
    return f"{type(value).__qualname__} object"


def data_fingerprint(source):
    """Shape, dtype and a hash of a few sampled rows (and weights) of a source.

    Sources with random access (arrays, memory maps, HDF5/zarr datasets, Dask
    arrays) have :data:`FINGERPRINT_ROWS` evenly spaced rows read directly;
    others (iterables) use the digest of the first and last row of every chunk
    taken during their validating pass, which must have run.
    """
    n_samples = source.n_samples
    fingerprint = {
        "n_samples": None if n_samples is None else int(n_samples),
        "n_features": None if source.n_features is None else int(source.n_features),
        "dtype": None if source.dtype is None else str(np.dtype(source.dtype)),
    }
    sampled = None
    if n_samples:
        indices = np.unique(
            np.round(np.linspace(0, n_samples - 1, min(n_samples, FINGERPRINT_ROWS))).astype(
                np.int64
            )
        )
        sample_rows = getattr(source, "sample_rows", None)
        if sample_rows is not None:
            sampled = sample_rows(indices)
        elif not getattr(source, "sequential", True):
            sampled = source.take(indices)  # distributed (Dask): gathered to the client
    if sampled is not None:
        rows, weights = sampled
        weights = np.asarray(weights, dtype=np.float64)
        fingerprint["rows"] = _rows_digest(rows)
        fingerprint["sample_weight"] = _array_digest(weights) if weights.size else "none"
    else:
        fingerprint["rows"] = getattr(source, "digest", None)
    return fingerprint


def source_fingerprint(source):
    """:func:`data_fingerprint`, after the validating pass where the source needs one.

    Iterables have their rows counted and hashed in their first pass; the
    other sources are fingerprinted without reading more than the sample.
    """
    fingerprint = data_fingerprint(source)
    if fingerprint["rows"] is None and source.sequential:
        _ = source.weight_sum
        fingerprint = data_fingerprint(source)
    return fingerprint


def estimator_header(estimator, fit=None, start="initialisation", deep=False):
    """What a checkpoint of ``estimator``'s fit records to be resumed by the same fit only.

    Parameters
    ----------
    estimator : BaseEstimator
        Its class and every parameter that shapes the result (not those in
        :data:`IGNORED_PARAMETERS`), taken before the fit draws from a
        ``RandomState`` given as ``random_state``.
    fit : dict, optional
        The fit's own arguments that shape the result (JSON-able).
    start : str, default="initialisation"
        Where the fit starts from (a warm start names the fitted model).
    deep : bool, default=False
        Include the parameters of nested estimators (a meta-estimator's).

    Returns
    -------
    dict
        The header, to which the fit adds ``"data"`` (:func:`source_fingerprint`).
    """
    params = {
        name: parameter_token(value)
        for name, value in estimator.get_params(deep=deep).items()
        if name.rpartition("__")[2] not in IGNORED_PARAMETERS
    }
    return {
        "class": type(estimator).__name__,
        "fastem": __version__,
        "fit": dict(fit or {}),
        "params": params,
        "start": start,
    }


# -- state <-> npz members ------------------------------------------------------------------
def _encode(value, arrays):
    """JSON-able structure of ``value``; arrays and floats go to ``arrays``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        name = f"a{len(arrays)}"
        arrays[name] = np.asarray(value) if isinstance(value, np.ndarray) else np.float64(value)
        return {"__array__" if isinstance(value, np.ndarray) else "__float__": name}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"__dict__": {str(k): _encode(v, arrays) for k, v in value.items()}}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {
            f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)
        }
        return {"__dataclass__": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    raise TypeError(f"a checkpoint cannot hold a {type(value).__name__}")


def _dataclass(name):
    """The fastem dataclass ``module:qualname`` (nothing outside fastem is imported)."""
    module, _, qualname = name.partition(":")
    if module != "fastem" and not module.startswith("fastem."):
        raise CheckpointError(f"the checkpoint names a class outside fastem: {name!r}")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise CheckpointError(f"the checkpoint names {name!r}, which is not a state class")
    return cls


def _decode(value, arrays):
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        return arrays[value["__array__"]]
    if "__float__" in value:
        return float(arrays[value["__float__"]])
    if "__tuple__" in value:
        return tuple(_decode(v, arrays) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, arrays) for k, v in value["__dict__"].items()}
    if "__dataclass__" in value:
        cls = _dataclass(value["__dataclass__"])
        return cls(**{k: _decode(v, arrays) for k, v in value["fields"].items()})
    raise CheckpointError(f"unknown entry in the checkpoint: {sorted(value)}")


def rng_state(random_state):
    """The exact state of a ``RandomState`` (a tuple the checkpoint stores)."""
    return random_state.get_state(legacy=True)


def set_rng_state(random_state, state):
    """Put a ``RandomState`` back into a state from :func:`rng_state`."""
    kind, keys, pos, has_gauss, cached = state
    random_state.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def read(path):
    """``(header, state)`` of the checkpoint at ``path``.

    Raises
    ------
    CheckpointError
        If the file is not a fastem checkpoint, is damaged, or has another format.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            members = {name: data[name] for name in data.files}
        version = int(members[_MAGIC])
        meta = json.loads(str(members["__meta__"]))
    except (OSError, ValueError, KeyError, TypeError, EOFError, AttributeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CheckpointError(
            f"{path} is not a fastem checkpoint, or it is damaged ({type(exc).__name__}: "
            f"{exc}); delete it, or fit with resume=False, to start over"
        ) from None
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is a checkpoint of format {version}; this fastem ({__version__}) "
            f"resumes format {FORMAT_VERSION}. Delete it, or fit with resume=False."
        )
    try:
        return meta["header"], _decode(meta["state"], members)
    except (KeyError, TypeError, ValueError, AttributeError, ImportError) as exc:
        raise CheckpointError(
            f"{path} is a damaged fastem checkpoint ({type(exc).__name__}: {exc}); delete "
            "it, or fit with resume=False, to start over"
        ) from None


def _differences(saved, current, prefix=""):
    """``name: saved vs current`` for every entry that differs (nested dicts flattened)."""
    found = []
    for name in sorted(set(saved) | set(current)):
        a, b = saved.get(name, "(absent)"), current.get(name, "(absent)")
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{name}.")
        elif a != b and name in ("rows", "sample_weight"):
            found.append(f"{prefix}{name}: the sampled values differ")
        elif a != b:
            found.append(f"{prefix}{name}: {a!r} in the checkpoint, {b!r} now")
    return found


_WHAT = {
    "class": "another estimator",
    "fastem": "another fastem version",
    "fit": "other fit arguments",
    "params": "other estimator parameters",
    "data": "other data",
    "start": "another starting model (warm_start)",
}


class Checkpoint:
    """The checkpoint file of one fit.

    Parameters
    ----------
    path : str or os.PathLike
        The file (written exactly as named; its directory must exist).
    every : float, default=0.0
        Least seconds between two writes; 0 writes after every iteration.
    resume : bool, default=True
        Continue from an existing file; False ignores it (and overwrites it).
    keep : bool, default=False
        Keep the file, holding the final state, when the fit completes
        (rerunning the fit then returns at once); otherwise it is removed.
    """

    def __init__(self, path, every=0.0, resume=True, keep=False):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a path, got {type(path).__name__}")
        if not (isinstance(every, numbers.Real) and every >= 0 and np.isfinite(every)):
            raise ValueError(f"checkpoint_every must be a number of seconds >= 0, got {every!r}")
        self.path = Path(os.fspath(path))
        if not self.path.parent.is_dir():
            raise FileNotFoundError(
                2, "the directory of the checkpoint does not exist", str(self.path.parent)
            )
        if self.path.is_dir():
            raise IsADirectoryError(21, "the checkpoint must be a file path", str(self.path))
        self.every = float(every)
        self.resume = bool(resume)
        self.keep = bool(keep)
        self.header = None
        self.resumed = False
        self._last = time.monotonic()

    def start(self, header):
        """Record this fit's ``header``; return the saved state to resume, or None.

        Raises
        ------
        CheckpointMismatchError
            If the file was made by another fit; the message names what differs.
        """
        self.header = header
        for stale in _io.temporary_files(self.path):
            # Left by a write that was interrupted (the checkpoint itself is intact).
            try:
                stale.unlink()
            except OSError:
                pass
        if not (self.resume and self.path.exists()):
            return None
        saved, state = read(self.path)
        problems = []
        for key, what in _WHAT.items():
            a, b = saved.get(key), header.get(key)
            if a == b or (problems and key == "params" and saved.get("class") != header["class"]):
                continue  # (another estimator's parameters differ anyway)
            if isinstance(a, dict) and isinstance(b, dict):
                details = "; ".join(_differences(a, b))
            else:
                details = f"{a!r} in the checkpoint, {b!r} now"
            problems.append(f"{what} ({details})")
        if problems:
            raise CheckpointMismatchError(
                f"The checkpoint {self.path} was made by another fit, so it is not resumed: "
                + "; ".join(problems)
                + ". Delete it, fit with resume=False to start over, or use another "
                "checkpoint path."
            )
        self.resumed = True
        return state

    def save(self, make_state, force=False):
        """Write ``make_state()`` unless the last write is under ``every`` seconds old."""
        now = time.monotonic()
        if not force and self.every > 0 and now - self._last < self.every:
            return
        self.write(make_state())
        self._last = time.monotonic()

    def write(self, state):
        """Write ``state`` (and the header) atomically."""
        arrays = {}
        meta = {"header": self.header, "state": _encode(state, arrays)}
        arrays[_MAGIC] = np.asarray(FORMAT_VERSION, dtype=np.int64)
        arrays["__meta__"] = np.asarray(json.dumps(meta, allow_nan=False))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getbuffer()
        half = len(data) // 2

        def write(f):
            f.write(data[:half])
            f.flush()
            test_hook("checkpoint-write")
            f.write(data[half:])

        _io.write_atomically(self.path, write, what="checkpoint")
        test_hook("checkpoint-written")

    def finish(self, make_state):
        """The fit completed: keep the final state (``keep``) or remove the file."""
        if self.keep:
            self.write(make_state())
        else:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        for stale in _io.temporary_files(self.path):
            try:
                stale.unlink()
            except OSError:
                pass


# -- transactions ------------------------------------------------------------------------
@contextlib.contextmanager
def transaction(estimator):
    """Undo every change to ``estimator`` if the block raises (KeyboardInterrupt included).

    A fit computes into locals and sets its fitted attributes at the end; this
    also covers what validation sets on the way (``n_features_in_``) and what
    online EM keeps (``_online``), and puts a ``RandomState`` passed as
    ``random_state`` back into the state it had: a failed or interrupted fit
    leaves the estimator exactly as before the call.
    """
    saved = {}
    for name, value in vars(estimator).items():
        private_or_fitted = name.startswith("_") or name.endswith("_")
        if private_or_fitted and isinstance(value, (list, dict)):
            value = copy.copy(value)  # fitted lists and dicts may be changed in place
        saved[name] = value
    random_state = getattr(estimator, "random_state", None)
    state = rng_state(random_state) if isinstance(random_state, np.random.RandomState) else None
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        if state is not None:
            set_rng_state(random_state, state)
        raise
