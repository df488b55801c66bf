"""Settings for the whole test run, read before any test module imports Numba."""

import os

# Under pytest-xdist every worker starts its own Numba thread pool. The cores
# are shared between the workers (at least two threads each, so that the tests
# of thread-count independence still run on two threads) instead of every
# worker starting one thread per core.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ and "NUMBA_NUM_THREADS" not in os.environ:
    _workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ["NUMBA_NUM_THREADS"] = str(max(2, (os.cpu_count() or 2) // _workers))
