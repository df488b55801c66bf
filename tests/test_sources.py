"""Sources of rows: what a fit reads from memory maps and their views."""

import numpy as np
import pytest

from fastem import GaussianMixture


@pytest.mark.parametrize(
    "view",
    [
        lambda X: X,
        lambda X: X[7:],
        lambda X: X[:, 1:],
        lambda X: X[::2],
        lambda X: X[3:50:3, :2],
    ],
    ids=["whole", "rows", "columns", "strided", "both"],
)
def test_read_only_memmap_views_give_the_fit_of_their_rows(tmp_path, view):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(6, 1, (60, 3))])
    np.save(tmp_path / "rows.npy", X)
    mapped = view(np.load(tmp_path / "rows.npy", mmap_mode="r"))
    expected = GaussianMixture(2, random_state=0).fit(np.array(view(X)))
    fitted = GaussianMixture(2, random_state=0, chunk_size=16).fit(mapped)
    np.testing.assert_allclose(fitted.means_, expected.means_, rtol=1e-10)
    np.testing.assert_allclose(fitted.covariances_, expected.covariances_, rtol=1e-9)
