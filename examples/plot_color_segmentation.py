"""
Colour segmentation of a photo
==============================

Every pixel is a point in RGB space. A Gaussian mixture fitted to a sample of the
pixels groups the colours; giving every pixel the mean colour of its most probable
component reduces the photo to ``K`` colours (what ``fastem segment`` does on the
command line). The photo is scikit-learn's bundled ``china.jpg``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_image

from fastem import GaussianMixture

image = load_sample_image("china.jpg")  # (427, 640, 3) uint8
pixels = image.reshape(-1, 3) / 255.0  # float64 in [0, 1]

rng = np.random.default_rng(0)
sample = pixels[rng.choice(len(pixels), size=20_000, replace=False)]
gm = GaussianMixture(n_components=8, covariance_type="full", random_state=0).fit(sample)
labels = gm.predict(pixels)
segmented = gm.means_[labels].reshape(image.shape)
print(f"{len(pixels):,} pixels, fitted on {len(sample):,}, {gm.n_iter_} EM iterations")
for k in np.argsort(-gm.weights_):
    r, g, b = (255 * gm.means_[k]).round().astype(int)
    print(f"component {k}: weight {gm.weights_[k]:.3f}  colour #{r:02x}{g:02x}{b:02x}")

# %%
# Before and after.
fig, (before, after) = plt.subplots(1, 2, figsize=(11, 4))
before.imshow(image)
before.set_title("before")
after.imshow(np.clip(segmented, 0, 1))
after.set_title("after, K = 8")
for ax in (before, after):
    ax.set_axis_off()
fig.tight_layout()
plt.show()
