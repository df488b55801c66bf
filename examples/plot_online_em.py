"""
Online (stepwise) EM on a stream
================================

For data that arrive in mini-batches and are read once, ``partial_fit`` blends each
batch's sufficient statistics into running ones with step ``(t + 2) ** -decay`` and
takes an M-step. The mean log-likelihood on held-out rows approaches that of the
exact (batch) fit within a fraction of one pass over the data.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastem import GaussianMixture

rng = np.random.default_rng(0)
centres = rng.normal(0, 4, size=(5, 3))


def draw(n):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + rng.normal(size=(n, 3))


held_out = draw(20_000)
exact = GaussianMixture(5, random_state=0).fit(draw(100_000))

online = GaussianMixture(5, decay=0.7, random_state=0)
scores = []
for _ in range(60):  # 60 mini-batches of 1,000 rows, each seen once
    online.partial_fit(draw(1_000))
    scores.append(online.score(held_out))
print(f"exact EM:  {exact.score(held_out):.4f} per row on held-out data")
print(f"online EM: {scores[-1]:.4f} after {len(scores)} batches of 1,000 rows")

# %%
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(np.arange(1, len(scores) + 1), scores, label="online EM (partial_fit)")
ax.axhline(exact.score(held_out), color="black", linestyle="--", label="exact EM")
ax.set_xlabel("mini-batches of 1,000 rows")
ax.set_ylabel("held-out mean log-likelihood")
ax.set_ylim(exact.score(held_out) - 1.0, exact.score(held_out) + 0.2)
ax.legend()
fig.tight_layout()
plt.show()
