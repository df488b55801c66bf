"""Named tunables of fastem, in one place, with an override for tests and benchmarks.

Every size, threshold and kernel choice that is not a user-facing estimator
parameter lives here. Modules read them at call time (``settings.NAME``), so
:func:`override` changes them for the code it encloses::

    from fastem._settings import override

    with override(matmul_path="blas"):
        GaussianMixture(4).fit(X)  # every fit kernel multiplies with BLAS

The kernel path can also be forced for a whole process with the environment
variable ``FASTEM_MATMUL_PATH`` (``auto``, ``loops``, ``blas``, ``tiled`` or
``tiled4``), and float32 blocks with ``FASTEM_FLOAT32_BLOCKS`` (``auto``,
``always`` or ``never``), both read once at import.

This module imports nothing of fastem: the kernels receive these values as
arguments, never read them.
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

#: Values of :attr:`Settings.matmul_path`.
MATMUL_PATHS = ("auto", "loops", "blas", "tiled", "tiled4")

#: Values of :attr:`Settings.float32_blocks`.
FLOAT32_BLOCKS = ("auto", "always", "never")


@dataclass
class Settings:
    """The tunables; one instance, :data:`~fastem._settings.settings`, is read by the package.

    Each parameter is also the attribute of the same name.

    Parameters
    ----------
    float32_blocks : {"auto", "always", "never"}
        Whether float32 rows run the fused Gaussian E-step in float32 blocks
        (float32 products and exponentials, float64 sums over blocks).
        "auto": where it keeps float32's accuracy (see
        ``float32_block_max_offset``) and the product path has float32 tiles;
        "always"/"never" force it (for tests and benchmarks).
    float32_block_max_offset : float
        Largest squared distance ``|(mu_k - shift) U_k|^2`` of a component's
        mean from the data centre, in the component's own metric, at which
        "auto" takes float32 blocks: the log-densities and second moments of a
        float32 block carry about that many float32 roundings (4096 of them,
        about 2.4e-4 relative, stays at the float32 reference tolerance).
    matmul_path : {"auto", "loops", "blas", "tiled", "tiled4"}
        How the fit kernels multiply their blocks. "auto" picks for the CPU
        and the product's size; the others force a path. "tiled" is the
        register tiles of eight float64 lanes (fastest with AVX-512's 32 zmm
        registers), "tiled4" those of 256-bit vectors (four float64 lanes,
        fastest with AVX2 + FMA's 16 ymm registers). Every path is correct on
        every CPU (LLVM splits or emulates what a CPU lacks), so each can be
        tested anywhere.
    gaussian_block_rows : int
        Rows per cache-resident block of the Gaussian kernels.
    kmeans_block_rows : int
        Rows per block of the k-means kernels.
    bernoulli_block_elements : int
        Elements (rows x features) per block of the dense Bernoulli kernels;
        about 1 MiB of float64 keeps a block in L2 beside BLAS's panels.
    bernoulli_min_group_work : int
        Multiply-adds below which a Bernoulli kernel call uses fewer threads
        (waking a thread costs tens of microseconds).
    missing_pattern_rows : int
        Rows of one missingness pattern (within a row group's share of a
        chunk) from which a full-covariance E-step takes them through the
        block products with the pattern's marginal weights; rarer patterns
        go row by row.
    categorical_table_bytes : int
        Size cap of the (components x joint states) float64 table of a group
        of adjacent categorical columns that the tabular kernel reads as one
        code (one lookup and one scatter per row for the whole group); a cap
        below two columns' table (e.g. 1) reads every column alone.
    min_rows_per_group : int
        Rows below which another kernel thread costs more than it saves.
    seeding_sample_rows : int
        Rows that k-means++ seeding draws from; larger inputs are sampled
        uniformly first.
    random_init_rows : int
        Rows of random responsibilities drawn at a time by ``init_params="random"``.
    validation_elements : int
        Elements examined at a time by input checks (bounds their temporaries).
    chunk_bytes : int
        Bytes per chunk of an out-of-core source when ``chunk_size`` is None.
    dask_rechunk_warn_bytes : int
        Merging a Dask array's column blocks above this size warns.
    """

    matmul_path: str = "auto"
    float32_blocks: str = "auto"
    float32_block_max_offset: float = 4096.0
    gaussian_block_rows: int = 256
    kmeans_block_rows: int = 1024
    bernoulli_block_elements: int = 1 << 17
    bernoulli_min_group_work: int = 1 << 20
    missing_pattern_rows: int = 8
    categorical_table_bytes: int = 65536
    min_rows_per_group: int = 16384
    seeding_sample_rows: int = 131072
    random_init_rows: int = 65536
    validation_elements: int = 1 << 22
    chunk_bytes: int = 64 * 2**20
    dask_rechunk_warn_bytes: int = 256 * 2**20

    def __post_init__(self):
        if self.matmul_path not in MATMUL_PATHS:
            raise ValueError(
                f"matmul_path must be one of {MATMUL_PATHS}, got {self.matmul_path!r}."
            )
        if self.float32_blocks not in FLOAT32_BLOCKS:
            raise ValueError(
                f"float32_blocks must be one of {FLOAT32_BLOCKS}, got {self.float32_blocks!r}."
            )
        if not self.float32_block_max_offset >= 0:
            raise ValueError(
                "float32_block_max_offset must be a non-negative number, got "
                f"{self.float32_block_max_offset!r}."
            )
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type is int and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{f.name} must be a positive integer, got {value!r}.")


def _from_environment():
    values = {}
    for name, allowed in (("matmul_path", MATMUL_PATHS), ("float32_blocks", FLOAT32_BLOCKS)):
        variable = f"FASTEM_{name.upper()}"
        value = os.environ.get(variable, "auto").strip().lower() or "auto"
        if value not in allowed:
            raise ValueError(f"{variable} must be one of {', '.join(allowed)}, got {value!r}.")
        values[name] = value
    return Settings(**values)


#: The settings in force.
settings = _from_environment()


@contextmanager
def override(**changes):
    """Change settings for the enclosed code, restoring them afterwards.

    Parameters
    ----------
    **changes
        Attribute names of :class:`~fastem._settings.Settings` and their values.

    Yields
    ------
    Settings
        The settings in force inside the block.
    """
    unknown = set(changes) - {f.name for f in fields(Settings)}
    if unknown:
        raise TypeError(f"Unknown fastem settings: {', '.join(sorted(unknown))}.")
    saved = replace(settings)
    new = replace(settings, **changes)  # validates
    for name in changes:
        setattr(settings, name, getattr(new, name))
    try:
        yield settings
    finally:
        for f in fields(Settings):
            setattr(settings, f.name, getattr(saved, f.name))
