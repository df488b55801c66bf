"""Thread control: Numba threads for the kernels, BLAS held at one thread.

The fused kernels call BLAS from inside ``prange`` threads; BLAS threads on top
of them oversubscribe the cores, so for the
duration of a kernel call BLAS is limited to one thread.  Numba's ``np.dot``
calls the OpenBLAS bundled with SciPy, not NumPy's, so SciPy's BLAS is loaded
before threadpoolctl looks for libraries to limit.
"""

import threading
from contextlib import contextmanager
from functools import lru_cache

import numba
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS that numba's np.dot uses)
from threadpoolctl import ThreadpoolController

from ._settings import settings

# Thread count of the innermost active ``kernel_threads`` (numba.get_num_threads
# is costly enough to add up over the many small calls of a small fit).
_active = threading.local()


@lru_cache(maxsize=1)
def _controller():
    # Scanning the loaded libraries is slow; once per process is enough.
    return ThreadpoolController()


def resolve_n_jobs(n_jobs):
    """Number of kernel threads for ``n_jobs`` (None or -1 = all, -2 = all but one).

    Parameters
    ----------
    n_jobs : int or None
        scikit-learn's convention.

    Returns
    -------
    int
        Between 1 and the number of threads Numba was started with.
    """
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return available
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None or -1 for all cores.")
    if n_jobs < 0:
        return max(1, available + 1 + n_jobs)
    return min(int(n_jobs), available)


@contextmanager
def kernel_threads(n_jobs, n_rows=None):
    """Run the enclosed kernels on ``n_jobs`` Numba threads with single-threaded BLAS.

    Parameters
    ----------
    n_jobs : int or None
        See :func:`resolve_n_jobs`.
    n_rows : int, optional
        Rows the enclosed work reads per kernel call at most. Fewer threads are
        started when there are fewer row groups than threads: a parallel region
        waits for every thread it started, and on a busy machine a thread that
        has nothing to do can still cost a scheduler time slice per call.

    Yields
    ------
    int
        The number of threads in use (also the number of row groups).
    """
    n_threads = resolve_n_jobs(n_jobs)
    if n_rows is not None:
        n_threads = max(1, min(n_threads, n_rows // settings.min_rows_per_group))
    previous = numba.get_num_threads()
    outer = getattr(_active, "n_threads", None)
    numba.set_num_threads(n_threads)
    _active.n_threads = n_threads
    try:
        with _controller().limit(limits=1, user_api="blas"):
            yield n_threads
    finally:
        _active.n_threads = outer
        numba.set_num_threads(previous)


def row_groups(n_rows):
    """Number of row groups for a kernel call over ``n_rows`` rows.

    One group per kernel thread, fewer for small inputs. The groups fix the
    order of the float64 sums, so results depend on this number only through
    round-off.
    """
    n_threads = getattr(_active, "n_threads", None) or numba.get_num_threads()
    return max(1, min(n_threads, n_rows // settings.min_rows_per_group))
