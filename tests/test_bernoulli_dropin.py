"""BernoulliMixture as a scikit-learn drop-in: ``binarize``, ``alpha=0``, estimator checks."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp, xlogy
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_fit_non_negative

import fastem
from fastem import BernoulliMixture
from fastem.families.bernoulli import LOG_FLOOR, BernoulliFamily
from fastem.families.binary import binary_csr, dense_binary_rows


def continuous(n_samples=300, n_features=10, seed=0):
    """Continuous rows whose binarisation at 0.5 is a clear two-cluster mixture."""
    rng = np.random.RandomState(seed)
    centre = np.where(np.arange(n_features) < n_features // 2, 0.8, 0.2)
    labels = rng.randint(2, size=n_samples)
    centres = np.where(labels[:, None] == 0, centre, 1.0 - centre)
    return centres + rng.uniform(-0.45, 0.45, (n_samples, n_features))


def quiet_fit(estimator, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, **kwargs)


def assert_same_model(a, b, rtol=0.0):
    assert_allclose(a.weights_, b.weights_, rtol=rtol, atol=0)
    assert_allclose(a.means_, b.means_, rtol=rtol, atol=0)
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol, atol=0)


# -- binarize ---------------------------------------------------------------------------
def test_default_is_binarize_zero_like_bernoulli_nb():
    bm = BernoulliMixture()
    assert bm.binarize == 0.0
    assert "binarize" in bm.get_params()
    assert "binarize : float or None, default=0.0" in BernoulliMixture.__doc__
    assert bm.__sklearn_tags__().input_tags.positive_only is False
    assert BernoulliMixture(binarize=None).__sklearn_tags__().input_tags.positive_only is True
    assert clone(BernoulliMixture(binarize=0.3)).binarize == 0.3


@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.8])
def test_dense_binarize_equals_fit_on_thresholded_rows(threshold):
    X = continuous()
    X[:7, 0] = threshold  # values equal to the threshold are zeros ("strictly above")
    binary = (X > threshold).astype(np.float64)
    assert binary[:7, 0].sum() == 0
    params = dict(n_components=2, random_state=0, tol=0, max_iter=20)
    ref = quiet_fit(BernoulliMixture(binarize=None, **params), binary)
    for data in (X, X.astype(np.float32), np.asfortranarray(X)):
        bm = quiet_fit(BernoulliMixture(binarize=threshold, **params), data)
        assert_same_model(bm, ref)
    # An integer array is thresholded as its values.
    counts = np.round(X * 3).astype(np.int64)
    bm = quiet_fit(BernoulliMixture(binarize=1.0, **params), counts)
    assert_same_model(bm, quiet_fit(BernoulliMixture(binarize=None, **params), counts > 1))


def test_prediction_methods_binarize_their_input():
    X = continuous()
    binary = (X > 0.5).astype(np.float64)
    bm = quiet_fit(BernoulliMixture(2, binarize=0.5, random_state=0), X)
    ref = clone(bm).set_params(binarize=None)
    for name in ("weights_", "means_", "n_features_in_", "converged_", "lower_bound_"):
        setattr(ref, name, getattr(bm, name))
    Y = continuous(seed=1)
    Y_binary = (Y > 0.5).astype(np.float64)
    assert_array_equal(bm.predict(Y), ref.predict(Y_binary))
    assert_array_equal(bm.predict_proba(Y), ref.predict_proba(Y_binary))
    assert_array_equal(bm.score_samples(Y), ref.score_samples(Y_binary))
    assert bm.score(Y) == ref.score(Y_binary)
    assert bm.bic(Y) == ref.bic(Y_binary)
    assert bm.aic(Y) == ref.aic(Y_binary)
    assert_array_equal(bm.predict(sp.csr_matrix(Y)), ref.predict(Y_binary))
    # Training data: the binarised data's labels.
    assert_array_equal(bm.predict(X), ref.predict(binary))
    with pytest.raises(ValueError, match="needs binary data"):
        ref.predict(Y)


def test_partial_fit_binarizes():
    X = continuous()
    a = BernoulliMixture(2, binarize=0.5, random_state=0)
    b = BernoulliMixture(2, binarize=None, random_state=0)
    for batch in np.array_split(np.arange(X.shape[0]), 3):
        a.partial_fit(X[batch])
        b.partial_fit((X[batch] > 0.5).astype(np.float64))
    assert_same_model(a, b)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "csr_array"])
def test_sparse_binarize_thresholds_stored_values(fmt):
    X = continuous()
    X[X < 0.3] = 0.0
    binary = (X > 0.5).astype(np.float64)
    params = dict(n_components=2, random_state=0, tol=0, max_iter=20)
    ref = quiet_fit(BernoulliMixture(binarize=None, **params), binary)
    container = {
        "csr": sp.csr_matrix,
        "csc": sp.csc_matrix,
        "coo": sp.coo_matrix,
        "csr_array": sp.csr_array,
    }[fmt]
    bm = quiet_fit(BernoulliMixture(binarize=0.5, **params), container(X))
    assert_same_model(bm, ref, rtol=1e-12)
    assert_array_equal(bm.predict(container(X)), ref.predict(binary))


def test_sparse_binarize_sums_duplicates_and_drops_explicit_zeros():
    # (0, 0) is stored twice as 0.3: their sum 0.6 is above 0.5; (1, 1) is an explicit 0.
    X = sp.coo_matrix(([0.3, 0.3, 0.0, 0.9, 0.2], ([0, 0, 1, 1, 2], [0, 0, 1, 2, 0])), (3, 3))
    rows = binary_csr(X.tocsr(), 0.5)
    assert_array_equal(rows.indptr, [0, 1, 2, 2])
    assert_array_equal(rows.indices, [0, 2])
    rows = binary_csr(X.tocsr(), 0.0)
    assert_array_equal(rows.indptr, [0, 1, 2, 3])
    assert_array_equal(rows.indices, [0, 2, 0])


def test_negative_threshold_dense_ok_sparse_rejected():
    X = continuous() - 0.5
    bm = quiet_fit(BernoulliMixture(2, binarize=-0.2, random_state=0), X)
    ref = quiet_fit(BernoulliMixture(2, binarize=None, random_state=0), X > -0.2)
    assert_same_model(bm, ref)
    with pytest.raises(ValueError, match=r"binarize=-0.2 is negative.*implicit zero"):
        BernoulliMixture(2, binarize=-0.2).fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match=r"binarize=-0.2 is negative"):
        bm.predict(sp.csr_matrix(X))


@pytest.mark.parametrize("source", ["chunks", "npy"])
def test_out_of_core_chunks_are_binarized(source, tmp_path):
    X = continuous(n_samples=400)
    params = dict(n_components=2, random_state=0, tol=0, max_iter=10, chunk_size=64)
    ref = quiet_fit(BernoulliMixture(binarize=None, **params), (X > 0.5).astype(np.float64))
    if source == "chunks":
        data = [X[i : i + 100] for i in range(0, 400, 100)]
    else:
        data = str(tmp_path / "x.npy")
        np.save(data, X)
    bm = quiet_fit(BernoulliMixture(binarize=0.5, **params), data)
    assert_allclose(bm.means_, ref.means_, rtol=1e-12)
    assert_allclose(bm.weights_, ref.weights_, rtol=1e-12)
    with pytest.raises(ValueError, match="needs binary data"):
        BernoulliMixture(2, binarize=None).fit(data)


def test_bool_rows_and_thresholds():
    X = np.array([[True, False], [False, True]])
    assert dense_binary_rows(X, 0.0).base is not None  # a view, no copy
    assert_array_equal(dense_binary_rows(X, 0.5), X)
    assert_array_equal(dense_binary_rows(X, 1.0), np.zeros((2, 2)))
    assert_array_equal(dense_binary_rows(X, -1.0), np.ones((2, 2)))
    assert dense_binary_rows(X, None).dtype == np.uint8


def test_binarize_makes_no_float_copy():
    X = np.random.RandomState(0).uniform(size=(4000, 250))  # 8 MB of float64
    tracemalloc.start()
    try:
        rows = dense_binary_rows(X, 0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows.dtype == np.uint8 and rows.flags.c_contiguous
    assert_array_equal(rows, X > 0.5)
    # The uint8 rows themselves (1 MB) and nothing of float size.
    assert peak < 1.5 * X.size, peak


def test_binarize_none_keeps_the_clear_errors():
    X = continuous()
    bm = BernoulliMixture(2, binarize=None)
    message = r"needs binary data \(only 0 and 1\): \d+ entries are neither 0 nor 1, the first"
    with pytest.raises(ValueError, match=message):
        bm.fit(X)
    with pytest.raises(ValueError, match=message):
        bm.fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match="Negative values in data passed to BernoulliMixture"):
        bm.fit(X - 0.5)
    # scikit-learn's own check of that message, which runs for positive_only estimators.
    check_fit_non_negative("BernoulliMixture", bm)


@pytest.mark.parametrize("bad", [np.nan, np.inf, "0.5"])
def test_binarize_parameter_validation(bad):
    with pytest.raises(ValueError, match="binarize"):
        BernoulliMixture(binarize=bad).fit(np.eye(4))


@pytest.mark.parametrize("binarize", [0.25, None])
def test_save_load_keeps_binarize(binarize, tmp_path):
    X = continuous()
    bm = quiet_fit(BernoulliMixture(2, binarize=0.25, random_state=0), X)
    bm.set_params(binarize=binarize)
    path = tmp_path / "model.npz"
    bm.save(path)
    loaded = fastem.load(path)
    assert loaded.binarize == binarize
    Y = (X > 0.25).astype(np.float64)
    assert_array_equal(loaded.score_samples(Y), bm.score_samples(Y))


# -- alpha = 0: maximum likelihood --------------------------------------------------------
def sparse_structured(n_samples=400, seed=0):
    """Two components, each with features that are never on; one feature never on at all
    (column -2) and one always on (column -1)."""
    rng = np.random.RandomState(seed)
    p = np.array(
        [
            [0.8, 0.7, 0.6, 0.9, 0.0, 0.0, 0.0, 0.3, 0.0, 1.0],
            [0.0, 0.0, 0.1, 0.0, 0.7, 0.8, 0.9, 0.6, 0.0, 1.0],
        ]
    )
    labels = rng.randint(2, size=n_samples)
    return (rng.uniform(size=(n_samples, p.shape[1])) < p[labels]).astype(np.float64)


def ml_em(X, weights, means, n_iter):
    """Plain NumPy maximum-likelihood EM (0 log 0 = 0); the mean log-likelihood per step."""
    bounds = []
    for _ in range(n_iter):
        with np.errstate(divide="ignore"):
            log_joint = (
                xlogy(X[:, None, :], means[None]) + xlogy(1.0 - X[:, None, :], 1.0 - means[None])
            ).sum(axis=2) + np.log(weights)
        norm = logsumexp(log_joint, axis=1)
        bounds.append(norm.mean())
        resp = np.exp(log_joint - norm[:, None])
        counts = resp.sum(axis=0)
        means = (resp.T @ X) / counts[:, None]
        weights = counts / counts.sum()
    return weights, means, bounds


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_alpha_zero_matches_plain_ml_em(container):
    X = sparse_structured()
    w0 = np.array([0.45, 0.55])
    m0 = np.array([[0.6, 0.5, 0.5, 0.6, 0.3, 0.3, 0.4, 0.5, 0.2, 0.7], [0.3] * 4 + [0.6] * 6])
    ref_w, ref_m, ref_bounds = ml_em(X, w0, m0, 30)
    bm = BernoulliMixture(
        2, alpha=0, weights_init=w0, means_init=m0, tol=0, max_iter=30, binarize=None
    )
    quiet_fit(bm, container(X))
    assert_allclose(bm.means_, ref_m, atol=1e-10, rtol=0)
    assert_allclose(bm.weights_, ref_w, atol=1e-10, rtol=0)
    assert_allclose(bm.lower_bounds_, ref_bounds, atol=1e-10, rtol=0)
    # Exact 0 (a sum of zeros is exact in any order) and 1: CSR rows add a row's
    # responsibility to the count and to the sums of its ones in the same order,
    # dense rows get the sums from a matrix product, within rounding of the count.
    assert_array_equal(bm.means_[:, -2], 0.0)
    if container is np.asarray:
        assert np.all(bm.means_[:, -1] >= 1.0 - 1e-13)
    else:
        assert_array_equal(bm.means_[:, -1], 1.0)
    # Finite lower bounds that never decrease (beyond round-off).
    assert np.all(np.isfinite(bm.lower_bounds_))
    assert np.all(np.diff(bm.lower_bounds_) >= -1e-12)
    # The default alpha keeps every probability inside (0, 1).
    smooth = quiet_fit(clone(bm).set_params(alpha=1e-10), container(X))
    assert np.all((smooth.means_ > 0) & (smooth.means_ < 1))


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_alpha_zero_one_step_from_the_same_start(container):
    X = sparse_structured(seed=3)
    w0, m0 = np.array([0.5, 0.5]), np.full((2, X.shape[1]), 0.5)
    m0[0, :4] = 0.7
    ref_w, ref_m, ref_bounds = ml_em(X, w0, m0, 1)
    bm = BernoulliMixture(2, alpha=0, weights_init=w0, means_init=m0, max_iter=1)
    quiet_fit(bm, container(X))
    assert_allclose(bm.means_, ref_m, atol=1e-10, rtol=0)
    assert_allclose(bm.weights_, ref_w, atol=1e-10, rtol=0)
    assert_allclose(bm.lower_bound_, ref_bounds[0], atol=1e-10, rtol=0)
    assert_array_equal(bm.means_[:, -2], 0.0)
    if container is np.asarray:  # see test_alpha_zero_matches_plain_ml_em
        assert np.all(bm.means_[:, -1] >= 1.0 - 1e-13)
    else:
        assert_array_equal(bm.means_[:, -1], 1.0)


def exact_log_density(X, weights, means):
    """``log p(x)`` by the textbook formula with 0 log 0 = 0 (-inf for impossible rows)."""
    with np.errstate(divide="ignore"):
        log_joint = (
            xlogy(X[:, None, :], means[None]) + xlogy(1.0 - X[:, None, :], 1.0 - means[None])
        ).sum(axis=2) + np.log(weights)
    return logsumexp(log_joint, axis=1)


def test_alpha_zero_parameters_handed_to_kernels_are_finite():
    X = sparse_structured()
    bm = quiet_fit(BernoulliMixture(2, alpha=0, random_state=0), X)
    params = bm._params_from_attributes()
    assert np.all(np.isfinite(params.log_odds)) and np.all(np.isfinite(params.log_complement))
    assert params.log_odds.min() >= LOG_FLOOR and params.log_odds.max() <= -LOG_FLOOR
    family = BernoulliFamily(2, X.shape[1])
    stats = family.estep_stats(dense_binary_rows(X), np.empty(0), params)
    new = family.m_step(stats, 0)
    assert np.all(np.isfinite(new.log_odds)) and np.all(np.isfinite(new.means))


def test_alpha_zero_predictions_of_impossible_rows():
    X = sparse_structured()
    bm = quiet_fit(BernoulliMixture(2, alpha=0, random_state=0, binarize=None), X)
    first = int(np.argmax(bm.means_[:, 0]))  # the component where feature 0 can be on
    assert bm.means_[1 - first, 0] == 0.0
    Y = np.zeros((3, X.shape[1]))
    Y[:, -1] = 1.0
    Y[0, [0, 1]] = 1.0  # possible only under `first`
    Y[1, [0, 5]] = 1.0  # feature 5 is never on under `first`: impossible under both
    Y[2, -1] = 0.0  # the last feature is always on: impossible under both
    for data in (Y, sp.csr_matrix(Y)):
        proba = bm.predict_proba(data)
        assert proba[0, 1 - first] == 0.0 and proba[0, first] == 1.0
        assert np.all(np.isfinite(proba))
        assert_allclose(proba.sum(axis=1), 1.0)
        log_density = bm.score_samples(data)
        assert np.isfinite(log_density[0])
        assert log_density[1] == -np.inf and log_density[2] == -np.inf
        assert bm.predict(data)[0] == first
    # Possible rows get the plain formula (the clamped logarithms cost round-off only).
    assert_array_equal(exact_log_density(Y, bm.weights_, bm.means_)[1:], -np.inf)
    assert_allclose(
        bm.score_samples(Y)[0], exact_log_density(Y, bm.weights_, bm.means_)[0], rtol=1e-12
    )
    assert_allclose(bm.score_samples(X), exact_log_density(X, bm.weights_, bm.means_), rtol=1e-12)
    assert bm.score(Y) == -np.inf
    assert np.isfinite(bm.score(X)) and np.isfinite(bm.bic(X)) and np.isfinite(bm.aic(X))


@pytest.mark.parametrize("alpha", [0, 1e-10])
def test_empty_component(alpha):
    X = sparse_structured()
    assert X.sum(axis=1).min() >= 2  # every row has two ones: impossible under 1e-300 ** 2
    m0 = np.vstack(
        [np.full(X.shape[1], 0.5), np.full(X.shape[1], 0.4), np.full(X.shape[1], 1e-300)]
    )
    bm = quiet_fit(
        BernoulliMixture(3, alpha=alpha, means_init=m0, weights_init=[0.4, 0.4, 0.2], tol=0),
        X,
        sample_weight=np.full(X.shape[0], 2.0),
    )
    assert bm.weights_[2] == 0.0
    assert_array_equal(bm.means_[2], 0.5)
    assert np.all(np.isfinite(bm.weights_)) and np.all(np.isfinite(bm.means_))
    assert np.all(np.isfinite(bm.lower_bounds_))
    assert np.all(np.isfinite(bm.predict_proba(X))) and np.all(bm.predict(X) != 2)
    # Online EM and warm starts go on from the empty component.
    bm.set_params(warm_start=True, max_iter=3)
    quiet_fit(bm, X)
    assert bm.weights_[2] == 0.0 and np.all(np.isfinite(bm.lower_bounds_))


def test_alpha_zero_partial_fit_and_online():
    X = sparse_structured()
    bm = BernoulliMixture(2, alpha=0, random_state=0)
    for batch in np.array_split(np.arange(X.shape[0]), 4):
        bm.partial_fit(X[batch])
        assert np.all(np.isfinite(bm.means_)) and np.isfinite(bm.lower_bound_)
    online = quiet_fit(BernoulliMixture(2, alpha=0, random_state=0), X, mode="online")
    assert np.all(np.isfinite(online.means_)) and np.all(np.isfinite(online.lower_bounds_))


def test_alpha_validation_and_means_init():
    X = sparse_structured()
    BernoulliMixture(2, alpha=0).fit(X)  # accepted
    for alpha in (-1.0, np.nan, np.inf, "small"):
        with pytest.raises(ValueError, match="alpha"):
            BernoulliMixture(2, alpha=alpha).fit(X)
    # means_init stays strictly inside (0, 1), also with alpha=0 (as documented).
    m0 = np.full((2, X.shape[1]), 0.5)
    m0[0, 0] = 0.0
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        BernoulliMixture(2, alpha=0, means_init=m0).fit(X)


# -- what scikit-learn's sparse-container checks exercise ------------------------------------
# (tests/test_estimator_checks.py runs every check; those two stop on a scikit-learn bug
# after fit, predict and predict_proba, so the rest of their work is done here.)


@pytest.mark.filterwarnings("ignore:Can't check dok sparse matrix")
@pytest.mark.parametrize("n_components", [1, 2])
@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array])
def test_what_the_sparse_checks_exercise(n_components, container):
    # _check_estimator_sparse_container's data and formats, with the mixture's shapes.
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(40, 3))
    X[X < 0.6] = 0
    base = container(X)
    dense = quiet_fit(BernoulliMixture(n_components, random_state=0), X)
    for fmt in ("csr", "csc", "coo", "dok", "lil", "dia", "bsr"):
        data = base.asformat(fmt)
        for index_dtype in (np.int32, np.int64) if fmt in ("csr", "csc", "coo") else (None,):
            if index_dtype is not None:
                data = data.copy()
                if fmt == "coo":
                    data.coords = tuple(c.astype(index_dtype) for c in data.coords)
                else:
                    data.indices = data.indices.astype(index_dtype)
                    data.indptr = data.indptr.astype(index_dtype)
            bm = quiet_fit(BernoulliMixture(n_components, random_state=0), data)
            assert bm.predict(data).shape == (40,)
            assert bm.predict_proba(data).shape == (40, n_components)
            assert_allclose(bm.means_, dense.means_, rtol=1e-12)
