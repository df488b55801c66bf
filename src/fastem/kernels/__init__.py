"""Numba kernels: pure functions over arrays, no fastem imports, no Python objects."""
