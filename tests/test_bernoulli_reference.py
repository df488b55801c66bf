"""BernoulliMixture against the plain NumPy reference in ``bernoulli_reference.py``.

Whole EM iterations through the estimator, and the kernels' statistics in every
mode, on every product path, dense and CSR.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.special import logsumexp

import bernoulli_reference as ref
from bernoulli_common import CONTAINERS, fit_from, start
from fastem._threads import kernel_threads
from fastem.families._common import kernel_view
from fastem.families.bernoulli import BernoulliParams
from fastem.families.binary import binary_csr
from fastem.kernels import bernoulli as bk
from fastem.kernels import bernoulli_csr as bk_csr
from matmul_paths import BERNOULLI_PATHS, KERNEL_PATHS
from synthetic import make_binary


# -- whole EM iterations ------------------------------------------------------------------
@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("weighted", [False, True])
def test_em_matches_reference(container, weighted):
    X, *_ = make_binary()
    w0, m0 = start(3, X.shape[1])
    sw = np.random.default_rng(2).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    for n_iter in (1, 5):
        bm = fit_from(CONTAINERS[container](X), w0, m0, n_iter, sample_weight=sw, alpha=0.3)
        weights, means, bounds = ref.em(X, w0, m0, 0.3, n_iter, sample_weight=sw)
        assert bm.n_iter_ == n_iter
        assert_allclose(bm.weights_, weights, rtol=0, atol=1e-10)
        assert_allclose(bm.means_, means, rtol=0, atol=1e-10)
        assert_allclose(bm.lower_bounds_, bounds, rtol=1e-12, atol=1e-10)
    assert_allclose(bm.score_samples(X), ref.score_samples(X, bm.weights_, bm.means_), atol=1e-10)
    assert_allclose(
        bm.predict_proba(X), ref.responsibilities(X, bm.weights_, bm.means_), atol=1e-10
    )


def test_tiny_alpha_matches_reference():
    # The default alpha leaves probabilities within 1e-10 of 0 and 1 after a
    # hard-ish first step; logs must stay finite and agree with the formulas.
    X, *_ = make_binary(n_samples=200)
    w0, m0 = start(3, X.shape[1])
    bm = fit_from(X, w0, m0, 3)
    weights, means, bounds = ref.em(X, w0, m0, 1e-10, 3)
    assert_allclose(bm.means_, means, atol=1e-10)
    assert_allclose(bm.weights_, weights, atol=1e-10)
    assert_allclose(bm.lower_bounds_, bounds, rtol=1e-10)
    assert np.all(np.isfinite(bm.score_samples(X)))


# -- the kernels ------------------------------------------------------------------------------
# uint8 is what the estimator passes (widened per block for BLAS); float64 rows are
# multiplied in place. float32 would take uint8's branch, at one more compilation.
@BERNOULLI_PATHS
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_dense_kernel_modes_match_numpy(path, dtype):
    # K = 9 pads to 16 components on the tiled path (a full 8-wide tile and a padded
    # one); blocks of 50 rows over 2 groups leave a partial last block in each.
    kernel_path = KERNEL_PATHS[path]
    rng = np.random.default_rng(7)
    n, D, K = 301, 13, 9
    X = (rng.random((n, D)) < 0.4).astype(dtype)
    X64 = X.astype(np.float64)
    W = rng.normal(size=(D, K))
    c = rng.normal(size=K)
    sw = rng.uniform(0.5, 2.0, n)
    resp = rng.dirichlet(np.ones(K), size=n)
    S = X64 @ W + c
    lse = logsumexp(S, axis=1)
    hard = np.eye(K)[S.argmax(axis=1)]
    # Read-only rows and weights, as the family passes them (the fit's specialisation).
    X, sw = kernel_view(X), kernel_view(sw)
    cases = {
        bk.SOFT: (np.exp(S - lse[:, None]), sw @ lse),
        bk.HARD: (hard, sw @ S.max(axis=1)),
        bk.GIVEN: (resp, 0.0),
    }
    with kernel_threads(None):
        for mode, (r, expected_total) in cases.items():
            given = resp if mode == bk.GIVEN else np.zeros((0, K))
            counts, sums, total = bk.dense_stats(X, sw, W, c, given, mode, 50, 2, kernel_path)
            r = r * sw[:, None]
            assert_allclose(counts, r.sum(0), rtol=1e-12, err_msg=str(mode))
            assert_allclose(sums, X64.T @ r, rtol=1e-12, atol=1e-12, err_msg=str(mode))
            assert total == pytest.approx(expected_total, rel=1e-12)
        scores = bk.dense_scores(X, W, c, 50, 2, kernel_path)
    assert scores.shape == (n, K)
    assert_allclose(scores, S, rtol=1e-13, atol=1e-13)


def test_csr_kernel_blocks_of_rows():
    # With K=520 a CSR group handles 1,024 rows at a time (CSR_BLOCK_BYTES):
    # 2,500 rows in one group take three blocks, which must add up exactly.
    rng = np.random.default_rng(1)
    X = (rng.random((2500, 5)) < 0.4).astype(np.float64)
    K = 520
    weights = rng.dirichlet(np.ones(K))
    means = rng.uniform(0.1, 0.9, (K, 5))
    params = BernoulliParams.from_means(weights, means)
    c = params.log_complement + np.log(weights)
    csr = binary_csr(sp.csr_matrix(X))
    sw = kernel_view(rng.uniform(size=2500))  # read-only, as the family passes it
    with kernel_threads(1):
        got = bk_csr.csr_stats(
            csr.indptr, csr.indices, sw, params.log_odds, c, np.zeros((0, K)), bk.SOFT, 1
        )
    r = ref.responsibilities(X, weights, means) * sw[:, None]
    expected = (r.sum(0), X.T @ r, sw @ ref.score_samples(X, weights, means))
    for a, b in zip(got, expected, strict=True):
        assert_allclose(a, b, rtol=1e-11, atol=1e-13)
