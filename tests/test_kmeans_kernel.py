"""The fused k-means kernel against a plain NumPy reference, on every product path.

Labels must be those of the direct distances ``sum_j (x_j - c_j)^2``; for
D < 8 NumPy sums the squares in column order, exactly as the kernel's
direct form does, so labels, distances and exact ties are compared bitwise.
"""

import numpy as np
import pytest

from fastem.families.kmeans import KMeansFamily, lloyd_pass, nearest, offsets, sq_distances
from fastem.kernels.kmeans import tie_margin
from matmul_paths import pinned_matmul_path

PATHS = pytest.mark.parametrize("path", ["loops", "blas", "tiled", "tiled4"])
PRECISIONS = pytest.mark.parametrize("single", [False, True], ids=["f64-product", "f32-product"])


def direct(X, C):
    """Direct squared distances (n, K) in float64."""
    return ((np.asarray(X, dtype=np.float64)[:, None, :] - C[None, :, :]) ** 2).sum(axis=-1)


def reference_step(X, w, C):
    """One Lloyd assignment in NumPy: labels, distances, counts, sums of x - c_k, inertia."""
    d = direct(X, C)
    labels = d.argmin(axis=1)
    dist = d[np.arange(len(X)), labels]
    w = np.ones(len(X)) if w is None else w
    K, D = C.shape
    counts = np.bincount(labels, weights=w, minlength=K)
    sums = np.zeros((K, D))
    np.add.at(sums, labels, w[:, None] * (np.asarray(X, dtype=np.float64) - C[labels]))
    return labels, dist, counts, sums, float(w @ dist)


def clear_labels(d, rtol):
    """Rows whose nearest centre is ahead of the second by more than ``rtol`` (relative)."""
    if d.shape[1] == 1:
        return np.ones(d.shape[0], dtype=bool)
    two = np.partition(d, 1, axis=1)[:, :2]
    return two[:, 1] - two[:, 0] > rtol * np.maximum(two[:, 1], 1e-300)


CASES = {
    # name: (n, D, K, offset, dtype)
    "pixels": (3000, 3, 8, 0.0, np.float64),
    "far-f32": (2000, 16, 16, 1e4, np.float32),
    "wide": (1500, 37, 21, 5.0, np.float64),
    "one-centre": (500, 5, 1, 0.0, np.float64),
}


def _case(name, seed=0):
    n, D, K, offset, dtype = CASES[name]
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, D)) * rng.uniform(0.5, 3, D) + offset).astype(dtype)
    C = np.asarray(X[rng.choice(n, K, replace=False)], dtype=np.float64)
    C += rng.normal(scale=0.1, size=C.shape)
    w = rng.uniform(0.0, 3.0, n)
    w[rng.choice(n, n // 10, replace=False)] = 0.0
    return X, C, w


@PATHS
@PRECISIONS
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_pass_matches_numpy_reference(case, path, single, weighted):
    X, C, w = _case(case)
    w = w if weighted else None
    shift = np.asarray(X, dtype=np.float64).mean(axis=0)
    labels = np.full(len(X), -1, dtype=np.int32)
    sq = np.empty(len(X))
    with pinned_matmul_path(path):
        counts, sums, inertia, changed = lloyd_pass(
            X,
            np.empty(0) if w is None else w,
            C,
            shift,
            labels=labels,
            sq_dist=sq,
            track=True,
            single=single,
        )
    sums = offsets(counts, sums, C, shift)  # the kernel sums x - shift
    ref_labels, ref_dist, ref_counts, ref_sums, ref_inertia = reference_step(X, w, C)
    d = direct(X, C)
    clear = clear_labels(d, 1e-12)
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(labels[clear], ref_labels[clear])
    # Where the reference's two best are within round-off, either is right.
    chosen = d[np.arange(len(X)), labels]
    np.testing.assert_allclose(chosen, ref_dist, rtol=1e-12, atol=0)
    assert changed == len(X)
    np.testing.assert_allclose(sq, chosen, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(counts, ref_counts, rtol=1e-12)
    scale = np.abs(ref_sums).max()
    np.testing.assert_allclose(sums, ref_sums, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(inertia, ref_inertia, rtol=1e-12)


def _near_ties(seed=0, n=4000):
    """Rows a few ulps from equidistant between two centres, far from the origin.

    The centres c0 and c1 differ by 1 in the first column, about 1e6 from
    the origin; the rows sit at c0 + 0.5 + k ulp(1e6) in that column, k in
    [-40, 40] (k = 0: exact ties), all exactly representable, so the direct
    distances order them exactly while the expanded form's cancellation
    around the origin (errors ~1e-4) cannot.
    """
    rng = np.random.default_rng(seed)
    D = 4
    base = np.full(D, 1e6)
    C = np.vstack([base, base + [1.0, 0, 0, 0], base + [0, 50, 0, 0]])
    k = rng.integers(-40, 41, n)
    X = np.tile(base, (n, 1))
    X[:, 0] += 0.5 + k * np.spacing(1e6)
    X[:, 1:] += rng.integers(-3, 4, (n, D - 1)) * 0.25
    return X, C


@PATHS
@PRECISIONS
def test_near_ties_follow_the_direct_distances(path, single):
    X, C = _near_ties()
    d = direct(X, C)
    expected = d.argmin(axis=1)
    # The test has teeth: the expanded form around the origin gets many of them wrong.
    expanded = (C**2).sum(1)[None, :] - 2.0 * X @ C.T
    assert (expanded.argmin(axis=1) != expected).sum() > 100
    assert (d[:, 0] == d[:, 1]).sum() > 10  # exact ties go to the lower index
    for shift in (np.zeros(X.shape[1]), X.mean(axis=0)):
        labels = np.empty(len(X), dtype=np.int32)
        sq = np.empty(len(X))
        with pinned_matmul_path(path):
            lloyd_pass(
                X, np.empty(0), C, shift, labels=labels, sq_dist=sq, update=False, single=single
            )
        np.testing.assert_array_equal(labels, expected)
        np.testing.assert_array_equal(sq, d[np.arange(len(X)), expected])


def test_identical_centres_tie_to_the_lowest_index():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1000, 3))
    C = np.vstack([X[:2], X[:2]])
    labels, sq = nearest(X, C, X.mean(axis=0))
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, direct(X, C).argmin(axis=1))


@pytest.mark.parametrize("path", ["loops", "blas"])
def test_float32_product_survives_huge_rows(path):
    """Rows whose float32 products would overflow are compared directly."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((600, 6))
    X[::7] *= 1e30
    C = rng.standard_normal((5, 6))
    with pinned_matmul_path(path):
        labels, sq = nearest(X, C, np.zeros(6))
    d = direct(X, C)
    np.testing.assert_array_equal(labels, d.argmin(axis=1))
    np.testing.assert_allclose(sq, d.min(axis=1), rtol=1e-12)


def test_tie_margin_is_wider_for_float32_products():
    assert tie_margin(16, True) > 1e6 * tie_margin(16, False)


@pytest.mark.parametrize("D", [3, 8, 19])
def test_sq_distances_are_the_direct_form(D):
    rng = np.random.default_rng(D)
    X = rng.standard_normal((777, D)).astype(np.float32) + 100
    P = rng.standard_normal((4, D)) + 100
    got = sq_distances(X, P)
    ref = direct(X, P)
    if D < 8:  # NumPy sums fewer than 8 terms in order, as the kernel does
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_thread_count_changes_round_off_only():
    from fastem._threads import kernel_threads

    X, C, w = _case("wide")
    shift = X.mean(axis=0)
    results = []
    for n_jobs in (1, 2):
        labels = np.empty(len(X), dtype=np.int32)
        with kernel_threads(n_jobs):
            from fastem._settings import override

            with override(min_rows_per_group=100):
                counts, sums, inertia, _ = lloyd_pass(X, w, C, shift, labels=labels)
                _, _, skipped, _ = lloyd_pass(X, w, C, shift, inertia=False)
                assert np.isnan(skipped)
        results.append((labels, counts, sums, inertia))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_allclose(results[0][2], results[1][2], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(results[0][3], results[1][3], rtol=1e-13)


def test_family_step_is_one_lloyd_step():
    """estep_stats + m_step of the family = the NumPy Lloyd step (weighted means)."""
    from fastem.families.kmeans import KMeansParams

    X, C, w = _case("pixels")
    family = KMeansFamily(len(C), X.shape[1], X.dtype, shift=X.mean(axis=0))
    stats = family.estep_stats(X, w, KMeansParams(C))
    labels, _, counts, sums, inertia = reference_step(X, w, C)
    assert stats.log_likelihood == pytest.approx(-inertia, rel=1e-12)
    new = family.m_step(stats).centers
    expected = C + sums / counts[:, None]
    np.testing.assert_allclose(new, expected, rtol=1e-12)
    np.testing.assert_allclose(family.log_prob(X[:5], KMeansParams(C)), -direct(X[:5], C))
    assert family.n_parameters() == C.size
    far = KMeansParams(np.vstack([C, np.full((1, 3), 1e9)]))
    family2 = KMeansFamily(len(C) + 1, 3, shift=family.shift)
    with pytest.raises(ValueError, match="no rows"):
        family2.m_step(family2.estep_stats(X, w, far))
