"""The full-covariance gaussian block of a tabular mixture (``covariance_type="full"``).

The gaussian columns of a row are one vector ``x``, ``N(mu_k, Sigma_k)`` in
component k; the other kinds stay independent of it and of each other. A
row's missing gaussian cells are marginalised exactly (missing at random):

* E-step: the block's log-density is the marginal ``N(x_o; mu_o, Sigma_oo)``
  of the observed cells (complete rows: ``GaussianFamily("full").log_prob``,
  the Gaussian kernels; incomplete rows: per missingness pattern);
* M-step statistics, from the responsibilities of the whole row (all kinds):
  the completed row ``x_hat = [x_o, mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o)]``
  and the conditional covariance ``C = Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om``
  enter ``sum r x_hat`` and ``sum r (x_hat x_hat^T + C on the missing block)``,
  summed around the shift in ``GaussianFamily``'s ``moments`` layout
  (``[N_k, sum x, vech(sum x x^T)]``), so that ``GaussianFamily.m_step`` gives
  the means and covariances.

Between the tabular kernel's pass and the statistics the block holds, per
chunk, the (n, K) log-densities and the (n, K) weighted responsibilities: the
memory is bounded by the chunk (``chunk_size`` rows, or the array in memory),
never by the number of rows of a chunked source. Incomplete rows are grouped
by missingness pattern (once per chunk, for the densities and the statistics),
with one factorisation of ``Sigma_oo`` per (pattern, component), in NumPy:
cheap for the few patterns of a few gaussian columns, slow for a block of many
columns where nearly every row has its own pattern.

Initial statistics (given responsibilities, no parameters to condition on)
are the pairwise available-case statistics of ``GaussianFamily`` (missing=True).
"""

import numpy as np

from .._stats import SufficientStats
from .gaussian import GaussianFamily, GaussianParams, precision_cholesky

_LOG_2PI = float(np.log(2.0 * np.pi))
#: Prefix of the block's arrays among the tabular statistics.
PREFIX = "full_"


class FullGaussianBlock:
    """Log-densities, statistics and M-step of the full-covariance gaussian block.

    Parameters
    ----------
    n_components : int
    n_features : int
        Gaussian columns (the first ``n_features`` of the encoded matrix).
    shift : ndarray of shape (n_features,)
        Centre the statistics are summed around.
    """

    def __init__(self, n_components, n_features, shift):
        self.n_components = int(n_components)
        self.n_features = int(n_features)
        self.shift = np.ascontiguousarray(shift, dtype=np.float64)
        K, D = self.n_components, self.n_features

        def family(missing):
            return GaussianFamily("full", K, D, np.float64, self.shift, missing=missing)

        self._complete, self._given = family(False), family(True)
        self._vech_i, self._vech_j = np.triu_indices(D)

    @staticmethod
    def rows(X, n_features):
        """The block's columns of the encoded rows ``X``, C-contiguous float64."""
        return np.ascontiguousarray(X[:, :n_features], dtype=np.float64)

    def gaussian_params(self, weights, means, covariances):
        """``GaussianParams`` of the block: ``means`` (D, K), ``covariances`` (K, D, D)."""
        covariances = np.asarray(covariances, dtype=np.float64)
        return GaussianParams(
            np.asarray(weights, dtype=np.float64),
            np.ascontiguousarray(np.asarray(means, dtype=np.float64).T),
            covariances,
            precision_cholesky(covariances, "full"),
        )

    @staticmethod
    def layout(Xg):
        """``(incomplete (n,) bool, [(missing mask (D,), rows), ...])``: rows by pattern."""
        nan = np.isnan(Xg)
        incomplete = nan.any(axis=1)
        if not incomplete.any():
            return incomplete, []
        idx = np.flatnonzero(incomplete)
        if nan.shape[1] <= 62:
            # A pattern as the bits of one integer: sorting integers, not rows.
            key = nan[idx] @ (np.int64(1) << np.arange(nan.shape[1], dtype=np.int64))
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            patterns = nan[idx[first]]
        else:
            patterns, inverse = np.unique(nan[idx], axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        order = np.argsort(inverse, kind="stable")
        cuts = np.cumsum(np.bincount(inverse, minlength=patterns.shape[0]))[:-1]
        return incomplete, list(zip(patterns, np.split(idx[order], cuts), strict=True))

    def log_prob(self, Xg, gparams, layout=None):
        """(n, K) marginal log-densities of the observed gaussian cells (0 if none)."""
        incomplete, groups = self.layout(Xg) if layout is None else layout
        if not groups:
            return self._complete.log_prob(Xg, gparams)
        out = np.empty((Xg.shape[0], self.n_components))
        done = ~incomplete
        if done.any():
            out[done] = self._complete.log_prob(np.ascontiguousarray(Xg[done]), gparams)
        for mask, rows in groups:
            o = np.flatnonzero(~mask)
            if not o.size:
                out[rows] = 0.0
                continue
            xo = Xg[np.ix_(rows, o)]
            for k in range(self.n_components):
                L = np.linalg.cholesky(gparams.covariances[k][np.ix_(o, o)])
                L_inv = np.linalg.inv(L)
                z = (xo - gparams.means[k, o]) @ L_inv.T
                log_det = 2.0 * np.log(np.diag(L)).sum()
                out[rows, k] = -0.5 * (o.size * _LOG_2PI + log_det) - 0.5 * (z * z).sum(axis=1)
        return out

    def em_moments(self, Xg, resp, gparams, layout=None):
        """``[N_k, sum r x_hat, vech(sum r (x_hat x_hat^T + C))]`` (K, F) around the shift.

        ``resp`` (n, K) are the weighted responsibilities ``w r`` of the rows.
        """
        K, D = self.n_components, self.n_features
        incomplete, groups = self.layout(Xg) if layout is None else layout
        moments = np.zeros((K, 1 + D + D * (D + 1) // 2))
        if not incomplete.all():
            done = ~incomplete
            stats = self._complete.resp_stats(
                Xg if done.all() else np.ascontiguousarray(Xg[done]),
                np.empty(0),
                np.ascontiguousarray(resp if done.all() else resp[done]),
            )
            moments += stats.arrays["moments"]
        if not groups:
            return moments
        mu = gparams.means - self.shift
        cov = gparams.covariances
        s1 = np.zeros((K, D))
        s2 = np.zeros((K, D, D))
        nk = np.zeros(K)
        for mask, rows in groups:
            m, o = np.flatnonzero(mask), np.flatnonzero(~mask)
            xo = Xg[np.ix_(rows, o)] - self.shift[o]
            r = resp[rows]
            xhat = np.empty((rows.size, D))
            xhat[:, o] = xo
            for k in range(K):
                S = cov[k]
                S_om = S[np.ix_(o, m)]
                if o.size:
                    # Regression of the missing on the observed cells: B = S_mo S_oo^-1.
                    B = np.linalg.solve(S[np.ix_(o, o)], S_om).T
                    xhat[:, m] = mu[k, m] + (xo - mu[k, o]) @ B.T
                    C = S[np.ix_(m, m)] - B @ S_om
                else:
                    xhat[:, m] = mu[k, m]
                    C = S[np.ix_(m, m)]
                rk = r[:, k]
                total = rk.sum()
                nk[k] += total
                s1[k] += rk @ xhat
                s2[k] += (xhat * rk[:, None]).T @ xhat
                s2[k][np.ix_(m, m)] += total * C
        moments[:, 0] += nk
        moments[:, 1 : 1 + D] += s1
        moments[:, 1 + D :] += s2[:, self._vech_i, self._vech_j]
        return moments

    def given_arrays(self, Xg, sample_weight, resp):
        """Initial (available-case) statistics of given responsibilities, prefixed."""
        arrays = self._given.resp_stats(Xg, sample_weight, resp).arrays
        return {PREFIX + name: value for name, value in arrays.items()}

    def m_step(self, arrays, reg_covar):
        """``(means (D, K), covariances (K, D, D))`` from the prefixed statistics."""
        own = {
            name[len(PREFIX) :]: value for name, value in arrays.items() if name.startswith(PREFIX)
        }
        stats = SufficientStats(own, 0.0, 1.0, self.shift)
        gparams = self._complete.m_step(stats, reg_covar)
        return np.ascontiguousarray(gparams.means.T), np.asarray(gparams.covariances)


__all__ = ["FullGaussianBlock"]
