"""Each kernel compiles once per dtype, whatever the flags of the arrays its callers hold.

Numba compiles one specialisation per argument type, and a read-only array is
another type than a writable one: a frozen parameter array or a read-only
memory map would compile a kernel again (seconds per parallel kernel). The
families hand rows and weights to the kernels read-only and every small array
as a fresh copy; these tests call them with every mix of flags and check that
no second specialisation appears.
"""

import itertools

import numpy as np

from fastem._settings import override
from fastem.families import kmeans as fk
from fastem.families.gaussian import GaussianFamily, GaussianParams
from fastem.kernels import gaussian as gk
from fastem.kernels import kmeans as kk


def _frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def _flag_mixes(*arrays):
    """Every combination of writable and read-only copies of ``arrays``."""
    for frozen in itertools.product((False, True), repeat=len(arrays)):
        yield [_frozen(a) if f else np.array(a) for a, f in zip(arrays, frozen, strict=True)]


def _compiles_nothing_new(dispatcher, func, *args):
    """Whether ``func(*args)`` leaves ``dispatcher`` with no new specialisation."""
    before = set(dispatcher.signatures)
    func(*args)
    return set(dispatcher.signatures) == before


def test_lloyd_pass_compiles_once_whatever_the_flags():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    w = rng.uniform(0.5, 2.0, 50)
    centers = X[:4].copy()
    shift = X.mean(axis=0)
    fk.lloyd_pass(X, w, centers, shift)  # compiles (or loads) the float64 specialisation
    for Xv, wv, cv, sv in _flag_mixes(X, w, centers, shift):
        assert _compiles_nothing_new(kk.lloyd_pass, fk.lloyd_pass, Xv, wv, cv, sv)


def test_column_moments_compile_once_whatever_the_flags():
    X = np.random.default_rng(1).normal(size=(40, 3))
    for family in (GaussianFamily, fk.KMeansFamily):
        family.column_moments(X, np.empty(0))
        for (Xv,) in _flag_mixes(X):
            assert _compiles_nothing_new(gk.column_moments, family.column_moments, Xv, np.empty(0))


def test_prediction_compiles_once_whatever_the_flags_of_the_parameters():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    for covariance_type, kernel in (
        ("full", gk._log_prob_cholesky_tiled),
        ("diag", gk.log_prob_diagonal),
    ):
        with override(matmul_path="tiled4"):
            family = GaussianFamily(covariance_type, 2, 3, missing=False)
        means = X[:2].copy()
        if covariance_type == "full":
            covariances = np.array([np.eye(3), 2 * np.eye(3)])
            prec_chol = np.array([np.eye(3), np.eye(3) / np.sqrt(2)])
        else:
            covariances = np.ones((2, 3))
            prec_chol = np.ones((2, 3))
        weights = np.array([0.4, 0.6])
        family.log_prob(X, GaussianParams(weights, means, covariances, prec_chol))
        for Xv, mv, uv in _flag_mixes(X, means, prec_chol):
            params = GaussianParams(weights, mv, covariances, uv)
            assert _compiles_nothing_new(kernel, family.log_prob, Xv, params)


def test_bernoulli_passes_compile_once_whatever_the_flags():
    from fastem.families.bernoulli import BernoulliFamily
    from fastem.kernels import bernoulli as bk

    rng = np.random.default_rng(3)
    X = (rng.uniform(size=(40, 5)) < 0.5).astype(np.float64)
    X[::7, 1] = np.nan  # rows with missing entries: taken and augmented inside
    family = BernoulliFamily(2, 5)
    W = rng.normal(size=(5, 2))
    c = np.zeros(2)
    w = rng.uniform(0.5, 2.0, 40)
    family.scores(X, W, c)
    family.stats(X, w, W, c, bk.SOFT)
    for Xv, Wv, wv in _flag_mixes(X, W, w):
        assert _compiles_nothing_new(bk.dense_scores, family.scores, Xv, Wv, c)
        assert _compiles_nothing_new(bk.dense_stats, family.stats, Xv, wv, Wv, c, bk.SOFT)
