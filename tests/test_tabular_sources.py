"""TabularMixture beyond memory: Parquet by batches and Dask DataFrames equal the in-memory fit."""

import copy
import pickle

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_allclose

from fastem import TabularMixture
from tabular_common import KINDS, make_table, model_params


@pytest.fixture(scope="module")
def table():
    return make_table(300, seed=21, missing=0.1)[0]


@pytest.fixture(scope="module")
def in_memory(table):
    return TabularMixture(2, random_state=0, tol=1e-8, max_iter=50).fit(table)


def assert_same_model(a, b):
    assert a.column_types_ == b.column_types_
    assert a.n_iter_ == b.n_iter_
    assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-12)
    for name, value in model_params(a).items():
        other = model_params(b)[name]
        if isinstance(value, list):
            for x, y in zip(value, other, strict=True):
                assert_allclose(x, y, rtol=1e-10, atol=1e-12, err_msg=name)
        else:
            assert_allclose(value, other, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("chunk_size", [37, 1000])
def test_parquet_by_batches_equals_in_memory(tmp_path, table, in_memory, chunk_size):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(table), path, row_group_size=50)
    model = TabularMixture(2, random_state=0, tol=1e-8, max_iter=50, chunk_size=chunk_size)
    model.fit(path)
    assert model.column_types_ == KINDS
    assert list(model.feature_names_in_) == list(table.columns)
    assert_same_model(model, in_memory)
    assert_allclose(model.predict_proba(table), in_memory.predict_proba(table), atol=1e-10)


def test_parquet_directory(tmp_path, table, in_memory):
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, 300, 100)):
        pq.write_table(
            pa.Table.from_pandas(table.iloc[start : start + 100]), folder / f"{i}.parquet"
        )
    model = TabularMixture(2, random_state=0, tol=1e-8, max_iter=50).fit(folder)
    assert_same_model(model, in_memory)


def test_dask_dataframe_equals_in_memory(table, in_memory):
    ddf = dd.from_pandas(table, npartitions=3)
    with dask.config.set(scheduler="threads"):
        model = TabularMixture(2, random_state=0, tol=1e-8, max_iter=50).fit(ddf)
    assert_same_model(model, in_memory)


def test_dask_dataframe_with_weights(table):
    w = np.random.default_rng(0).uniform(0.5, 2.0, table.shape[0])
    ddf = dd.from_pandas(table, npartitions=2)
    with dask.config.set(scheduler="threads"):
        model = TabularMixture(2, random_state=0, tol=1e-8, max_iter=30).fit(ddf, sample_weight=w)
    reference = TabularMixture(2, random_state=0, tol=1e-8, max_iter=30).fit(
        table, sample_weight=w
    )
    assert_same_model(model, reference)


def test_dask_dataframe_predictions_are_lazy_and_equal_pandas(table, in_memory):
    ddf = dd.from_pandas(table, npartitions=3)
    with dask.config.set(scheduler="threads"):
        labels = in_memory.predict(ddf)
        proba = in_memory.predict_proba(ddf)
        log_prob = in_memory.score_samples(ddf)
        for lazy, dtype, ndim in [
            (labels, np.int64, 1),
            (proba, np.float64, 2),
            (log_prob, np.float64, 1),
        ]:
            # One block per partition, lengths not computed.
            assert isinstance(lazy, da.Array) and lazy.dtype == dtype and lazy.ndim == ndim
            assert len(lazy.chunks[0]) == 3 and np.isnan(lazy.shape[0])
        assert proba.shape[1] == 2
        np.testing.assert_array_equal(labels.compute(), in_memory.predict(table))
        assert_allclose(proba.compute(), in_memory.predict_proba(table), rtol=1e-12, atol=1e-15)
        assert_allclose(log_prob.compute(), in_memory.score_samples(table), rtol=1e-12)
        for method in ("score", "bic", "aic"):
            expected = getattr(in_memory, method)(table)
            assert getattr(in_memory, method)(ddf) == pytest.approx(expected, rel=1e-12)
        # Standard pickle of the graph (what a distributed scheduler ships).
        again = pickle.loads(pickle.dumps(labels))
        np.testing.assert_array_equal(again.compute(), in_memory.predict(table))


def test_dask_dataframe_fit_predict_is_lazy(table, in_memory):
    ddf = dd.from_pandas(table, npartitions=3)
    with dask.config.set(scheduler="threads"):
        labels = TabularMixture(2, random_state=0, tol=1e-8, max_iter=50).fit_predict(ddf)
        assert isinstance(labels, da.Array)
        np.testing.assert_array_equal(labels.compute(), in_memory.predict(table))


def test_dask_dataframe_empty_partition_and_weighted_score(table, in_memory):
    keep = table.index >= 100
    w = np.random.default_rng(1).uniform(0.5, 2.0, table.shape[0])
    frame = dd.from_pandas(table.assign(keep=keep, w=w), npartitions=3)
    selected = frame[frame["keep"]]  # the first partition is empty
    ddf = selected.drop(columns=["keep", "w"])
    part = table[keep]
    with dask.config.set(scheduler="threads"):
        assert [len(p) for p in dask.compute(*ddf.to_delayed())] == [0, 100, 100]
        assert in_memory.predict_proba(ddf).compute().shape == (200, 2)
        assert_allclose(
            in_memory.score_samples(ddf).compute(), in_memory.score_samples(part), rtol=1e-12
        )
        assert in_memory.bic(ddf) == pytest.approx(in_memory.bic(part), rel=1e-12)
        expected = in_memory.score(part, sample_weight=w[keep])
        assert in_memory.score(ddf, sample_weight=w[keep]) == pytest.approx(expected, rel=1e-12)
        got = in_memory.score(ddf, sample_weight=selected["w"])
        assert got == pytest.approx(expected, rel=1e-12)
        with pytest.raises(ValueError, match="one weight per row: expected 200"):
            in_memory.score(ddf, sample_weight=w[keep][:-1])


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.rename(columns={"g2": "gx"}),  # the feature names
        lambda t: t.assign(g1=t["g1"].astype(str)),  # a column's dtype (the encoding)
    ],
    ids=["renamed", "dtype"],
)
def test_dask_dataframe_changed_columns_fail_at_call_time(table, in_memory, change):
    ddf = dd.from_pandas(change(table), npartitions=3)
    changed = ddf.compute()  # as Dask holds it (strings become pandas' string dtype)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(ValueError) as expected:
            getattr(in_memory, method)(changed)
        # The lazy methods raise while building the graph (from the meta).
        with pytest.raises(ValueError) as got:
            getattr(in_memory, method)(ddf)
        assert str(got.value) == str(expected.value), method


def test_dask_dataframe_unseen_level_on_the_workers(table, in_memory):
    changed = table.assign(c1=table["c1"].cat.add_categories("new"))
    changed.loc[150, "c1"] = "new"
    ddf = dd.from_pandas(changed, npartitions=3)
    with dask.config.set(scheduler="threads"):
        labels = in_memory.predict(ddf)
        with pytest.raises(ValueError, match="'c1'"):
            labels.compute()
        lenient = copy.deepcopy(in_memory).set_params(handle_unknown="missing")
        assert_allclose(
            lenient.predict_proba(ddf).compute(),
            lenient.predict_proba(changed),
            rtol=1e-12,
            atol=1e-15,
        )


def _most_held_by_the_reader(path, rows):
    """The most pyarrow memory held while reading ``path`` by batches, in batches."""
    import time

    from fastem._file_sources import parquet_tables

    held = []
    start = pa.total_allocated_bytes()
    n_rows = 0
    for batch in parquet_tables(path, rows)():
        n_rows += batch.num_rows
        time.sleep(0.005)  # the consumer is slower than the reader, as a fit is
        held.append(pa.total_allocated_bytes() - start)
    return n_rows, max(held) / (rows * 8 * 8)


def test_parquet_reader_memory_does_not_grow_with_the_file(tmp_path):
    """The reader holds a few batches whatever the file's length (bounded private memory).

    pyarrow's threaded scanner reads row groups ahead of a slow consumer beyond
    its ``batch_readahead``, until it holds a share of the whole file (that was
    the memory of a 20,000,000-row fit growing by a GiB); the reader must not.
    """
    rows = 4096
    held = {}
    for groups in (48, 192):
        rng = np.random.default_rng(groups)
        path = tmp_path / f"{groups}.parquet"
        columns = {f"x{j}": rng.normal(size=rows * groups) for j in range(8)}
        pq.write_table(pa.table(columns), path, row_group_size=rows)
        n_rows, held[groups] = _most_held_by_the_reader(path, rows)
        assert n_rows == rows * groups
    assert held[192] < 32, held
    assert held[192] < 1.5 * held[48] + 4, held
