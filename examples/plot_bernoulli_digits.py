"""
Bernoulli mixture on binarised digits
=====================================

scikit-learn's 8 x 8 handwritten digits, each pixel thresholded to 0/1, fitted with a
:class:`fastem.BernoulliMixture` of 10 components. Each component's ``means_`` is the
probability that each pixel is on, so it can be drawn as an image: most components
look like one digit. The digit labels are not used by the fit; the table compares the
components with them afterwards.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from fastem import BernoulliMixture

digits = load_digits()
# Pixel intensities run from 0 to 16; binarize=7.0 turns on the pixels above 7.
bm = BernoulliMixture(n_components=10, binarize=7.0, n_init=3, random_state=0)
labels = bm.fit_predict(digits.data)
print(f"{digits.data.shape[0]} images, {bm.n_iter_} EM iterations, BIC {bm.bic(digits.data):.0f}")
ari = adjusted_rand_score(digits.target, labels)
print(f"adjusted Rand index against the digit labels: {ari:.3f}")

# %%
# The component means as images, with the weight of each component and the digit most
# of its images show.
order = np.argsort(-bm.weights_)
fig, axes = plt.subplots(2, 5, figsize=(10, 4.6))
for ax, k in zip(axes.ravel(), order, strict=True):
    ax.imshow(bm.means_[k].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    members = digits.target[labels == k]
    common = np.bincount(members, minlength=10).argmax() if members.size else -1
    ax.set_title(f"w={bm.weights_[k]:.2f}, mostly {common}")
    ax.set_axis_off()
fig.tight_layout()
plt.show()
