"""What every model family must satisfy, one suite for all of them.

Each entry of :data:`FAMILIES` describes a family with its estimator: how to
build the estimator, small seeded data, the family object as the estimator
builds it, a start, and a plain NumPy/SciPy reference for one EM step
(``reference.py``, ``bernoulli_reference.py``). Every property below is
checked for every entry, so a new family is tested by adding one entry.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import bernoulli_reference as bref
import fastem
import reference as gref
from bernoulli_common import STRICT
from fastem import BernoulliMixture, GaussianMixture
from fastem._moments import data_moments
from fastem._settings import settings
from fastem._sources import ArraySource
from fastem.families import Family
from fastem.families.bernoulli import BernoulliFamily, BernoulliParams
from fastem.families.binary import binary_csr, dense_binary_rows
from fastem.families.gaussian import GaussianFamily, GaussianParams
from synthetic import make_binary, make_blobs

N_COMPONENTS = 3
N_SAMPLES = 300
REG_COVAR = 1e-6
ALPHA = 0.3  # large enough for the prior to show in the Bernoulli M-step


@dataclass(frozen=True)
class Entry:
    """A family under test, with everything the properties need.

    Attributes
    ----------
    make_estimator : callable
        ``make_estimator(**params)``: the estimator, with the entry's
        regularisation unless ``params`` sets it.
    make_data : callable
        ``make_data()``: small seeded data, as a user passes it to ``fit``.
    rows : callable
        ``rows(X)``: the data as the family reads it (the estimator's validation).
    make_family : callable
        ``make_family(rows, sample_weight)``: the family as the estimator builds it
        for a fit of these rows (centred on them where the family uses a shift).
    start : callable
        ``start(X)``: ``(params, init_params, reference_start)``: the same start
        as family parameters, as estimator parameters (``means_init``, ...) and
        as the reference's arguments.
    reference_step : callable
        ``reference_step(X, sample_weight or None, reference_start)``:
        ``(expected, mean_log_likelihood)``, the parameters after one EM step
        by name (as the family's parameters name them) and the weighted mean
        log-likelihood before it.
    bad : callable
        ``bad(X)``: ``(X with one bad value, regex naming the problem)``.
    reg : float
        The regularisation handed to ``family.m_step`` (the estimator's).
    exact_em : dict
        Estimator parameters under which the M-step maximises the likelihood
        itself, so that EM can never lower it.
    chunk_list : bool
        Whether a list of row chunks is an input of the estimator.
    """

    make_estimator: Callable
    make_data: Callable
    rows: Callable
    make_family: Callable
    start: Callable
    reference_step: Callable
    bad: Callable
    reg: float
    exact_em: dict
    chunk_list: bool


# -- Gaussian -------------------------------------------------------------------------------
def _gaussian_data():
    X, _ = make_blobs(n_samples=N_SAMPLES, n_features=3, n_components=3, separation=5.0, seed=3)
    return X + 10.0  # off the origin: the shift must keep its digits


def _gaussian_family(covariance_type):
    def make(rows, sample_weight):
        source = ArraySource(rows, sample_weight)
        shift = data_moments(source, GaussianFamily.column_moments)[0]
        return GaussianFamily(covariance_type, N_COMPONENTS, rows.shape[1], rows.dtype, shift)

    return make


def _gaussian_start(covariance_type):
    def start(X):
        rng = np.random.RandomState(4)
        weights, means, covariances = gref.random_params(
            rng, N_COMPONENTS, X.shape[1], covariance_type
        )
        means = means * 0.5 + X.mean(axis=0)
        params = GaussianParams(
            weights, means, covariances, gref.precisions_cholesky(covariances, covariance_type)
        )
        init = {
            "weights_init": weights,
            "means_init": means,
            "precisions_init": gref.precisions(covariances, covariance_type),
        }
        return params, init, (weights, means, covariances)

    return start


def _gaussian_reference_step(covariance_type):
    def step(X, sample_weight, reference_start):
        weights, means, covariances = reference_start
        return gref.em_step(
            X, sample_weight, weights, means, covariances, covariance_type, REG_COVAR
        )

    return step


def _with_inf(X):
    # NaN is a missing value for the mixtures; infinity stays an error.
    X = np.array(X, dtype=np.float64)
    X[7, 1] = np.inf
    return X, "infinity"


def gaussian_entry(covariance_type):
    """The Gaussian family with one covariance type."""

    def make_estimator(**params):
        params = {"reg_covar": REG_COVAR, **params}
        return GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, **params)

    return Entry(
        make_estimator=make_estimator,
        make_data=_gaussian_data,
        rows=lambda X: np.ascontiguousarray(X, dtype=np.float64),
        make_family=_gaussian_family(covariance_type),
        start=_gaussian_start(covariance_type),
        reference_step=_gaussian_reference_step(covariance_type),
        bad=_with_inf,
        reg=REG_COVAR,
        # reg_covar added to the covariances is no M-step of a fixed objective.
        exact_em={"reg_covar": 0.0},
        chunk_list=True,
    )


# -- Bernoulli ------------------------------------------------------------------------------
def _bernoulli_family(rows, sample_weight):
    return BernoulliFamily(N_COMPONENTS, rows.shape[1])


def _bernoulli_start(X):
    rng = np.random.default_rng(5)
    weights = rng.dirichlet(np.ones(N_COMPONENTS))
    means = rng.uniform(0.2, 0.8, (N_COMPONENTS, X.shape[1]))
    init = {"weights_init": weights, "means_init": means}
    return BernoulliParams.from_means(weights, means), init, (weights, means)


def _bernoulli_reference_step(X, sample_weight, reference_start):
    weights, means = reference_start
    new_weights, new_means, ll = bref.em_step(X, weights, means, ALPHA, sample_weight)
    return {"weights": new_weights, "means": new_means}, ll


def _with_a_two(X):
    if sp.issparse(X):
        X = X.tolil()
        X[7, 1] = 2.0
        return X.tocsr(), r"neither 0 nor 1.*\(row 7, column 1\) with value 2"
    X = np.array(X, dtype=np.float64)
    X[7, 1] = 2.0
    return X, r"neither 0 nor 1.*\(row 7, column 1\) with value 2"


def bernoulli_entry(sparse):
    """The Bernoulli family on dense rows or on CSR rows."""

    def make_estimator(**params):
        params = {"alpha": ALPHA, **STRICT, **params}
        return BernoulliMixture(N_COMPONENTS, **params)

    def make_data():
        X = make_binary(n_samples=N_SAMPLES, n_features=12, n_components=3, seed=6)[0]
        return sp.csr_matrix(X) if sparse else X

    return Entry(
        make_estimator=make_estimator,
        make_data=make_data,
        rows=binary_csr if sparse else dense_binary_rows,
        make_family=_bernoulli_family,
        start=_bernoulli_start,
        reference_step=_bernoulli_reference_step,
        bad=_with_a_two,
        reg=ALPHA,
        # The default alpha: a prior of negligible mass (1e-10 pseudo-counts).
        exact_em={"alpha": 1e-10},
        # Out-of-core chunks are dense; sparse rows are chunked with chunk_size.
        chunk_list=not sparse,
    )


FAMILIES = {
    "gaussian-full": gaussian_entry("full"),
    "gaussian-tied": gaussian_entry("tied"),
    "gaussian-diag": gaussian_entry("diag"),
    "gaussian-spherical": gaussian_entry("spherical"),
    "bernoulli-dense": bernoulli_entry(sparse=False),
    "bernoulli-csr": bernoulli_entry(sparse=True),
}

every_family = pytest.mark.parametrize("entry", list(FAMILIES.values()), ids=list(FAMILIES))


# -- helpers ----------------------------------------------------------------------------------
def _quiet_fit(estimator, X, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, **fit_params)


def _fitted(estimator):
    """Fitted array attributes by name (``weights_``, ``means_``, ...)."""
    return {
        name: np.asarray(value)
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_") and isinstance(value, np.ndarray)
    }


def _assert_same_fit(a, b, rtol):
    fitted_a, fitted_b = _fitted(a), _fitted(b)
    assert fitted_a.keys() == fitted_b.keys()
    assert {"weights_", "means_"} <= fitted_a.keys()
    for name, value in fitted_a.items():
        gref.assert_rel_close(value, fitted_b[name], rtol, name)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


# -- (a) one EM step through the family contract matches the reference -----------------------
@every_family
@pytest.mark.parametrize("weighted", [False, True])
def test_one_em_step_matches_the_reference(entry, weighted):
    X = entry.make_data()
    rows = entry.rows(X)
    sample_weight = np.random.RandomState(7).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    w = np.empty(0) if sample_weight is None else sample_weight
    family = entry.make_family(rows, w)
    params, _, reference_start = entry.start(X)

    stats = family.estep_stats(rows, w, params)
    new = family.m_step(stats, entry.reg)
    expected, expected_ll = entry.reference_step(bref.dense(X), sample_weight, reference_start)

    for name, value in expected.items():
        gref.assert_rel_close(vars(new)[name], value, 1e-10, name)
    assert stats.mean_log_likelihood == pytest.approx(expected_ll, rel=1e-10)


# -- (b) EM never lowers the log-likelihood --------------------------------------------------
@every_family
def test_log_likelihood_never_decreases(entry):
    X = entry.make_data()
    for init_params in ("kmeans", "random"):
        estimator = entry.make_estimator(
            init_params=init_params, tol=1e-10, max_iter=200, random_state=0, **entry.exact_em
        )
        _quiet_fit(estimator, X)
        bounds = np.asarray(estimator.lower_bounds_)
        assert bounds.size >= 3 and np.all(np.isfinite(bounds)), bounds
        assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()


# -- (c) chunked fits equal in-memory fits -------------------------------------------------------
@every_family
def test_chunked_fit_equals_in_memory_fit(entry):
    X = entry.make_data()
    params = {"random_state": 0, "tol": 1e-8}
    whole = _quiet_fit(entry.make_estimator(**params), X)
    chunked = [_quiet_fit(entry.make_estimator(chunk_size=70, **params), X)]
    if entry.chunk_list:
        chunks = [X[start : start + 70] for start in range(0, X.shape[0], 70)]
        chunked.append(_quiet_fit(entry.make_estimator(**params), chunks))
    for fit in chunked:
        _assert_same_fit(fit, whole, 1e-9)
        assert fit.n_features_in_ == X.shape[1]


# -- (d) integer sample weights equal repeated rows --------------------------------------------
@every_family
def test_integer_weights_equal_repeated_rows(entry):
    X = entry.make_data()
    counts = np.random.RandomState(8).randint(0, 4, X.shape[0])
    repeated = X[np.repeat(np.arange(X.shape[0]), counts)]
    assert repeated.shape[0] <= settings.seeding_sample_rows  # seeds drawn from every row
    _, init, _ = entry.start(X)
    # Only EM: the same explicit start for both.
    from_start = {"max_iter": 10, "tol": 0.0, **init}
    weighted = _quiet_fit(entry.make_estimator(**from_start), X, sample_weight=counts)
    copies = _quiet_fit(entry.make_estimator(**from_start), repeated)
    _assert_same_fit(weighted, copies, 1e-10)
    # The default initialisation (weighted k-means) too.
    weighted = _quiet_fit(entry.make_estimator(random_state=1, tol=1e-8), X, sample_weight=counts)
    copies = _quiet_fit(entry.make_estimator(random_state=1, tol=1e-8), repeated)
    _assert_same_fit(weighted, copies, 1e-10)
    assert weighted.score(X, sample_weight=counts) == pytest.approx(
        copies.score(repeated), rel=1e-10
    )


# -- (e) save and load ---------------------------------------------------------------------------
@every_family
def test_save_load_round_trip(entry, tmp_path):
    X = entry.make_data()
    estimator = _quiet_fit(entry.make_estimator(random_state=0), X)
    estimator.save(tmp_path / "model.npz")
    loaded = fastem.load(tmp_path / "model.npz")
    assert type(loaded) is type(estimator)
    assert loaded.get_params().keys() == estimator.get_params().keys()
    assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    assert_array_equal(loaded.score_samples(X), estimator.score_samples(X))


# -- (f) bad input is a ValueError that names the problem ----------------------------------------
@every_family
def test_bad_input_names_the_problem(entry):
    X = entry.make_data()
    bad, match = entry.bad(X)
    with pytest.raises(ValueError, match=match):
        entry.make_estimator(random_state=0).fit(bad)
    estimator = _quiet_fit(entry.make_estimator(random_state=0), X)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match=match):
            getattr(estimator, method)(bad)
    D = X.shape[1]
    wrong = f"X has {D - 1} features, but {type(estimator).__name__} is expecting {D}"
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match=wrong):
            getattr(estimator, method)(X[:, : D - 1])


# -- (g) the family objects satisfy the contract -------------------------------------------------
@every_family
def test_family_satisfies_the_protocol(entry):
    X = entry.make_data()
    rows = entry.rows(X)
    estimator = entry.make_estimator()
    for family in (entry.make_family(rows, np.empty(0)), estimator._make_family(X.shape[1])):
        assert isinstance(family, Family)
        assert isinstance(type(family).uses_shift, bool)
        assert (family.n_components, family.n_features) == (N_COMPONENTS, X.shape[1])
    assert estimator._family_class is type(family)


@pytest.mark.parametrize("n_samples, size", [(100, 10), (1000, 300), (4001, 1000), (10**12, 1000)])
def test_uniform_subset_is_sorted_unique_and_uniform(n_samples, size):
    from fastem._seeding import uniform_subset

    rng = np.random.RandomState(0)
    subset = uniform_subset(n_samples, size, rng)
    assert subset.shape == (size,)
    assert np.all(np.diff(subset) > 0) and subset[0] >= 0 and subset[-1] < n_samples
    if n_samples <= 5000:
        # Every index equally likely: counts over many draws within 5 sigma of the mean.
        draws = 4000
        counts = np.bincount(
            np.concatenate([uniform_subset(n_samples, size, rng) for _ in range(draws)]),
            minlength=n_samples,
        )
        p = size / n_samples
        mean, sd = draws * p, np.sqrt(draws * p * (1 - p))
        assert np.all(np.abs(counts - mean) < 5 * sd)


@pytest.mark.parametrize("n_samples, size", [(4001, 1000), (40_000, 9_000), (10**6, 131072)])
def test_uniform_subset_merges_redraws_as_union1d_would(n_samples, size):
    # The draws and their order are the documented algorithm's: the subset is
    # the one np.unique / np.union1d give, so fits seeded from it are unchanged.
    from fastem._seeding import uniform_subset

    for seed in range(3):
        rng = np.random.RandomState(seed)
        expected = np.unique(rng.randint(0, n_samples, size=size))
        while expected.size < size:
            expected = np.union1d(expected, rng.randint(0, n_samples, size=size - expected.size))
        subset = uniform_subset(n_samples, size, np.random.RandomState(seed))
        np.testing.assert_array_equal(subset, expected)


def test_prepared_seeding_rows_draw_the_seeds_of_a_fresh_draw():
    # The selector sorts the sample once for all its k-means++ draws.
    from fastem._seeding import SeedingRows, kmeans_plusplus
    from fastem.families.gaussian import GaussianFamily

    rng = np.random.default_rng(5)
    X = rng.normal(size=(700, 3))
    w = rng.integers(0, 3, 700).astype(float)
    family = GaussianFamily("full", 4, 3)
    for weights in (np.empty(0), w):
        prepared = SeedingRows(family, X, weights)
        for seed in range(3):
            fresh = kmeans_plusplus(family, X, weights, 4, np.random.RandomState(seed))
            again = kmeans_plusplus(
                family, X, weights, 4, np.random.RandomState(seed), prepared=prepared
            )
            np.testing.assert_array_equal(again, fresh)
