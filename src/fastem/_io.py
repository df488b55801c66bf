"""Saving and loading fitted mixtures as portable ``.npz`` files.

A model file is an ordinary NumPy ``.npz`` archive that ``np.load(path,
allow_pickle=False)`` reads: nothing in it is executed on loading, unlike a
pickle. It holds

- ``__fastem__``: the format version (an integer),
- ``__fastem_version__``, ``__class__``: the writing fastem and the estimator class,
- ``__meta__``: JSON with the constructor parameters and the type of every
  fitted attribute,
- ``param.NAME``: array-valued constructor parameters (``means_init`` and friends),
- ``attr.NAME``: every fitted attribute (public name ending in ``_``).
"""

import errno
import json
import numbers
import os
import secrets
import warnings
from pathlib import Path

import numpy as np

from ._version import __version__

FORMAT_VERSION = 1
"""Version of the file layout; bumped on changes an older fastem cannot read."""

_MAGIC = "__fastem__"
_PARAM = "param."
_ATTR = "attr."
# Estimator classes by name, filled by register_estimator.
_ESTIMATORS = {}


def _encode_param(name, value, arrays):
    """JSON-able form of one constructor parameter; arrays go to ``arrays``."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_, numbers.Integral)):
        return value.item() if isinstance(value, np.generic) else int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        # JSON proper has no inf or nan; a tagged string keeps the file portable.
        return value if np.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.random.RandomState):
        # The generator's exact state, so that sample() after loading draws what
        # the saved estimator would have drawn next.
        kind, keys, pos, has_gauss, cached = value.get_state(legacy=True)
        arrays[_PARAM + name] = np.asarray(keys)
        return {
            "__random_state__": kind,
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        }
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"parameter {name!r} is not numeric: {value!r}")
        arrays[_PARAM + name] = array
        return {"__array__": type(value).__name__}
    hint = f"; set_params({name}=None) before saving" if callable(value) else ""
    raise TypeError(
        f"cannot save parameter {name!r} of type {type(value).__name__}: "
        f"a fastem model file holds numbers, strings, None and numeric arrays only{hint}"
    )


def _decode_param(name, value, arrays):
    if isinstance(value, dict) and "__float__" in value:
        return float(value["__float__"])
    if isinstance(value, dict):
        array = arrays[_PARAM + name]
        if "__random_state__" in value:
            state = np.random.RandomState()
            state.set_state(
                (
                    value["__random_state__"],
                    array.astype(np.uint32),
                    value["pos"],
                    value["has_gauss"],
                    value["cached_gaussian"],
                )
            )
            return state
        if value["__array__"] in ("list", "tuple"):
            return array.tolist() if value["__array__"] == "list" else tuple(array.tolist())
        return array
    return value


def _attribute_kind(value):
    """How a fitted attribute is stored, or None if it cannot be."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biufc":
            return "ndarray"
        if value.dtype == object and all(isinstance(v, str) for v in value.flat):
            # feature_names_in_ is an object array of strings in scikit-learn.
            return "str_ndarray"
        return None
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, np.generic) and value.dtype.kind in "iuf":
        return "numpy_scalar"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, list) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value
    ):
        return "list"
    return None


def _restore_attribute(kind, array):
    if kind == "ndarray":
        return array
    if kind == "str_ndarray":
        return array.astype(object)
    if kind == "bool":
        return bool(array)
    if kind == "numpy_scalar":
        return array[()]
    if kind == "int":
        return int(array)
    if kind == "float":
        return float(array)
    if kind == "list":
        return array.tolist()
    raise ValueError(f"unknown attribute kind {kind!r}")


def _fitted_attributes(estimator):
    """Public instance attributes ending in ``_`` (scikit-learn's fitted state)."""
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def save(estimator, path):
    """Save a fastem mixture (fitted or not) to a portable ``.npz`` file.

    The file is written under a temporary name in the same directory, fsynced
    and renamed into place (see :func:`write_atomically`), so an interrupted
    save, a full disk or a read-only directory never leaves a truncated model
    behind and never damages an existing file of that name.

    Parameters
    ----------
    estimator : fastem mixture
        A :class:`fastem.GaussianMixture`, :class:`fastem.BernoulliMixture`
        or another subclass of fastem's mixture base.
    path : str or os.PathLike
        Destination, written exactly as given (no extension is appended).

    Raises
    ------
    TypeError
        If ``estimator`` is not a fastem mixture, or a parameter cannot be
        stored without pickling (for instance a custom object).
    OSError
        If the destination cannot take the file (no space left, read-only
        directory, permissions); the message says so, and any existing file
        is unchanged.
    """
    if _ESTIMATORS.get(type(estimator).__name__) is not type(estimator):
        raise TypeError(f"save() expects a fastem mixture, got {type(estimator).__name__}")
    arrays = {}
    params = {
        name: _encode_param(name, value, arrays)
        for name, value in estimator.get_params(deep=False).items()
    }
    attributes = {}
    for name, value in _fitted_attributes(estimator).items():
        kind = _attribute_kind(value)
        if kind is None:
            warnings.warn(
                f"fitted attribute {name!r} of type {type(value).__name__} is not saved",
                UserWarning,
                stacklevel=2,
            )
            continue
        attributes[name] = kind
        array = np.asarray(value)
        arrays[_ATTR + name] = array.astype(str) if kind == "str_ndarray" else array
    meta = {"params": params, "attributes": attributes}
    arrays[_MAGIC] = np.asarray(FORMAT_VERSION, dtype=np.int64)
    arrays["__fastem_version__"] = np.asarray(__version__)
    arrays["__class__"] = np.asarray(type(estimator).__name__)
    arrays["__meta__"] = np.asarray(json.dumps(meta, allow_nan=False))

    write_atomically(path, lambda f: np.savez_compressed(f, **arrays), what="model file")


#: Errors of writing a file that say what is wrong with the destination, not with fastem.
_DESTINATION_ERRORS = {
    getattr(errno, name): reason
    for name, reason in (
        ("ENOSPC", "no space left on the device"),
        ("EDQUOT", "disk quota exceeded"),
        ("EROFS", "the file system is read-only"),
        ("EACCES", "permission denied (is the directory writable?)"),
        ("EPERM", "operation not permitted (is the directory writable?)"),
        ("EFBIG", "the file is too large for the file system"),
    )
    if hasattr(errno, name)
}


def _temporary_name(path):
    """A fresh hidden name next to ``path`` (same directory, hence same file system)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def temporary_files(path):
    """Temporary files that interrupted writes of ``path`` left behind."""
    path = Path(os.fspath(path))
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot
    be opened, e.g. on Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(path, write, *, what="file", before_rename=None):
    """Write ``path`` so that it holds either its old content or the complete new one.

    ``write(f)`` writes into a temporary file in the same directory, which is
    flushed and fsynced, renamed over ``path`` and the directory fsynced: a
    crash, a full disk or a read-only directory at any moment leaves the old
    file (or no file) in place, never a truncated one.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, written exactly as named.
    write : callable
        ``write(f)`` with ``f`` a binary file object.
    what : str, default="file"
        What the file is, for error messages ("model file", "checkpoint").
    before_rename : callable, optional
        Called between the fsync and the rename (a test hook).

    Raises
    ------
    FileNotFoundError
        If the directory does not exist.
    OSError
        Of the original type and ``errno``, with a message that names the
        destination and says that any existing file is unchanged, when the
        destination cannot take the file (full disk, quota, read-only or
        permissions).
    """
    path = Path(os.fspath(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such directory", str(path.parent))
    tmp = _temporary_name(path)
    try:
        # The permissions a plain open() would give (umask applies), not mkstemp's 0600.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.errno in _DESTINATION_ERRORS:
            unchanged = (
                "the existing file is unchanged" if path.exists() else "nothing was written"
            )
            raise type(exc)(
                exc.errno,
                f"cannot write the {what}: {_DESTINATION_ERRORS[exc.errno]}; {unchanged}",
                str(path),
            ) from exc
        raise
    _fsync_directory(path.parent)


def register_estimator(cls):
    """Let :func:`load` recreate estimators of class ``cls`` (called for every subclass
    of fastem's estimator base, so this module never imports the estimators)."""
    _ESTIMATORS[cls.__name__] = cls
    return cls


def _estimator_class(name):
    """The registered fastem estimator class called ``name``."""
    cls = _ESTIMATORS.get(name)
    if cls is None:
        raise ValueError(
            f"the model file holds a {name!r}, which this fastem ({__version__}) does not provide"
        )
    return cls


def _read_members(path):
    """Every member of the archive as an array, or a ValueError saying what is wrong."""
    # Opening is left to raise its own OSError (missing file, permissions); whatever
    # goes wrong after that is about the content.
    with open(path, "rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"
        f.seek(0)
        try:
            data = np.load(f, allow_pickle=False)
        except Exception as exc:
            if is_zip:
                raise ValueError(
                    f"{path} is a corrupted or truncated model file ({type(exc).__name__}: {exc})"
                ) from None
            raise ValueError(f"{path} is not a fastem model file (not an .npz archive)") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{path} is not a fastem model file (it holds a single NumPy array)")
        with data:
            if _MAGIC not in data.files:
                raise ValueError(
                    f"{path} is not a fastem model file (an .npz without fastem header)"
                )
            try:
                # Reading every member checks every CRC: corruption shows up here, as
                # one of several exception types (zlib, zipfile, struct, numpy).
                return {name: data[name] for name in data.files}
            except Exception as exc:
                raise ValueError(
                    f"{path} is a corrupted fastem model file ({type(exc).__name__}: {exc})"
                ) from None


def load(path):
    """Load an estimator saved by its ``save`` method, e.g. :meth:`fastem.GaussianMixture.save`.

    The file is read with ``allow_pickle=False``: loading a model file never
    runs code from it.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npz`` file written by fastem.

    Returns
    -------
    estimator : fastem mixture
        An estimator of the saved class with the saved constructor parameters
        and fitted attributes: ``predict``, ``score`` and ``sample`` give the
        results the saved one gave.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a fastem model, is corrupted or truncated, or was
        written in a newer format than this fastem reads.
    """
    members = _read_members(path)
    try:
        format_version = int(members[_MAGIC])
        writer = str(members["__fastem_version__"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is a corrupted fastem model file ({exc})") from None
    if format_version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by fastem {writer} in model format {format_version}; "
            f"this fastem ({__version__}) reads format {FORMAT_VERSION} and older: "
            "upgrade fastem to load it"
        )
    try:
        cls = _estimator_class(str(members["__class__"]))
        meta = json.loads(str(members["__meta__"]))
        params = {
            name: _decode_param(name, value, members) for name, value in meta["params"].items()
        }
        known = set(cls().get_params(deep=False))
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(
                f"parameters {unknown} are unknown to {cls.__name__} in this fastem "
                f"({__version__}); the file was written by fastem {writer}"
            )
        estimator = cls(**params)
        for name, kind in meta["attributes"].items():
            setattr(estimator, name, _restore_attribute(kind, members[_ATTR + name]))
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is a corrupted fastem model file ({exc!r})") from None
    return estimator
