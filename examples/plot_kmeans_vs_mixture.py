"""
K-means against the Gaussian mixture on the same data
=====================================================

k-means is the hard, equal-spherical-covariance limit of a Gaussian mixture: each row
goes to its nearest centre. On stretched clusters of different sizes that is the
wrong geometry, and a mixture with full covariances recovers the clusters that
k-means cuts across. :class:`fastem.KMeans` (scikit-learn's k-means on fastem's
kernels, also the initialisation of the mixture) and :class:`fastem.GaussianMixture`
are fitted to the same rows.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score

from fastem import GaussianMixture, KMeans

rng = np.random.default_rng(3)
stretch = np.array([[0.6, -0.6], [-0.4, 0.85]])
X = np.vstack(
    [
        rng.normal(size=(1500, 2)) @ stretch * 2.0 + [0.0, 0.0],
        rng.normal(size=(700, 2)) @ stretch * 1.2 + [3.0, 2.5],
        rng.normal(size=(300, 2)) * 0.5 + [5.0, -2.0],
    ]
)
truth = np.repeat([0, 1, 2], [1500, 700, 300])

km = KMeans(n_clusters=3, random_state=0).fit(X)
gm = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)
results = {"k-means": km.labels_, "Gaussian mixture (full)": gm.predict(X)}
for name, labels in results.items():
    print(f"{name:24s} adjusted Rand index {adjusted_rand_score(truth, labels):.3f}")
print(f"k-means inertia {km.inertia_:.1f} after {km.n_iter_} Lloyd iterations")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
for ax, (name, labels) in zip(axes, results.items(), strict=True):
    ax.scatter(X[:, 0], X[:, 1], c=labels, s=4, cmap="viridis")
    ax.set_title(f"{name}: ARI {adjusted_rand_score(truth, labels):.2f}")
axes[0].scatter(*km.cluster_centers_.T, marker="x", s=80, color="red", label="centres")
axes[1].scatter(*gm.means_.T, marker="x", s=80, color="red", label="means")
for ax in axes:
    ax.legend(loc="upper left")
fig.tight_layout()
plt.show()
