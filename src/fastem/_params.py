"""What the estimators share besides code: the parameters' documentation and checks."""

import numpy as np


def fitted_array(value, dtype=np.float64):
    """A fitted attribute as the kernels take it: C-contiguous ``dtype``, writable.

    A fitted attribute can be read-only: a model loaded by joblib with
    ``mmap_mode`` (as scikit-learn's ``check_estimators_pickle`` does), or one a
    user froze. Numba compiles a read-only array as another type, so passing it
    on would compile the kernels once more for the loaded model (seconds per
    kernel); a read-only one is copied instead (parameters are small).

    Parameters
    ----------
    value : array-like
        The attribute.
    dtype : dtype, default=np.float64
        The kernels' type.

    Returns
    -------
    ndarray
        ``value`` itself where it already is a writable C-contiguous ``dtype`` array.
    """
    a = np.ascontiguousarray(value, dtype=dtype)
    return a if a.flags.writeable else a.copy()


#: numpydoc text of the parameters every mixture shares; estimators' docstrings
#: hold ``%(shared_parameters)s`` where it goes (see :func:`fill_shared_doc`).
SHARED_PARAMETERS_DOC = """\
tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood per sample.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best result is kept (the highest
        lower bound, the first of equal ones). The restarts advance together:
        every pass over the data (the initialisation's and EM's) serves all
        restarts still iterating, so out-of-core data is read about as often
        as for the slowest restart alone, and each restart is exactly the one
        fitted alone from the same draws.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of :meth:`sample`.
    warm_start : bool, default=False
        Continue from the fitted parameters on the next :meth:`fit`.
    verbose : int, default=0
        Print progress (1: iterations, 2: with timings and changes). With
        ``n_init > 1`` each restart's lines are printed, in restart order,
        once it has ended (timings are those of the shared passes).
    verbose_interval : int, default=10
        Iterations between two progress lines.
    n_jobs : int, default=None
        Kernel threads; None or -1 uses every core.
    chunk_size : int, default=None
        Rows read at once from out-of-core sources (memory maps, ``.npy``
        paths, HDF5/zarr datasets, iterables); None picks about 64 MiB of
        rows. In-memory arrays are one chunk unless this is set.
    decay : float, default=0.7
        Exponent of the step size ``(t + 2) ** -decay`` of online EM
        (:meth:`partial_fit`, ``fit(mode="online")``); in (0.5, 1].
    progress : bool, default=False
        Show a progress bar (tqdm, on standard error) with rows/s and the
        current mean log-likelihood during :meth:`fit`.
    callback : callable, default=None
        ``callback(iteration, lower_bound)`` after every EM iteration (online:
        every mini-batch); return True to stop early. With ``n_init > 1`` it
        is called after every pass once per restart that iterated in it, in
        restart order, with that restart's iteration and bound; True stops
        that restart."""


def fill_shared_doc(cls):
    """Class decorator: put :data:`SHARED_PARAMETERS_DOC` into ``cls.__doc__``."""
    if cls.__doc__:
        cls.__doc__ = cls.__doc__.replace("%(shared_parameters)s", SHARED_PARAMETERS_DOC)
    return cls


def check_weights(weights, n_components):
    """``weights_init`` validated as scikit-learn does: shape (K,), in [0, 1], summing to 1."""
    given = np.asarray(weights)
    atol = 1e-6 if given.dtype == np.float32 else 1e-8
    weights = given.astype(np.float64)
    if weights.shape != (n_components,):
        raise ValueError(
            f"The parameter 'weights' should have the shape of {(n_components,)}, "
            f"but got {weights.shape}"
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(weights > 1):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got max value "
            f"{np.max(weights):.5f}, min value {np.min(weights):.5f}"
        )
    if not np.allclose(abs(1.0 - weights.sum()), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, but got "
            f"sum(weights) = {weights.sum():.5f}"
        )
    return weights
