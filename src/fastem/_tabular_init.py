"""TabularMixture's k-means start: k-means on an embedding where every column kind counts alike.

The rows of a seeding sample are embedded (gaussian columns and log-counts
standardised, bernoulli 0/1, categorical one-hot), k-means (or k-means++
seeding) runs on the embedded sample, and every row of the source goes to its
nearest centre: the statistics of those hard assignments start EM.
"""

import numpy as np

from ._lloyd import initial_centers, kmeans
from ._seeding import seeding_sample
from ._sources import ArraySource
from .families.kmeans import KMeansFamily


def _embedding(X, family, scale):
    """Rows as points for k-means: standardised gaussian and log-counts, 0/1, one-hot.

    Missing cells sit at the column's centre (0 after standardising; the
    column mean for bernoulli; no level for categorical).
    """
    nG, nB, nC = family.nG, family.nB, family.nC
    X = np.asarray(X, dtype=np.float64)
    parts = []
    if nG:
        parts.append(np.nan_to_num((X[:, :nG] - scale["g_mean"]) / scale["g_sd"]))
    if nB:
        b = X[:, nG : nG + nB]
        parts.append(np.where(np.isnan(b), scale["b_mean"], b))
    for j in range(nC):
        codes = X[:, nG + nB + j]
        onehot = np.zeros((X.shape[0], int(family.n_levels[j])))
        seen = ~np.isnan(codes)
        onehot[np.flatnonzero(seen), codes[seen].astype(np.int64)] = np.sqrt(0.5)
        parts.append(onehot)
    if family.nP:
        p = np.log1p(X[:, nG + nB + nC :])
        parts.append(np.nan_to_num((p - scale["p_mean"]) / scale["p_sd"]))
    return np.hstack(parts) if parts else np.zeros((X.shape[0], 1))


def _embedding_scale(X, family, weights):
    """Weighted centres and spreads of the embedded columns (over observed cells)."""
    nG, nB, nC = family.nG, family.nB, family.nC
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64) if np.size(weights) else np.ones(X.shape[0])

    def centre(values):
        observed = ~np.isnan(values)
        filled = np.where(observed, values, 0.0)
        total = np.maximum(w @ observed, np.finfo(np.float64).tiny)
        mean = (w @ filled) / total
        sd = np.sqrt((w @ (np.where(observed, values - mean, 0.0) ** 2)) / total)
        return mean, np.where(sd > 0, sd, 1.0)

    g_mean, g_sd = centre(X[:, :nG])
    b_mean, _ = centre(X[:, nG : nG + nB])
    p_mean, p_sd = centre(np.log1p(X[:, nG + nB + nC :]))
    return {"g_mean": g_mean, "g_sd": g_sd, "b_mean": b_mean, "p_mean": p_mean, "p_sd": p_sd}


def _hard_chunk_stats(family, scale, centers, X, w):
    points = _embedding(X, family, scale)
    d = (
        (points**2).sum(axis=1)[:, None]
        - 2.0 * points @ centers.T
        + (centers**2).sum(axis=1)[None, :]
    )
    resp = np.zeros((X.shape[0], family.n_components))
    resp[np.arange(X.shape[0]), d.argmin(axis=1)] = 1.0
    return family.resp_stats(X, w, resp)


def embedding_initial_stats(family, source, init_params, n_components, random_state):
    """Statistics of every row assigned to its nearest k-means centre on the embedding.

    Parameters
    ----------
    family : TabularFamily
    source : fastem._sources.Source
        The encoded rows.
    init_params : {"kmeans", "k-means++"}
        k-means (Lloyd, on a seeding sample) or the k-means++ seeds alone.
    n_components : int
    random_state : numpy.random.RandomState

    Returns
    -------
    SufficientStats
    """
    rows, weights = seeding_sample(source, random_state)
    scale = _embedding_scale(rows, family, weights)
    points = np.ascontiguousarray(_embedding(rows, family, scale))
    K = n_components
    geometry = KMeansFamily(K, points.shape[1])
    sample = ArraySource(points, np.asarray(weights, dtype=np.float64))
    if init_params == "k-means++":
        centers = initial_centers(geometry, sample, K, "k-means++", random_state)
    else:
        centers = kmeans(geometry, sample, K, random_state, final_assignment=False).centers

    def chunk(X, w_chunk):
        return _hard_chunk_stats(family, scale, centers, X, w_chunk)

    return source.map_reduce(chunk)
