"""Saving and loading models: ``estimator.save(path)`` and ``fastem.load(path)``."""

import io
import json
import pickle
import struct
import warnings
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import fastem
from fastem import GaussianMixture
from fastem._io import FORMAT_VERSION

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 2.0], [0.0, 7.0, -3.0]])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 3))


def _binary(n=300, seed=0):
    rng = np.random.default_rng(seed)
    probs = np.array([[0.9, 0.8, 0.1, 0.1, 0.2], [0.1, 0.2, 0.9, 0.8, 0.7]])
    return (rng.random((n, 5)) < probs[rng.integers(0, 2, n)]).astype(np.float64)


def _bernoulli_mixture():
    return fastem.BernoulliMixture


def save_and_load(model, path):
    """Round trip; saving must not drop any fitted attribute (it would warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(path)
    return fastem.load(path)


def assert_same_model(a, b, X):
    """Same class, parameters, fitted attributes and results on X."""
    assert type(a) is type(b)
    pa, pb = a.get_params(), b.get_params()
    assert pa.keys() == pb.keys()
    for name, value in pa.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, pb[name])
        elif not isinstance(value, np.random.RandomState):
            assert value == pb[name], name
    fitted = [n for n in vars(a) if n.endswith("_") and not n.startswith("_")]
    for name in fitted:
        va, vb = getattr(a, name), getattr(b, name)
        assert type(va) is type(vb), name
        if isinstance(va, np.ndarray):
            assert va.dtype == vb.dtype, name
            np.testing.assert_array_equal(va, vb)
        else:
            assert va == vb, name
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    assert a.score(X) == b.score(X)
    Xa, ya = a.sample(50)
    Xb, yb = b.sample(50)
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_gaussian(tmp_path, covariance_type):
    X = _blobs()
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert_same_model(model, save_and_load(model, tmp_path / "model.npz"), X)


def test_round_trip_float32_and_array_params(tmp_path):
    X = _blobs().astype(np.float32)
    model = GaussianMixture(
        3, means_init=X[:3].astype(np.float64), weights_init=[0.2, 0.3, 0.5], random_state=1
    ).fit(X)
    loaded = save_and_load(model, tmp_path / "m.npz")
    assert loaded.means_.dtype == np.float32
    assert loaded.weights_init == [0.2, 0.3, 0.5]
    assert_same_model(model, loaded, X)


def test_round_trip_random_state_instance(tmp_path):
    """A RandomState parameter is saved in its current state: sampling continues alike."""
    X = _blobs()
    model = GaussianMixture(2, random_state=np.random.RandomState(7)).fit(X)
    model.save(tmp_path / "m.npz")
    loaded = fastem.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(model.sample(20)[0], loaded.sample(20)[0])
    np.testing.assert_array_equal(model.sample(20)[0], loaded.sample(20)[0])


def test_round_trip_bernoulli(tmp_path):
    BernoulliMixture = _bernoulli_mixture()
    X = _binary()
    model = BernoulliMixture(2, random_state=0).fit(X)
    assert_same_model(model, save_and_load(model, tmp_path / "b.npz"), X)


def test_unfitted_round_trip(tmp_path):
    GaussianMixture(4, covariance_type="diag", tol=float("inf")).save(tmp_path / "u.npz")
    loaded = fastem.load(tmp_path / "u.npz")
    assert (
        loaded.get_params() == GaussianMixture(4, covariance_type="diag", tol=np.inf).get_params()
    )
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded)


def test_file_is_portable_npz(tmp_path):
    """Plain NumPy reads the file without pickle; it holds what the docs promise."""
    X = _blobs()
    model = GaussianMixture(3, random_state=0).fit(X)
    path = tmp_path / "model.bin"  # written exactly as named, no extension appended
    model.save(path)
    assert path.exists() and not (tmp_path / "model.bin.npz").exists()
    with np.load(path, allow_pickle=False) as data:
        assert int(data["__fastem__"]) == FORMAT_VERSION
        assert str(data["__class__"]) == "GaussianMixture"
        assert str(data["__fastem_version__"]) == fastem.__version__
        meta = json.loads(str(data["__meta__"]))
        assert meta["params"]["n_components"] == 3
        np.testing.assert_array_equal(data["attr.means_"], model.means_)
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_still_works(tmp_path, dump):
    X = _blobs()
    model = GaussianMixture(3, random_state=0).fit(X)
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "m.joblib")
        loaded = joblib.load(tmp_path / "m.joblib")
    assert_same_model(model, loaded, X)


# -- errors -----------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    GaussianMixture(3, random_state=0).fit(_blobs()).save(path)
    return path


def test_truncated_file(saved):
    data = saved.read_bytes()
    for size in (0, 10, len(data) // 2, len(data) - 5):
        saved.write_bytes(data[:size])
        with pytest.raises(ValueError, match="model file"):
            fastem.load(saved)


def test_corrupted_member(saved):
    """Changed bytes inside a member's compressed data fail its CRC (or inflate)."""
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("attr.means_.npy")
    # The member's data follows its local header: 30 bytes, then the name and an
    # extra field whose lengths the header holds at offsets 26 and 28.
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    for i in range(start + 2, start + 2 + min(8, info.compress_size - 4)):
        data[i] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        fastem.load(saved)


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        members = {name: data[name] for name in data.files}
    members.update(changes)
    np.savez(path, **members)


def test_newer_format_version(saved):
    _rewrite(saved, __fastem__=np.asarray(FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=r"format 2.*upgrade fastem"):
        fastem.load(saved)


def test_unknown_class(saved):
    _rewrite(saved, __class__=np.asarray("os.system"))
    with pytest.raises(ValueError, match="does not provide"):
        fastem.load(saved)


def test_unknown_parameter(saved):
    with np.load(saved, allow_pickle=False) as data:
        meta = json.loads(str(data["__meta__"]))
    meta["params"]["from_the_future"] = 1
    _rewrite(saved, __meta__=np.asarray(json.dumps(meta)))
    with pytest.raises(ValueError, match="from_the_future"):
        fastem.load(saved)


def test_not_a_fastem_file(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.load(tmp_path / "other.npz")
    np.save(tmp_path / "array.npy", np.arange(3))
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.load(tmp_path / "array.npy")
    (tmp_path / "text.npz").write_text("hello\n")
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.load(tmp_path / "text.npz")
    buffer = io.BytesIO()
    pickle.dump(GaussianMixture(), buffer)
    (tmp_path / "pickled.npz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="not a fastem model file"):
        fastem.load(tmp_path / "pickled.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastem.load(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        GaussianMixture().save(tmp_path / "nodir" / "m.npz")


def test_save_rejects_what_it_cannot_store(tmp_path):
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    with pytest.raises(TypeError, match="fastem mixture"):
        fastem._io.save(SklearnGaussianMixture(), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="means_init"):
        GaussianMixture(means_init=object()).save(tmp_path / "m.npz")
    if "callback" in GaussianMixture().get_params():
        with pytest.raises(TypeError, match=r"set_params\(callback=None\)"):
            GaussianMixture(callback=print).save(tmp_path / "m.npz")
