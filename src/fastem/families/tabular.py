"""Tabular mixtures: independent columns of mixed kinds within a component.

A row of the encoded matrix (see ``fastem._tables``) holds ``nG`` gaussian,
``nB`` bernoulli, ``nC`` categorical and ``nP`` poisson columns; under
component k its density is the product over the *observed* cells of

* gaussian ``N(x; mean_jk, var_jk)``,
* bernoulli ``mu_jk^x (1 - mu_jk)^(1 - x)``,
* categorical ``p_jk[x]`` (``x`` the level's code),
* poisson ``lambda_jk^x exp(-lambda_jk) / x!``.

Missing cells are marginalised exactly (missing at random): they add nothing
to the row's log-density, and every column's M-step uses the weight of the
rows observing it, ``O_jk = N_k - M_jk``::

    mean_jk = shift_j + S1_jk / O_jk
    var_jk  = S2_jk / O_jk - (S1_jk / O_jk)^2 + reg_covar    (sums around shift_j)
    mu_jk   = (S1_jk + alpha) / (O_jk + 2 alpha)
    p_jkl   = (n_jkl + alpha) / (O_jk + L_j alpha)
    lambda_jk = S1_jk / O_jk
    weight_k = N_k / sum N

With ``covariance_type="full"`` the gaussian columns are instead one block
with a full covariance per component (``fastem.families.tabular_full``:
marginal densities of the observed cells, conditional expectations in the
M-step); the other kinds are unchanged.

A column never observed within a component (``O_jk = 0``, e.g. an empty
component) takes the pooled estimate over all components (0.5 and uniform
levels for the discrete kinds), so an M-step never returns a non-finite model.
Logarithms handed to the kernel are clamped at ``log(tiny)``, as in the
Bernoulli family, so probabilities and rates of exactly 0 stay finite there.
"""

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import gammaln

from .._settings import settings
from .._stats import ColumnMoments, SufficientStats
from ..kernels import tabular as tk
from ._common import rows_as_kernel_views
from .tabular_full import FullGaussianBlock

LOG_FLOOR = float(np.log(np.finfo(np.float64).tiny))
#: ``log x!`` is looked up for counts below this, computed above.
LOG_FACTORIAL = gammaln(np.arange(1024, dtype=np.float64) + 1.0)
_LOG_2PI = float(np.log(2.0 * np.pi))


def _log(values):
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(values), LOG_FLOOR)


@dataclass
class TabularParams:
    """Parameters of a tabular mixture in float64, in the encoded column order.

    Attributes
    ----------
    weights : (K,)
    means, variances : (nG, K)
        Gaussian columns.
    probs : (nB, K)
        Probability of the code 1 of each bernoulli column.
    level_probs : (sum L, K)
        Categorical columns, the levels of column j in rows
        ``offsets[j]:offsets[j + 1]``.
    rates : (nP, K)
        Poisson columns.
    covariances : (K, nG, nG) or None
        The full covariances of the gaussian block (``covariance_type="full"``;
        ``variances`` then holds their diagonals); None for "diag".
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    probs: np.ndarray
    level_probs: np.ndarray
    rates: np.ndarray
    covariances: np.ndarray = None

    def copy(self):
        return TabularParams(
            *(None if v is None else np.array(v, dtype=np.float64) for v in vars(self).values())
        )


@rows_as_kernel_views
class TabularFamily:
    """The family contract (:class:`fastem.families.Family`) for tables of mixed kinds.

    Parameters
    ----------
    n_components : int
    n_features : int
        Columns of the encoded matrix.
    dtype : numpy.dtype
        float32 or float64 (the encoded matrix).
    shift : ndarray of shape (n_features,) or None
        Data centre; only its gaussian entries are used.
    n_kind : tuple of 4 int
        ``(nG, nB, nC, nP)``.
    n_levels : ndarray of int
        Levels of each categorical column.
    covariance_type : {"diag", "full"}, default="diag"
        Gaussian columns independent within a component, or one full block.
    """

    uses_shift = True

    def __init__(
        self, n_components, n_features, dtype, shift, n_kind, n_levels, covariance_type="diag"
    ):
        self.n_components = int(n_components)
        self.n_features = int(n_features)
        self.dtype = np.dtype(dtype)
        self.n_kind = np.asarray(n_kind, dtype=np.int64)
        if int(self.n_kind.sum()) != self.n_features:
            raise ValueError("The column kinds do not add up to the number of columns.")
        self.n_levels = np.asarray(n_levels, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_levels)]).astype(np.int64)
        nG = int(self.n_kind[0])
        self.shift = None if shift is None else np.asarray(shift, dtype=np.float64)
        self._gshift = np.zeros(nG) if shift is None else np.ascontiguousarray(self.shift[:nG])
        self.block_size = 256
        self.covariance_type = covariance_type
        self.full = covariance_type == "full" and nG > 0
        self._block = FullGaussianBlock(self.n_components, nG, self._gshift) if self.full else None
        # The kernel's layout: columns it skips (the full block), diagonal gaussian, the rest.
        skip, diag = (nG, 0) if self.full else (0, nG)
        self._kernel_kinds = np.array([skip, diag, *self.n_kind[1:]], dtype=np.int64)
        self._kernel_shift = np.zeros(0) if self.full else self._gshift

    @property
    def nG(self):
        return int(self.n_kind[0])

    @property
    def nB(self):
        return int(self.n_kind[1])

    @property
    def nC(self):
        return int(self.n_kind[2])

    @property
    def nP(self):
        return int(self.n_kind[3])

    def _n_groups(self, X):
        work = X.shape[0] * max(1, X.shape[1]) * self.n_components
        return max(1, min(numba.get_num_threads(), work // 200_000))

    def _kernel_args(self, params):
        K = self.n_components
        z = np.zeros
        if params is None:
            nG = int(self._kernel_kinds[1])
            return (
                z((nG, K)),
                z((nG, K)),
                z((nG, K)),
                z((self.nB, K)),
                z((self.nB, K)),
                z((K, int(self.offsets[-1]))),
                z((self.nP, K)),
                z((self.nP, K)),
            )
        if self.full:
            gaussian = (z((0, K)), z((0, K)), z((0, K)))
        else:
            var = params.variances
            gaussian = (
                np.ascontiguousarray(params.means - self._gshift[:, None]),
                np.ascontiguousarray(0.5 / var),
                np.ascontiguousarray(-0.5 * (_LOG_2PI + np.log(var))),
            )
        return (
            *gaussian,
            np.ascontiguousarray(_log(params.probs)),
            np.ascontiguousarray(_log(1.0 - params.probs)),
            np.ascontiguousarray(_log(params.level_probs).T),
            np.ascontiguousarray(_log(params.rates)),
            np.ascontiguousarray(params.rates, dtype=np.float64),
        )

    def _pass(self, X, sample_weight, params, const, mode, resp=None, out=None, extra=None):
        K = self.n_components
        if X.shape[1] != self.n_features:
            raise ValueError(f"Expected {self.n_features} columns, got {X.shape[1]}.")
        (gm, gh, gc, bl, b1, cl, pl, pr) = self._kernel_args(params)
        empty = np.zeros((0, K))
        return tk.tabular_pass(
            X,
            sample_weight,
            self._kernel_kinds,
            self._kernel_shift,
            gm,
            gh,
            gc,
            bl,
            b1,
            self.offsets,
            cl,
            tk.categorical_groups(self.n_levels, K, settings.categorical_table_bytes),
            pl,
            pr,
            LOG_FACTORIAL,
            np.ascontiguousarray(const, dtype=np.float64),
            empty if extra is None else extra,
            empty if resp is None else resp,
            empty if out is None else out,
            mode,
            self.block_size,
            self._n_groups(X),
        )

    def _block_params(self, params):
        return self._block.gaussian_params(params.weights, params.means, params.covariances)

    def _wrap(self, X, sample_weight, result, block=None):
        counts, s1, s2, missing, levels, total = result
        weight_sum = float(sample_weight.sum()) if sample_weight.size else float(X.shape[0])
        arrays = {"counts": counts, "s1": s1, "s2": s2, "missing": missing, "levels": levels}
        arrays.update(block or {})
        return SufficientStats(arrays, float(total), weight_sum, None)

    # -- EM -------------------------------------------------------------------------------
    def estep_stats(self, X, sample_weight, params):
        """One fused pass: statistics and ``sum w log p(x)``, missing cells marginalised."""
        const = _log(params.weights) if np.all(params.weights > 0) else _log_weights(params)
        if not self.full:
            return self._wrap(
                X, sample_weight, self._pass(X, sample_weight, params, const, tk.SOFT)
            )
        # The full block: its (n, K) log-densities into the pass, its statistics from the
        # pass's weighted responsibilities (both bounded by the chunk).
        gparams = self._block_params(params)
        Xg = self._block.rows(X, self.nG)
        layout = self._block.layout(Xg)
        extra = self._block.log_prob(Xg, gparams, layout)
        resp = np.empty((X.shape[0], self.n_components))
        result = self._pass(X, sample_weight, params, const, tk.SOFT, out=resp, extra=extra)
        moments = self._block.em_moments(Xg, resp, gparams, layout)
        return self._wrap(X, sample_weight, result, {"full_moments": moments})

    def resp_stats(self, X, sample_weight, resp):
        """Statistics for given responsibilities ``resp`` (n, K)."""
        resp = np.ascontiguousarray(resp, dtype=np.float64)
        K = self.n_components
        result = self._pass(X, sample_weight, None, np.zeros(K), tk.GIVEN, resp=resp)
        block = None
        if self.full:
            block = self._block.given_arrays(self._block.rows(X, self.nG), sample_weight, resp)
        return self._wrap(X, sample_weight, result, block)

    def m_step(self, stats, reg):
        """Parameters from statistics (see the module docstring); ``reg = (reg_covar, alpha)``."""
        reg_covar, alpha = reg
        a = stats.arrays
        counts = a["counts"]
        total = float(counts.sum())
        if not (total > 0.0 and np.isfinite(total)):
            raise ValueError(
                f"The M-step needs a positive, finite total weight, got {total!r}; "
                "check sample_weight."
            )
        observed = np.maximum(counts[None, :] - a["missing"], 0.0)
        nG, nB, nC = self.nG, self.nB, self.nC
        b0, c0, p0 = nG, nG + nB, nG + nB + nC
        s1 = a["s1"]
        if self.full:
            means, covariances = self._block.m_step(a, reg_covar)
            var = np.ascontiguousarray(np.diagonal(covariances, axis1=1, axis2=2).T)
        else:
            means, var = self._diag_m_step(observed[:nG], s1[:nG], a["s2"], reg_covar)
            covariances = None
        # bernoulli
        ob, s1b = observed[b0:c0], s1[b0:c0]
        seen = ob > 0
        pseudo = np.where(seen, alpha, 1.0)
        probs = np.clip((s1b + pseudo) / (ob + 2.0 * pseudo), 0.0, 1.0)
        # categorical
        levels = a["levels"]
        level_probs = np.empty_like(levels)
        for j in range(nC):
            lo, hi = self.offsets[j], self.offsets[j + 1]
            block = levels[lo:hi]
            n_obs = block.sum(axis=0)
            L = hi - lo
            seen = n_obs > 0
            pseudo = np.where(seen, alpha, 1.0)
            level_probs[lo:hi] = (block + pseudo) / (n_obs + L * pseudo)
        # poisson
        op, s1p = observed[p0:], s1[p0:]
        pooled_o = op.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = np.where(pooled_o > 0, s1p.sum(axis=1, keepdims=True) / pooled_o, 1.0)
            seen = op > 0
            rates = np.where(seen, s1p / np.where(seen, op, 1.0), pooled)
        rates = np.maximum(rates, 0.0)
        return TabularParams(counts / total, means, var, probs, level_probs, rates, covariances)

    def _diag_m_step(self, og, s1g, s2, reg_covar):
        """Means and variances (nG, K) of independent gaussian columns (observed cells)."""
        nG = self.nG
        pooled_o = og.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled_m = np.where(pooled_o > 0, s1g.sum(axis=1, keepdims=True) / pooled_o, 0.0)
            pooled_v = np.where(
                pooled_o > 0, s2.sum(axis=1, keepdims=True) / pooled_o - pooled_m**2, 0.0
            )
            seen = og > 0
            mean_s = np.where(seen, s1g / np.where(seen, og, 1.0), pooled_m)
            var = np.where(seen, s2 / np.where(seen, og, 1.0) - mean_s**2, pooled_v)
        var = np.maximum(var, 0.0) + reg_covar
        if nG and not np.all(var > 0):
            raise ValueError(
                "A gaussian column has variance 0 within a component (a component on a "
                "single value); set reg_covar > 0."
            )
        means = mean_s + self._gshift[:, None]
        return means, var

    # -- prediction -----------------------------------------------------------------------
    def log_prob(self, X, params):
        """Component log-densities (n, K), missing cells marginalised."""
        out = np.empty((X.shape[0], self.n_components))
        extra = None
        if self.full:
            extra = self._block.log_prob(self._block.rows(X, self.nG), self._block_params(params))
        K = self.n_components
        self._pass(X, np.empty(0), params, np.zeros(K), tk.SCORE, out=out, extra=extra)
        return out

    def n_parameters(self):
        """Free parameters: ``K - 1`` weights and, per component, every column's."""
        nG = self.nG
        gaussian = nG + nG * (nG + 1) // 2 if self.full else 2 * nG
        per = gaussian + self.nB + int((self.n_levels - 1).sum()) + self.nP
        return int(self.n_components * per + self.n_components - 1)

    def sample(self, params, n_samples, rng):
        """Encoded rows (float64) drawn component by component, and their components."""
        counts = rng.multinomial(n_samples, params.weights)
        nG, nB, nC = self.nG, self.nB, self.nC
        parts = []
        for k, m in enumerate(counts):
            m = int(m)
            rows = np.empty((m, self.n_features))
            if self.full:
                mean, cov = params.means[:, k], params.covariances[k]
                rows[:, :nG] = rng.multivariate_normal(mean, cov, m)
            else:
                sd = np.sqrt(params.variances[:, k])
                rows[:, :nG] = rng.normal(params.means[:, k], sd, (m, nG))
            rows[:, nG : nG + nB] = rng.uniform(size=(m, nB)) < params.probs[:, k]
            for j in range(nC):
                lo, hi = self.offsets[j], self.offsets[j + 1]
                p = params.level_probs[lo:hi, k]
                rows[:, nG + nB + j] = rng.choice(hi - lo, size=m, p=p / p.sum())
            rows[:, nG + nB + nC :] = rng.poisson(params.rates[:, k], (m, self.nP))
            parts.append(rows)
        labels = np.concatenate([np.full(int(c), k, dtype=np.int64) for k, c in enumerate(counts)])
        return np.vstack(parts), labels

    # -- initialisation -------------------------------------------------------------------
    @staticmethod
    def column_moments(X, sample_weight):
        """Weighted mean and spread of every column over its observed cells."""
        X = np.asarray(X, dtype=np.float64)
        observed = ~np.isnan(X)
        w = sample_weight if sample_weight.size else np.ones(X.shape[0])
        weight = w @ observed
        filled = np.where(observed, X, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(weight > 0, (w @ filled) / np.where(weight > 0, weight, 1.0), 0.0)
        dev = np.where(observed, X - mean, 0.0)
        m2 = w @ (dev * dev)
        return ColumnMoments(weight, mean, m2, int(observed.size - observed.sum()))


def _log_weights(params):
    return _log(params.weights)


__all__ = ["TabularFamily", "TabularParams"]
