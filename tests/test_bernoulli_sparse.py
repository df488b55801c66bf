"""BernoulliMixture on sparse rows: the same model as dense, from every input kind,
without ever densifying."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from bernoulli_common import INITS, STRICT
from fastem import BernoulliMixture
from fastem._settings import override
from fastem.families.bernoulli import BernoulliFamily
from fastem.families.binary import binary_csr
from synthetic import make_binary


@pytest.mark.parametrize("init_params", INITS)
def test_dense_and_sparse_give_the_same_model(init_params):
    X, *_ = make_binary(n_samples=500, n_features=20, n_components=4, seed=3)
    sw = np.random.default_rng(4).integers(0, 4, X.shape[0]).astype(float)
    dense = BernoulliMixture(4, init_params=init_params, random_state=0, tol=1e-8)
    csr = BernoulliMixture(4, init_params=init_params, random_state=0, tol=1e-8)
    dense.fit(X, sample_weight=sw)
    csr.fit(sp.csr_matrix(X), sample_weight=sw)
    assert dense.n_iter_ == csr.n_iter_
    assert_allclose(csr.weights_, dense.weights_, rtol=0, atol=1e-10)
    assert_allclose(csr.means_, dense.means_, rtol=0, atol=1e-10)
    assert_allclose(csr.lower_bounds_, dense.lower_bounds_, rtol=1e-12)
    assert_array_equal(csr.predict(X), dense.predict(sp.csc_matrix(X)))


def test_every_input_kind_gives_the_same_fit():
    X, *_ = make_binary(n_samples=300)
    coo = sp.coo_matrix(X)
    # Ten ones split into duplicated halves (0.5 + 0.5) and an explicit zero:
    # summed and dropped before the 0/1 check.
    half = np.arange(10)
    data = coo.data.copy()
    data[half] = 0.5
    zero_row, zero_col = np.argwhere(X == 0)[0]
    dup = sp.coo_matrix(
        (
            np.r_[data, np.full(10, 0.5), 0.0],
            (np.r_[coo.row, coo.row[half], zero_row], np.r_[coo.col, coo.col[half], zero_col]),
        ),
        shape=X.shape,
    )
    csr64 = sp.csr_matrix(X)
    csr64.indices = csr64.indices.astype(np.int64)
    csr64.indptr = csr64.indptr.astype(np.int64)
    explicit_zeros = sp.csr_matrix(X)
    explicit_zeros.data[::7] = 0.0
    X_explicit = explicit_zeros.toarray()
    inputs = {
        "bool": X.astype(bool),
        "uint8": X.astype(np.uint8),
        "int64": X.astype(np.int64),
        "float32": X.astype(np.float32),
        "fortran": np.asfortranarray(X),
        "list": X.astype(int).tolist(),
        "csr": sp.csr_matrix(X.astype(bool)),
        "csr int64 indices": csr64,
        "csc": sp.csc_matrix(X.astype(np.float32)),
        "coo": coo,
        "lil": sp.lil_matrix(X),
        "coo duplicates": dup,
    }
    expected = BernoulliMixture(3, random_state=0, **STRICT).fit(X)
    for name, data in inputs.items():
        bm = BernoulliMixture(3, random_state=0, **STRICT).fit(data)
        assert_allclose(bm.means_, expected.means_, atol=1e-10, err_msg=name)
        assert_allclose(bm.weights_, expected.weights_, atol=1e-10, err_msg=name)
        assert bm.means_.dtype == np.float64
    bm = BernoulliMixture(3, random_state=0, **STRICT).fit(explicit_zeros)
    ref_model = BernoulliMixture(3, random_state=0, **STRICT).fit(X_explicit)
    assert_allclose(bm.means_, ref_model.means_, atol=1e-10)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_seeding_on_a_sample_of_rows(init_params):
    # Above settings.seeding_sample_rows rows, seeds are drawn from a uniform sample;
    # dense rows and CSR rows (gathered by BinaryCSR.take_rows) draw alike.
    X, *_ = make_binary(n_samples=400)
    with override(seeding_sample_rows=50):
        dense = BernoulliMixture(3, random_state=0, init_params=init_params).fit(X)
        csr = BernoulliMixture(3, random_state=0, init_params=init_params).fit(sp.csr_matrix(X))
    assert_allclose(csr.means_, dense.means_, atol=1e-10)
    # The sample changes the seeds: the setting reaches the initialisation.
    whole = BernoulliMixture(3, random_state=0, init_params=init_params, max_iter=0)
    sampled = BernoulliMixture(3, random_state=0, init_params=init_params, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole.fit(X)
        with override(seeding_sample_rows=50):
            sampled.fit(X)
    assert not np.allclose(whole.means_, sampled.means_)
    rows = binary_csr(sp.csr_matrix(X)).take_rows([5, 0, 399, 5])
    assert_array_equal(BernoulliFamily.dense_rows(rows, np.arange(4)), X[[5, 0, 399, 5]])


def test_sparse_fit_never_densifies():
    # 200,000 x 100,000 with 2e6 ones: dense it would be 160 GB in float64
    # (20 GB even in uint8); the CSR is 24 MB.
    rng = np.random.default_rng(0)
    n, d, nnz = 200_000, 100_000, 2_000_000
    flat = np.unique(rng.integers(0, n * d, size=nnz))
    X = sp.csr_matrix((np.ones(flat.size), (flat // d, flat % d)), shape=(n, d))
    csr_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    bm = BernoulliMixture(4, random_state=0, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        BernoulliMixture(4, max_iter=1).fit(X[:1000])  # load the kernels first
        tracemalloc.start()
        try:
            bm.fit(X)
            bm.predict(X[:1000])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # A fit keeps the user's CSR as it is (an int64 copy of the row offsets
    # only) and otherwise holds O(N) vectors and a few (K, D) parameter arrays
    # (3.2 MB each here): measured 1.1x the CSR. tracemalloc sees NumPy's
    # allocations; the kernels' own are (D, K) per thread and (rows, K).
    assert peak < 1.5 * csr_bytes, (peak, csr_bytes)
    assert peak < n * d * 8 / 1000
    assert bm.means_.shape == (4, d)
