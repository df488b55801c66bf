"""TabularMixture beyond memory: Parquet by batches and Dask DataFrames equal the in-memory fit."""

import dask
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
