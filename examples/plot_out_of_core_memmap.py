"""
Out-of-core fit from a memory map, with a progress bar
======================================================

``fit`` reads anything that holds rows in chunks of ``chunk_size`` rows. With exact EM
(the default) every iteration is one pass over the chunks, the sufficient statistics
are summed, and the result equals the in-memory fit to round-off, while private memory
stays at a couple of chunks. Here the rows live in a ``.npy`` file, memory-mapped
read-only; ``progress=True`` shows a tqdm bar with rows per second and the current mean
log-likelihood. A path to the ``.npy`` file, or a function returning an iterator of
chunks, works the same way.
"""

import contextlib
import io
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from fastem import GaussianMixture, plot

rng = np.random.default_rng(0)
centres = rng.normal(0, 1.5, size=(4, 6))
rows = np.vstack([rng.normal(c, 1.0, size=(15_000, 6)) for c in centres])
rng.shuffle(rows)

directory = tempfile.TemporaryDirectory()
path = Path(directory.name) / "rows.npy"
np.save(path, rows)
X = np.load(path, mmap_mode="r")  # read-only, never copied whole
print(type(X).__name__, X.shape, X.dtype)

# %%
# The fit reads 10,000 rows at a time. tqdm redraws its bar on standard error; here it
# is captured, and its last state printed, so that the bar appears in this page.
gm = GaussianMixture(4, chunk_size=10_000, progress=True, random_state=0)
bar = io.StringIO()
with contextlib.redirect_stderr(bar):
    gm.fit(X)
print(bar.getvalue().rstrip().split("\r")[-1])
print(f"{gm.n_iter_} iterations, converged: {gm.converged_}")

# %%
# The fitted components over a sample of the memory-mapped rows (the first two of six
# features), and the mean log-likelihood at every pass.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
plot.components(gm, X, dims=(0, 1), ax=left, max_points=3000)
left.set_title("components (features 0 and 1)")
plot.convergence(gm, ax=right)
right.set_title("one pass over the chunks per iteration")
fig.tight_layout()
plt.show()

# %%
# The same fit in memory, and from a function that returns a new iterator of chunks
# every pass (a generator alone could be read only once).
in_memory = GaussianMixture(4, random_state=0).fit(np.asarray(rows))


def chunks():
    rows_on_disk = np.load(path, mmap_mode="r")
    for start in range(0, len(rows_on_disk), 12_500):
        yield rows_on_disk[start : start + 12_500]


from_callable = GaussianMixture(4, random_state=0).fit(chunks)
for name, model in [("in memory", in_memory), ("callable", from_callable)]:
    difference = np.abs(model.means_ - gm.means_).max()
    print(f"{name:10s} largest difference of the means from the memmap fit: {difference:.2e}")
directory.cleanup()
