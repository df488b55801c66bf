"""Small synthetic data sets shared by the test modules."""

import numpy as np


def make_blobs(n_samples=600, n_features=3, n_components=3, separation=6.0, seed=0):
    """Anisotropic Gaussian clusters of distinct sizes, rows shuffled.

    Returns ``X`` (n_samples, n_features) float64 and the true labels.
    """
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=separation, size=(n_components, n_features))
    sizes = rng.multinomial(n_samples - 5 * n_components, np.full(n_components, 1 / n_components))
    sizes += 5
    rows, labels = [], []
    for k, (centre, size) in enumerate(zip(centres, sizes, strict=True)):
        A = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
        A += np.diag(rng.uniform(0.5, 1.5, n_features))
        rows.append(centre + rng.normal(size=(size, n_features)) @ A.T)
        labels.append(np.full(size, k))
    order = rng.permutation(n_samples)
    return np.vstack(rows)[order], np.concatenate(labels)[order]
