"""Full covariances: a missingness pattern with enough rows through the block pipeline.

The rows take the weights of every component's marginal on the pattern's
observed coordinates, with their missing values at 0; the conditional mean
being affine in the observed values, the pattern's plain sums of ``T(x')``
then give its expected statistics (see :mod:`.gaussian_missing`).
"""

from numba import njit

from ._gaussian_features import FULL, _fill_features
from ._missing_block import _block_rows
from ._missing_pattern import _LOG_2PI, _pattern_factors, _vech_index
from .missing_rows import _pattern


@njit(cache=True)
def _pattern_weights(prec, means, log_det, log_weights, obs, mis, no, nm, work, Wq, Wqt):
    """Natural parameters of every component's marginal on a pattern's observed coordinates.

    ``Wq`` (F, K) gets, per component, the weights of ``N(x_o | mu_o, Sigma_oo)``
    on the features ``T(x')`` of rows whose missing ``x'`` are 0: the marginal
    precision is the Schur complement ``Lam = P_oo - P_om (P_mm)^-1 P_mo``, and
    ``log det Lam = log det P - log det P_mm``. ``Wqt`` is ``Wq.T``. Leaves
    every component's ``(P_mm)^-1`` and ``(P_mm)^-1 P_mo`` in ``work``.
    """
    A, Linv, Cs, Rs, Lam = work
    d = means.shape[1]
    K = means.shape[0]
    for f in range(Wq.shape[0]):
        for k in range(Wq.shape[1]):
            Wq[f, k] = 0.0
    for k in range(K):
        P = prec[k]
        R = Rs[k]
        mu = means[k]
        ld = _pattern_factors(P, obs, mis, no, nm, A, Linv, Cs[k], R)
        for t in range(no):
            for u in range(t, no):
                s = P[obs[t], obs[u]]
                for a in range(nm):
                    s -= P[obs[t], mis[a]] * R[a, u]
                Lam[t, u] = s
                Lam[u, t] = s
        quad = 0.0
        for t in range(no):
            s = 0.0
            for u in range(no):
                s += Lam[t, u] * mu[obs[u]]
            Wq[1 + obs[t], k] = s
            quad += s * mu[obs[t]]
            Wq[1 + d + _vech_index(obs[t], obs[t], d), k] = -0.5 * Lam[t, t]
            for u in range(t + 1, no):
                Wq[1 + d + _vech_index(obs[t], obs[u], d), k] = -Lam[t, u]
        if no == 0:
            Wq[0, k] = log_weights[k]
        else:
            Wq[0, k] = log_weights[k] + log_det[k] - 0.5 * (no * _LOG_2PI + ld + quad)
    for f in range(Wq.shape[0]):
        for k in range(Wq.shape[1]):
            Wqt[k, f] = Wq[f, k]


@njit(cache=True)
def _complete_pattern_stats(src, dst, mean, C, R, obs, mis, no, nm, S2, GS, bvec, g1):
    """Add the expected statistics of a pattern's rows to ``dst`` from their plain ones.

    ``src`` holds ``sum r T(x')`` of the rows with their missing ``x'`` at 0.
    The conditional mean ``xhat_m = b + G x'_o`` (``b = mu_m + R mu_o``,
    ``G = -R``) is affine in ``x'_o``, so the sums of ``xhat`` and ``xhat xhat^T``
    follow from ``s0 = sum r``, ``s1 = sum r x'`` and ``S2 = sum r x' x'^T``;
    the conditional covariance ``C`` adds ``s0 C`` on the missing block.
    """
    d = mean.shape[0]
    n_stat = 1 + d + d * (d + 1) // 2
    s0 = src[0]
    if s0 == 0.0:
        return
    for f in range(n_stat):
        dst[f] += src[f]
    for a in range(d):
        for b in range(a, d):
            v = src[1 + d + _vech_index(a, b, d)]
            S2[a, b] = v
            S2[b, a] = v
    for a in range(nm):
        ja = mis[a]
        bb = mean[ja]
        gg = 0.0
        for t in range(no):
            bb += R[a, t] * mean[obs[t]]
            gg -= R[a, t] * src[1 + obs[t]]
        bvec[a] = bb
        g1[a] = gg
        dst[1 + ja] += s0 * bb + gg
        for t in range(no):
            jt = obs[t]
            s = 0.0
            for u in range(no):
                s -= R[a, u] * S2[obs[u], jt]
            GS[a, t] = s
            dst[1 + d + _vech_index(min(ja, jt), max(ja, jt), d)] += bb * src[1 + jt] + s
    for a in range(nm):
        for c in range(a, nm):
            s = s0 * (bvec[a] * bvec[c] + C[a, c]) + bvec[a] * g1[c] + g1[a] * bvec[c]
            for u in range(no):
                s -= GS[a, u] * R[c, u]
            dst[1 + d + _vech_index(mis[a], mis[c], d)] += s


@njit(cache=True)
def _full_pattern_rows(
    X,
    rows,
    sample_weight,
    weighted,
    shift,
    means,
    prec,
    log_det,
    log_weights,
    path,
    obs,
    mis,
    pattern_work,
    Wq,
    Wqt,
    acc_q,
    shift_q,
    completion,
    Xc,
    wc,
    block,
    acc_g,
    ll,
):
    """Rows ``rows`` (all of one missingness pattern) of a full model, in blocks on the tiles.

    One set of marginal weights per (pattern, component) serves every block:
    the rows, their missing values at 0 (and a 0 shift there), go through the
    block pipeline into the pattern's own ``acc_q``, which then becomes the
    expected statistics. Returns ``ll`` plus the rows' log-likelihood sum.
    """
    T, xs, xw, logp, mx, total, w_block, part, part_xx, Y, Up, Ut, acc_xx_g = block[:13]
    nan_rows, bits, Wm, mr = block[13:]
    S2, GS, bvec, g1 = completion
    # Runtime values, not the constants, so that this call of the block pipeline
    # shares its compiled form with the one of the complete rows.
    kind = shift.shape[0] * 0 + FULL
    no_nan = kind * 0
    d = X.shape[1]
    K = means.shape[0]
    B = T.shape[1]
    n = rows.shape[0]
    no, nm = _pattern(X, rows[0], obs, mis)
    _pattern_weights(prec, means, log_det, log_weights, obs, mis, no, nm, pattern_work, Wq, Wqt)
    for j in range(d):
        shift_q[j] = shift[j]
    for a in range(nm):
        shift_q[mis[a]] = 0.0
    for k in range(acc_q.shape[0]):
        for f in range(acc_q.shape[1]):
            acc_q[k, f] = 0.0
    for q0 in range(0, n, B):
        mb = min(n, q0 + B) - q0
        for t in range(mb):
            r = rows[q0 + t]
            dst = Xc[t]
            for j in range(d):
                dst[j] = X[r, j]
            for a in range(nm):
                dst[mis[a]] = 0.0
            wc[t] = sample_weight[r] if weighted else 1.0
        _fill_features(Xc, 0, mb, shift_q, kind, xs, T)
        ll = _block_rows(
            X, no_nan, no_nan, mb, wc, weighted, kind, K, path, Wq, Wqt, Up, Ut, T, xs, xw,
            logp, mx, total, w_block, part, part_xx, Y, acc_q, acc_xx_g, ll, nan_rows, bits,
            no_nan, Wm, mr, mx,
        )  # fmt: skip
    _, _, Cs, Rs, _ = pattern_work
    for k in range(K):
        _complete_pattern_stats(
            acc_q[k], acc_g[k], means[k], Cs[k], Rs[k], obs, mis, no, nm, S2, GS, bvec, g1
        )
    return ll
