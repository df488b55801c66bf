"""
Fit a Gaussian mixture and draw its components
==============================================

Three elongated clusters in the plane, fitted with ``covariance_type="full"``.
:func:`fastem.plot.components` colours every row by its most probable component and
draws each component's ellipses at 1, 2 and 3 standard deviations;
:func:`fastem.plot.convergence` shows the mean log-likelihood at every EM iteration,
which never decreases.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastem import GaussianMixture, plot

rng = np.random.default_rng(0)
means = np.array([[0.0, 0.0], [6.0, 2.0], [2.0, 7.0]])
covariances = np.array(
    [[[2.0, 1.2], [1.2, 1.0]], [[1.0, -0.6], [-0.6, 0.8]], [[0.5, 0.0], [0.0, 2.5]]]
)
sizes = [1500, 1000, 500]
X = np.vstack(
    [rng.multivariate_normal(m, c, n) for m, c, n in zip(means, covariances, sizes, strict=True)]
)

gm = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)
print("weights  ", gm.weights_.round(3))
print("means\n", gm.means_.round(2))
print(f"converged after {gm.n_iter_} iterations, mean log-likelihood {gm.score(X):.4f}")

# %%
# The fitted components next to the data, and the log-likelihood per iteration.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
plot.components(gm, X, ax=left)
left.set_title("components (1, 2, 3 standard deviations)")
plot.convergence(gm, ax=right)
right.set_title("EM convergence")
fig.tight_layout()
plt.show()
