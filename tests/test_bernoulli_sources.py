"""BernoulliMixture beyond in-memory arrays: out-of-core sources, online EM and Dask."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.metrics import adjusted_rand_score

from bernoulli_common import INITS, STRICT, fit_from, start
from fastem import BernoulliMixture
from synthetic import make_binary


@pytest.mark.parametrize("init_params", INITS)
def test_out_of_core_sources_match_in_memory(tmp_path, init_params):
    X, *_ = make_binary(n_samples=600)
    expected = BernoulliMixture(3, random_state=0, init_params=init_params).fit(X)
    path = tmp_path / "rows.npy"
    np.save(path, X.astype(bool))
    chunks = [X[i : i + 150].astype(np.uint8) for i in range(0, 600, 150)]
    for source in (str(path), lambda: iter(chunks)):
        bm = BernoulliMixture(3, random_state=0, init_params=init_params).fit(source)
        assert_allclose(bm.means_, expected.means_, atol=1e-8)
        assert bm.n_features_in_ == X.shape[1]
    assert bm.sample(2)[0].dtype == np.uint8
    bad = [c.astype(float) for c in chunks]
    bad[2][5, 3] = 0.5
    with pytest.raises(ValueError, match="neither 0 nor 1"):
        BernoulliMixture(3, **STRICT).fit(lambda: iter(bad))


def test_online_em_on_dense_and_sparse_batches():
    X, labels, *_ = make_binary(n_samples=4000)
    bm = BernoulliMixture(3, random_state=0)
    for _ in range(2):
        for first in range(0, 4000, 500):
            bm.partial_fit(sp.csr_matrix(X[first : first + 500]))
    online = BernoulliMixture(3, random_state=0).fit(
        X.astype(bool), mode="online", batch_size=500, n_epochs=3
    )
    exact = BernoulliMixture(3, random_state=0).fit(X)
    # Stepwise EM ends within its step noise of the batch optimum (-6.0233 here).
    for model in (bm, online):
        assert adjusted_rand_score(labels, model.predict(X)) > 0.9
        assert model.score(X) > exact.score(X) - 0.02


def test_dask_arrays_fit_like_in_memory():
    import dask.array as da  # the test extra installs Dask

    X, *_ = make_binary(n_samples=600)
    w0, m0 = start(3, X.shape[1])
    expected = fit_from(X, w0, m0, 5)
    got = fit_from(da.from_array(X.astype(np.uint8), chunks=(150, -1)), w0, m0, 5)
    assert_allclose(got.means_, expected.means_, atol=1e-10)
    assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=1e-12)
    kmeans = BernoulliMixture(3, random_state=0).fit(da.from_array(X, chunks=(200, -1)))
    assert kmeans.converged_ and kmeans.lower_bound_ > expected.lower_bound_ - 0.1
