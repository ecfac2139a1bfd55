"""A corpus build embedded on a Dask LocalCluster (2 worker processes) equals the single-process build."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.csv as pacsv
import pytest

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.search.embed import get_embedder
from lakehouse.search.errors import DaskAddressError, DaskUnavailable
from lakehouse.search.vectors.dask_build import dask_client, partitions
from lakehouse.search.vectors.rows import read_rows, vectors_of
from tests.fixtures.cli import invoke_cli
from tests.fixtures.vectors import HEALTH_MODEL, ONET_FILE, health_table

QUERIES = ["nurse in an intensive care unit", "forklift operator in a warehouse", "software developer", "teacher"]
SOURCE = ("onet", ["Title", "Description"], "O*NET-SOC Code", ["Title"])


@pytest.fixture
def quick_timeout(monkeypatch):
    # a refused connection is retried until the timeout: keep the failing tests short
    monkeypatch.setattr("lakehouse.search.vectors.dask_build.CONNECT_TIMEOUT_S", 2)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def _build(home, dask_address: str | None) -> Lakehouse:
    # one HNSW thread: the graph then depends on the vectors only, not on thread scheduling
    lh = Lakehouse(Settings(home=home, hnsw_threads=1, dask_address=dask_address))
    lh.tables.write_arrow("onet", pacsv.read_csv(ONET_FILE, parse_options=pacsv.ParseOptions(delimiter="\t")))
    lh.corpora.build("occ", *SOURCE, model=HEALTH_MODEL)
    return lh


@pytest.fixture(scope="module")
def builds(tmp_path_factory, cluster):
    single = _build(tmp_path_factory.mktemp("single"), None)
    on_dask = _build(tmp_path_factory.mktemp("dask"), cluster.scheduler_address)
    yield single, on_dask
    single.close()
    on_dask.close()


def test_dask_build_has_the_same_ids_labels_and_vectors(builds):
    single, on_dask = builds
    a, b = (read_rows(lh.tables, lh.corpora.manifest("occ")) for lh in builds)
    assert a.num_rows == b.num_rows > 1000  # the whole O*NET table, cut into 8 partitions
    assert a.column("id").to_pylist() == b.column("id").to_pylist()
    assert a.column("label").to_pylist() == b.column("label").to_pylist()
    np.testing.assert_allclose(vectors_of(a), vectors_of(b), atol=1e-5)
    assert single.corpora.manifest("occ").count == on_dask.corpora.manifest("occ").count
    assert on_dask.corpora.manifest("occ").model == HEALTH_MODEL


def test_dask_build_gives_the_same_top_10(builds):
    vectors = get_embedder(HEALTH_MODEL, Settings()).embed(QUERIES)
    single, on_dask = (lh.corpora.get("occ").search(vectors, 10) for lh in builds)
    for one, other in zip(single, on_dask, strict=True):
        assert [h.id for h in one] == [h.id for h in other]
        np.testing.assert_allclose([h.score for h in one], [h.score for h in other], atol=1e-5)


def test_partitions_are_contiguous_and_cover_every_row():
    assert partitions(10, 4) == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert partitions(2, 8) == [(0, 1), (1, 2)]
    assert partitions(0, 8) == []


def test_cli_build_with_dask_local_2(lakehouse, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("health", health_table(), mode="overwrite")
    out = invoke_cli(
        "corpus", "build", "health", "--table", "health", "--text", "Title,Description",
        "--id", "O*NET-SOC Code", "--model", HEALTH_MODEL, "--dask", "local:2", "--json",
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert (result["status"], result["added"]) == ("created", 96)
    hits = json.loads(invoke_cli("search", "intensive care nurse", "--corpus", "health", "--json").stdout)["hits"]
    assert hits[0]["id"].startswith("29-")


def test_unreachable_scheduler_names_the_setting_and_address(quick_timeout):
    with pytest.raises(DaskUnavailable, match=r"cannot reach the Dask scheduler at dask_address='tcp://127.0.0.1:9'"):
        with dask_client("tcp://127.0.0.1:9"):
            pass


def test_unreachable_scheduler_fails_the_cli_build(lakehouse, monkeypatch, tmp_path, quick_timeout):
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("health", health_table(), mode="overwrite")
    out = invoke_cli(
        "corpus", "build", "health", "--table", "health", "--text", "Title", "--id-column", "O*NET-SOC Code",
        "--model", HEALTH_MODEL, "--dask", "tcp://127.0.0.1:9", code=2,
    )  # fmt: skip
    assert "dask_address='tcp://127.0.0.1:9'" in out.output + out.stderr
    assert not lakehouse.corpora.exists("health")


def test_bad_local_worker_count():
    with pytest.raises(DaskAddressError, match=r"expected local:N with N a whole number"):
        with dask_client("local:two"):
            pass


def test_an_address_without_a_port_names_the_setting_and_the_forms(quick_timeout):
    """It was `error: ValueError: missing port number in address 'bogus'`, exit 2."""
    with pytest.raises(DaskAddressError, match=r"dask_address 'bogus' \(LH_DASK_ADDRESS / --dask\): .*tcp://HOST:PORT"):
        with dask_client("bogus"):
            pass
