"""The E-step with NaN reads Fortran-ordered rows as it reads C-ordered ones.

Diagonal and spherical models read C-ordered blocks in place and copy any
other layout into a block buffer first; both must give the same bits (the
C-ordered result is pinned against the NumPy reference in
test_missing_reference.py).
"""

import numpy as np
import pytest

from fastem.families.gaussian import GaussianFamily, GaussianParams, precision_cholesky

K, D, N = 3, 5, 600


def _data():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(N, D)) + 10.0
    # Rows missing 1 to 3 values, in both blocks of rows, and one with nothing observed.
    for r in np.flatnonzero(rng.random(N) < 0.3):
        X[r, rng.choice(D, size=rng.integers(1, 4), replace=False)] = np.nan
    X[N - 1] = np.nan
    return X


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_fortran_rows_give_the_bits_of_c_rows(covariance_type):
    rng = np.random.default_rng(2)
    variances = rng.uniform(0.5, 2.0, (K, D))
    if covariance_type == "spherical":
        variances = variances.mean(axis=1)
    params = GaussianParams(
        rng.dirichlet(np.ones(K)),
        10.0 + rng.normal(size=(K, D)),
        variances,
        precision_cholesky(variances, covariance_type),
    )
    X = _data()
    family = GaussianFamily(covariance_type, K, D, shift=np.full(D, 10.0), missing=True)
    c_rows = family.estep_stats(X, np.empty(0), params)
    f_rows = family.estep_stats(np.asfortranarray(X), np.empty(0), params)
    assert np.isfinite(c_rows.log_likelihood)
    assert f_rows.log_likelihood == c_rows.log_likelihood
    assert c_rows.arrays["moments"].any()
    for name, value in c_rows.arrays.items():
        np.testing.assert_array_equal(f_rows.arrays[name], value, err_msg=name)
