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


def make_binary(n_samples=400, n_features=12, n_components=3, seed=0):
    """Rows from a well-separated Bernoulli mixture: each component owns a block of features.

    Returns ``X`` (n_samples, n_features) float64 of 0/1, the true labels,
    weights and probabilities.
    """
    rng = np.random.default_rng(seed)
    means = np.full((n_components, n_features), 0.15)
    for k, block in enumerate(np.array_split(np.arange(n_features), n_components)):
        means[k, block] = 0.85
    means = np.clip(means + rng.uniform(-0.1, 0.1, means.shape), 0.02, 0.98)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = (rng.random((n_samples, n_features)) < means[labels]).astype(np.float64)
    return X, labels, weights, means


class CountingChunks:
    """A re-iterable source of ``(rows, weights)`` chunks that counts its passes."""

    def __init__(self, X, w=None, chunk=250):
        self.X, self.w, self.chunk = X, w, chunk
        self.passes = 0

    def __call__(self):
        self.passes += 1
        for start in range(0, len(self.X), self.chunk):
            stop = start + self.chunk
            if self.w is None:
                yield self.X[start:stop]
            else:
                yield self.X[start:stop], self.w[start:stop]
