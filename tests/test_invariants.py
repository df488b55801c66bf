"""Properties every fit must have, whatever the data, threads, blocks or weights."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem.families.gaussian
import reference as ref
from fastem import GaussianMixture
from fastem._drivers import exact_em
from fastem._moments import data_moments
from fastem._settings import override
from fastem._settings import settings as fastem_settings
from fastem._sources import ArraySource
from fastem._threads import kernel_threads, row_groups
from fastem.families.gaussian import GaussianFamily, GaussianParams
from matmul_paths import GAUSSIAN_PATHS, pinned_matmul_path
from synthetic import make_blobs

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def _fit(X, sample_weight=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**kwargs).fit(X, sample_weight=sample_weight)


def _assert_same_model(a, b, rtol):
    for name in FITTED:
        ref.assert_rel_close(getattr(a, name), getattr(b, name), rtol, name)
    assert a.n_iter_ == b.n_iter_
    assert a.converged_ == b.converged_
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol)


def _variances(gm):
    cov = np.asarray(gm.covariances_, dtype=np.float64)
    if gm.covariance_type in ("full", "tied"):
        return np.diagonal(cov, axis1=-2, axis2=-1)
    return cov


def _inits(X, n_components, covariance_type, seed=0):
    rng = np.random.RandomState(seed)
    weights, _, covariances = ref.random_params(rng, n_components, X.shape[1], covariance_type)
    return {
        "weights_init": weights,
        "means_init": X[rng.choice(X.shape[0], n_components, replace=False)],
        "precisions_init": ref.precisions(covariances, covariance_type),
    }


# -- EM never lowers the likelihood ---------------------------------------------------------
@settings(
    deadline=None,
    max_examples=40,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_samples=st.integers(15, 80),
    n_features=st.integers(1, 3),
    n_components=st.integers(1, 4),
    covariance_type=st.sampled_from(ref.COVARIANCE_TYPES),
    separation=st.floats(0.0, 8.0),
    offset=st.floats(-1e4, 1e4),
    weighted=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_log_likelihood_never_decreases(
    seed, n_samples, n_features, n_components, covariance_type, separation, offset, weighted, dtype
):
    rng = np.random.RandomState(seed)
    X, _ = make_blobs(n_samples, n_features, 3, separation=separation, seed=seed)
    X = (X + offset).astype(dtype)
    w = rng.uniform(0.1, 3.0, n_samples) if weighted else None
    # reg_covar=0: EM's guarantee holds for the exact M-step; adding reg_covar to the
    # covariances is not an M-step of any fixed objective and may lower it slightly.
    gm = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        reg_covar=0.0,
        tol=1e-9,
        max_iter=60,
        init_params="random",
        random_state=seed,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm.fit(X, sample_weight=w)
    except ValueError as error:
        # A component collapsed onto too few rows: a legitimate end without reg_covar.
        assert "reg_covar" in str(error)
        reject()
    bounds = np.asarray(gm.lower_bounds_)
    assert np.all(np.isfinite(bounds))
    # Slack for round-off only: sums of a few dozen float64 terms, or for float32
    # rows (float32 blocks: every log-density rounded to float32) a few float32 ulps.
    eps = 1e-12 if dtype == np.float64 else 16 * np.finfo(np.float32).eps
    slack = eps * (1.0 + np.abs(bounds).max())
    assert np.all(np.diff(bounds) >= -slack), np.diff(bounds).min()


# -- threads and blocks change the summation order only --------------------------------------
@pytest.fixture(scope="module")
def two_groups_of_rows():
    # Kernels split rows into one group per thread only above a minimum group size, so
    # threads can change the summation order only with this many rows.
    n_samples = 2 * fastem_settings.min_rows_per_group + 1000
    X, _ = make_blobs(n_samples=n_samples, n_features=3, n_components=3, seed=4)
    with kernel_threads(2) as n_threads:
        assert row_groups(n_samples) == min(2, n_threads)
    return X + 20.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_n_jobs_does_not_change_the_fit(two_groups_of_rows, covariance_type, dtype):
    X = two_groups_of_rows.astype(dtype)
    kwargs = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, random_state=0)
    one = _fit(X, n_jobs=1, **kwargs)
    two = _fit(X, n_jobs=2, **kwargs)
    _assert_same_model(one, two, 1e-10)
    np.testing.assert_allclose(one.lower_bounds_, two.lower_bounds_, rtol=1e-12)
    np.testing.assert_array_equal(one.predict(X), two.predict(X))
    np.testing.assert_allclose(one.score_samples(X), two.score_samples(X), rtol=1e-6)


@pytest.fixture(scope="module")
def big_blobs():
    X, _ = make_blobs(n_samples=600, n_features=4, n_components=4, separation=5.0, seed=4)
    return X + 20.0


def _em_with_family(X, w, params, covariance_type, block_size, path, n_iter=4):
    source = ArraySource(X, w)
    with kernel_threads(None):
        shift = data_moments(source, GaussianFamily.column_moments)[0]
        with pinned_matmul_path(path) as pinned, override(gaussian_block_rows=block_size):
            family = GaussianFamily(
                covariance_type, params.means.shape[0], X.shape[1], X.dtype, shift
            )
        assert (family.matmul_path, family.block_size) == (pinned, block_size)
        stats = family.estep_stats(X, w, params)
        params, bounds, _, _ = exact_em(
            family, source, params, reg=1e-6, tol=0.0, max_iter=n_iter, lower_bound=-np.inf
        )
    return stats, params, bounds


# Each path blocks its own way (the tiles round rows per block up to 24, so blocks of 1
# and 7 rows become 24, and pad the statistics to sixes): blocks and groups must not
# show on any.
@GAUSSIAN_PATHS
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_block_size_and_row_groups_do_not_change_the_fit(
    big_blobs, covariance_type, weighted, path, monkeypatch
):
    X = big_blobs
    w = np.random.RandomState(0).uniform(0.0, 2.0, X.shape[0]) if weighted else np.empty(0)
    weights, means, covariances = ref.random_params(
        np.random.RandomState(1), 4, X.shape[1], covariance_type
    )
    means += X.mean(axis=0)
    start = GaussianParams(
        weights, means, covariances, ref.precisions_cholesky(covariances, covariance_type)
    )
    # Row groups are normally the thread count (capped for small inputs); any count must
    # give the same sums, whatever the machine this runs on.
    monkeypatch.setattr(fastem.families.gaussian, "row_groups", lambda n_rows: 1)
    base_stats, base, base_bounds = _em_with_family(X, w, start, covariance_type, 256, path)
    for block_size, n_groups in [(1, 1), (7, 2), (7, 3), (256, 2), (4096, 1), (4096, 2), (99, 5)]:
        monkeypatch.setattr(fastem.families.gaussian, "row_groups", lambda n_rows, g=n_groups: g)
        stats, params, bounds = _em_with_family(X, w, start, covariance_type, block_size, path)
        for name, array in stats.arrays.items():
            ref.assert_rel_close(array, base_stats.arrays[name], 1e-12, name)
        assert stats.log_likelihood == pytest.approx(base_stats.log_likelihood, rel=1e-12)
        for name in ("weights", "means", "covariances", "precisions_cholesky"):
            ref.assert_rel_close(getattr(params, name), getattr(base, name), 1e-10, name)
        np.testing.assert_allclose(bounds, base_bounds, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_matmul_path_does_not_change_the_fit(covariance_type, weighted):
    # Loops, BLAS and the register tiles differ only in the order of their float64 sums:
    # from the same start, whole fits agree to round-off. On the tiled path D = 5 pads
    # the statistics (full 21 -> 24, diag 11 -> 12, spherical 7 -> 12) and the tied
    # precision factor (5 -> 8 columns), K = 3 pads to 4, and 700 rows end in a
    # partial block.
    X, _ = make_blobs(n_samples=700, n_features=5, n_components=3, separation=5.0, seed=11)
    X += 20.0
    w = np.random.RandomState(2).uniform(0.2, 2.0, X.shape[0]) if weighted else None
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=10,
        **_inits(X, 3, covariance_type, seed=3),
    )
    fits = []
    for path in ("loops", "blas", "tiled"):
        gm = GaussianMixture(**kwargs)
        with pinned_matmul_path(path, lambda gm=gm: gm._make_family(X.shape[1])):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits.append(gm.fit(X, sample_weight=w))
    loops, *others = fits
    for other in others:
        _assert_same_model(other, loops, 1e-10)
        np.testing.assert_allclose(other.lower_bounds_, loops.lower_bounds_, rtol=1e-10)
        assert other.n_iter_ == 10


# -- weights mean what they say ---------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_zero_weight_rows_are_inert(covariance_type):
    X, _ = make_blobs(n_samples=500, n_features=3, n_components=3, seed=2)
    rng = np.random.RandomState(3)
    w = rng.uniform(0.2, 2.0, X.shape[0])
    # Rows of weight 0, some far away, interleaved with the others.
    junk = rng.normal(scale=50.0, size=(120, 3))
    X_all = np.vstack([X, junk])
    w_all = np.concatenate([w, np.zeros(len(junk))])
    order = rng.permutation(len(X_all))
    X_all, w_all = X_all[order], w_all[order]

    for init in ({"random_state": 0}, _inits(X, 3, covariance_type)):
        kwargs = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, **init)
        with_zeros = _fit(X_all, w_all, **kwargs)
        dropped = _fit(X_all[w_all > 0], w_all[w_all > 0], **kwargs)
        _assert_same_model(with_zeros, dropped, 1e-10)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_integer_weights_equal_duplicated_rows(covariance_type):
    X, _ = make_blobs(n_samples=400, n_features=2, n_components=3, seed=5)
    counts = np.random.RandomState(6).randint(0, 4, X.shape[0])
    repeated = np.repeat(X, counts, axis=0)

    for init in ({"random_state": 1}, _inits(repeated, 3, covariance_type)):
        kwargs = dict(n_components=3, covariance_type=covariance_type, tol=1e-8, **init)
        weighted = _fit(X, counts.astype(float), **kwargs)
        duplicated = _fit(repeated, **kwargs)
        _assert_same_model(weighted, duplicated, 1e-10)
        assert weighted.score(X, sample_weight=counts) == pytest.approx(
            duplicated.score(repeated), rel=1e-10
        )


# -- float32 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_float32_far_from_origin_two_points(covariance_type):
    """scikit-learn #30382: [[9999], [0]] in float32 gave variances of about -1."""
    X = np.array([[9999.0], [0.0]])
    kwargs = dict(n_components=2, covariance_type=covariance_type, reg_covar=0.1, random_state=0)
    fit64 = _fit(X, **kwargs)
    fit32 = _fit(X.astype(np.float32), **kwargs)
    assert np.all(_variances(fit32) > 0)
    for name in FITTED:
        ref.assert_rel_close(getattr(fit32, name), getattr(fit64, name), 1e-3, name)
        assert getattr(fit32, name).dtype == np.float32


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_float32_far_from_origin_agrees_with_float64(covariance_type):
    X, _ = make_blobs(n_samples=600, n_features=2, n_components=2, separation=4.0, seed=7)
    X32 = (X + 1e4).astype(np.float32)
    kwargs = dict(n_components=2, covariance_type=covariance_type, tol=1e-8, random_state=0)
    fit32 = _fit(X32, **kwargs)
    # The same float32 values in float64: only the arithmetic differs.
    fit64 = _fit(X32.astype(np.float64), **kwargs)
    order32, order64 = np.argsort(fit32.means_[:, 0]), np.argsort(fit64.means_[:, 0])
    for name in FITTED:
        a, b = getattr(fit32, name), getattr(fit64, name)
        if not (covariance_type == "tied" and name not in ("weights_", "means_")):
            a, b = a[order32], b[order64]
        ref.assert_rel_close(a, b, 1e-3, name)
    # Unit-spread clusters: the variances are about 1, not the 1e-3 of float32 resolution.
    assert np.all(_variances(fit32) > 0.1)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_float32_in_float32_out(covariance_type):
    X, _ = make_blobs(n_samples=300, n_features=3, n_components=2, seed=8)
    X32 = X.astype(np.float32)
    gm = _fit(X32, n_components=2, covariance_type=covariance_type, random_state=0)
    for name in FITTED:
        assert getattr(gm, name).dtype == np.float32, name
    assert gm.predict_proba(X32).dtype == np.float32
    assert gm.score_samples(X32).dtype == np.float32
    assert isinstance(gm.lower_bound_, float)
    gm64 = _fit(X, n_components=2, covariance_type=covariance_type, random_state=0)
    for name in FITTED:
        assert getattr(gm64, name).dtype == np.float64, name


# -- degenerate data, as scikit-learn handles it ------------------------------------------------
def _sorted_rows(a):
    return a[np.lexsort(a.T[::-1])]


def _fit_both(X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return (
            GaussianMixture(**kwargs).fit(X),
            SkGaussianMixture(**kwargs).fit(X),
        )


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_duplicated_points_like_sklearn(covariance_type):
    distinct = np.array([[0.0, 0.0], [5.0, 1.0], [2.0, 7.0]])
    X = np.repeat(distinct, 30, axis=0)
    ours, theirs = _fit_both(X, n_components=3, covariance_type=covariance_type, random_state=0)
    # Every component sits on one of the points, with covariance reg_covar.
    np.testing.assert_allclose(_sorted_rows(ours.means_), _sorted_rows(theirs.means_), atol=1e-8)
    np.testing.assert_allclose(np.sort(ours.weights_), np.sort(theirs.weights_), atol=1e-8)
    np.testing.assert_allclose(
        np.sort(_variances(ours), axis=None), np.sort(_variances(theirs), axis=None), rtol=1e-6
    )
    assert np.all(np.isfinite(ours.score_samples(X)))


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_constant_feature_like_sklearn(covariance_type):
    X, _ = make_blobs(n_samples=300, n_features=2, n_components=2, separation=12.0, seed=9)
    X = np.column_stack([X, np.full(len(X), 3.0)])
    ours, theirs = _fit_both(
        X, n_components=2, covariance_type=covariance_type, tol=1e-10, random_state=0
    )
    np.testing.assert_allclose(_sorted_rows(ours.means_), _sorted_rows(theirs.means_), rtol=1e-6)
    np.testing.assert_allclose(ours.means_[:, 2], 3.0, rtol=1e-12)
    # The constant column has variance reg_covar alone (spherical mixes it with the others).
    if covariance_type != "spherical":
        np.testing.assert_allclose(_variances(ours)[..., 2], 1e-6, rtol=1e-6)
    np.testing.assert_allclose(
        np.sort(_variances(ours), axis=0), np.sort(_variances(theirs), axis=0), rtol=1e-6
    )
    assert ours.lower_bound_ == pytest.approx(theirs.lower_bound_, rel=1e-8)


@pytest.mark.parametrize("covariance_type", ref.COVARIANCE_TYPES)
def test_as_many_components_as_rows_like_sklearn(covariance_type):
    X = np.random.RandomState(10).normal(size=(6, 2))
    ours, theirs = _fit_both(X, n_components=6, covariance_type=covariance_type, random_state=0)
    np.testing.assert_allclose(_sorted_rows(ours.means_), _sorted_rows(X), rtol=1e-10)
    np.testing.assert_allclose(_sorted_rows(theirs.means_), _sorted_rows(X), rtol=1e-10)
    np.testing.assert_allclose(ours.weights_, 1 / 6, rtol=1e-10)
    np.testing.assert_allclose(_variances(ours), _variances(theirs), rtol=1e-6)
    np.testing.assert_array_equal(np.sort(ours.predict(X)), np.arange(6))
