"""`lakehouse gc` / `Tables.gc` / the `tables.gc` mode: files no table references (left by crashed
writes) older than the window go; referenced files, younger files and anything outside table
directories stay, and every snapshot of every table reads the same rows afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.data.ingest import ingest_file
from lakehouse.data.table_gc import format_duration, parse_duration
from lakehouse.data.tables import TableError
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.cli import invoke_cli
from tests.fixtures.runs import wait_for
from tests.fixtures.tables import table_state

HOUR = 3600


class _Crash(Exception):
    """Stands in for a process dying between writing its files and committing them."""


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _age(paths, seconds: float) -> None:
    then = time.time() - seconds
    for p in paths:
        os.utime(p, (then, then))


def _crashed_write(lakehouse, monkeypatch, name: str, data: pa.Table) -> set[Path]:
    """Files a write left behind when it died right before its commit."""

    def crash() -> None:
        raise _Crash()

    before = _files(lakehouse.settings.home_dir / "warehouse")
    with monkeypatch.context() as patch, pytest.raises(_Crash):
        patch.setattr("lakehouse.data.tables._test_pause_before_commit", crash)
        lakehouse.tables.write_arrow(name, data)
    left = _files(lakehouse.settings.home_dir / "warehouse") - before
    assert {p.suffix for p in left} == {".parquet", ".avro"}  # data files, manifests, manifest list
    return left


def _snapshot_rows(lakehouse, name: str) -> dict[int, list]:
    info = lakehouse.tables.describe(name)
    return {
        s["snapshot_id"]: sorted(
            lakehouse.tables.read_arrow(name, snapshot_id=s["snapshot_id"]).column("id").to_pylist()
        )
        for s in info["snapshots"]
    }


@pytest.fixture
def littered(lakehouse, monkeypatch, tmp_path):
    """A table `t` with appends, an overwrite and an upsert in its history; the files of a crashed
    append to `t` and of a crashed create of `never`, aged two hours; one younger crashed append;
    and every referenced file aged two hours too."""
    t = lakehouse.tables
    t.write_arrow("t", pa.table({"id": [1, 2], "v": ["a", "b"]}))
    t.write_arrow("t", pa.table({"id": [3], "v": ["c"]}))
    t.write_arrow("t", pa.table({"id": [4, 5], "v": ["d", "e"]}), mode="overwrite")
    (tmp_path / "up.csv").write_text("id,v\n5,E\n6,f\n")
    ingest_file(t, tmp_path / "up.csv", "t", key="id")
    warehouse = lakehouse.settings.home_dir / "warehouse"
    referenced = _files(warehouse)
    old = _crashed_write(lakehouse, monkeypatch, "t", pa.table({"id": [9], "v": ["lost"]}))
    old |= _crashed_write(lakehouse, monkeypatch, "never", pa.table({"id": [1]}))
    _age(referenced | old, 2 * HOUR)
    young = _crashed_write(lakehouse, monkeypatch, "t", pa.table({"id": [10], "v": ["in flight"]}))
    outside = warehouse / "README.txt"
    outside.write_text("not a table file")
    _age([outside], 2 * HOUR)
    return {"referenced": referenced, "old": old, "young": young, "outside": outside, "warehouse": warehouse}


def _removed(report) -> set[Path]:
    return {Path(f.path.removeprefix("file://")) for f in report.removed}


def test_gc_removes_old_orphans_and_keeps_referenced_young_and_foreign_files(lakehouse, littered):
    state = table_state(lakehouse, "t")
    history = _snapshot_rows(lakehouse, "t")
    assert len(history) == 4 and not lakehouse.tables.exists("never")

    dry = lakehouse.tables.gc(older_than_s=HOUR, dry_run=True)
    assert _removed(dry) == littered["old"]
    assert littered["old"] <= _files(littered["warehouse"])  # a dry run deletes nothing

    report = lakehouse.tables.gc(older_than_s=HOUR)

    assert _removed(report) == littered["old"]
    assert report.removed_bytes == sum(f.bytes for f in report.removed) > 0
    assert (report.kept_young, report.kept_referenced, report.errors) == (
        len(littered["young"]),
        len(littered["referenced"]),
        [],
    )
    left = _files(littered["warehouse"])
    assert littered["referenced"] | littered["young"] | {littered["outside"]} == left
    assert table_state(lakehouse, "t") == state
    assert _snapshot_rows(lakehouse, "t") == history  # time travel still reads every snapshot
    assert lakehouse.sql.query("SELECT count(*) FROM t").rows == [[3]]
    assert report.summary() == (
        f"gc: removed {len(littered['old'])} unreferenced file(s), "
        f"{report.removed_bytes / 1024:.1f} KiB, older than 1h; "
        f"kept {len(littered['referenced'])} referenced and {len(littered['young'])} younger unreferenced file(s) "
        "of 1 table(s)"
    )
    assert lakehouse.tables.gc(older_than_s=HOUR).removed == []  # nothing left to do


def test_gc_keeps_every_file_of_a_table_whose_metadata_cannot_be_read(lakehouse, littered):
    current = Path(lakehouse.tables.load("t").metadata_location.removeprefix("file://"))
    current.rename(current.with_suffix(".moved"))

    report = lakehouse.tables.gc(older_than_s=HOUR)

    assert len(report.errors) == 1 and report.errors[0].startswith("lakehouse.t: ")
    table_dir = littered["warehouse"] / "lakehouse" / "t"
    assert not any(table_dir in p.parents for p in _removed(report))  # nothing of t, not even its orphans
    assert _removed(report) == {p for p in littered["old"] if table_dir not in p.parents}  # `never`'s files


def test_the_cli_and_the_mode(lakehouse, littered):
    dry = invoke_cli("gc", "--dry-run", "--json")
    out = json.loads(dry.stdout)
    assert (out["dry_run"], out["removed_count"], out["older_than_s"]) == (True, len(littered["old"]), 3600.0)
    assert littered["old"] <= _files(littered["warehouse"])

    text = invoke_cli("gc", "--older-than", "1h", "--dry-run").stdout
    assert text.count("would remove file://") == len(littered["old"])
    assert f"gc: would remove {len(littered['old'])} unreferenced file(s)" in text

    # the operator at the CLI may ask for less than the 10 minutes HTTP and MCP are held to
    short = json.loads(invoke_cli("gc", "--older-than", "5m", "--dry-run", "--json").stdout)
    assert (short["dry_run"], short["older_than_s"], short["removed_count"]) == (True, 300.0, len(littered["old"]))

    # removing with it needs --force: a write in flight would lose its files (a probe made a table unreadable)
    refused = invoke_cli("gc", "--older-than", "0", code=1)
    assert "gc: a window under 10m (0s asked) may delete the files of a write still in flight" in refused.stderr
    assert "stop every writer first and add --force (or try --dry-run)" in refused.stderr
    assert littered["old"] <= _files(littered["warehouse"])

    bad = invoke_cli("gc", "--older-than", "soon", code=1)
    assert "bad duration 'soon': use a number of seconds or e.g. 90s, 30m, 1h, 2d, 1w" in bad.stderr

    out = invoke_mode("tables.gc", {"older_than": "2d"}, ModeContext.standalone(lakehouse))
    assert out["removed_count"] == 0 and out["summary"].startswith(
        "gc: removed 0 unreferenced file(s), 0 bytes, older than 2d"
    )
    out = invoke_mode("tables.gc", {"older_than": 1800}, ModeContext.standalone(lakehouse))
    assert {Path(f["path"].removeprefix("file://")) for f in out["removed"]} == littered["old"]
    with pytest.raises(
        TableError,
        match=r"gc: a window under 10m \(1m asked\) may delete the files of a write still in flight, which "
        "then commits a table nobody can read; only the CLI or an operator's job may ask for one",
    ):
        invoke_mode("tables.gc", {"older_than": "1m", "force": True}, ModeContext(lakehouse=lakehouse, source="http"))
    forced = json.loads(invoke_cli("gc", "--older-than", "0", "--force", "--json").stdout)
    assert {Path(f["path"].removeprefix("file://")) for f in forced["removed"]} == littered["young"]
    # four CLI runs and two mode calls left audit rows (the bad duration was refused before the mode ran)
    statuses = [o["status"] for o in lakehouse.observer.ops() if o.get("mode") == "tables.gc"]
    assert statuses == ["completed"] * 3 + ["failed"] + ["completed"] * 2 + ["failed", "completed"]


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172800), ("1w", 604800), ("0", 0), (1.5, 1.5)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_durations_and_windows_are_refused(lakehouse):
    for bad in ("", "1y", "-1h", "h"):
        with pytest.raises(TableError, match="bad duration"):
            parse_duration(bad)
    with pytest.raises(TableError, match="the age window must be 0 or more seconds, got -1"):
        lakehouse.tables.gc(older_than_s=-1)
    assert [format_duration(s) for s in (3600, 90, 1800, 0.5)] == ["1h", "90s", "30m", "0.5s"]
    assert (format_duration(599.9999999), format_duration(-0.0)) == ("599.9999999s", "0s")


def test_gc_on_an_s3_warehouse(moto_s3, tmp_path, monkeypatch):

    from lakehouse.core import Lakehouse

    bucket = moto_s3.new_bucket()
    client = moto_s3.client()
    client.put_object(bucket, "warehouse/notes.txt", __import__("io").BytesIO(b"x"), 1)  # not a table file
    lh = Lakehouse(moto_s3.settings(tmp_path / "home", warehouse_url=f"s3://{bucket}/warehouse"))
    try:
        lh.tables.write_arrow("remote", pa.table({"id": [1, 2, 3]}))
        # (pyarrow leaves "dir/" markers: here where the write's in-flight marker was deleted)
        referenced = {o.object_name for o in client.list_objects(bucket, recursive=True) if o.object_name[-1] != "/"}
        with monkeypatch.context() as patch, pytest.raises(_Crash):
            patch.setattr("lakehouse.data.tables._test_pause_before_commit", lambda: (_ for _ in ()).throw(_Crash()))
            lh.tables.write_arrow("remote", pa.table({"id": [4]}))
        orphans = {o.object_name for o in client.list_objects(bucket, recursive=True) if o.object_name[-1] != "/"}
        orphans -= referenced
        assert orphans

        assert lh.tables.gc(older_than_s=HOUR).removed == []  # all of it is younger than an hour
        report = lh.tables.gc(older_than_s=0)

        assert {f.path for f in report.removed} == {f"s3://{bucket}/{name}" for name in orphans}
        left = {o.object_name for o in client.list_objects(bucket, recursive=True)}
        assert {name for name in left if not name.endswith("/")} == referenced  # (pyarrow leaves "dir/" markers)
        assert sorted(lh.tables.read_arrow("remote").column("id").to_pylist()) == [1, 2, 3]
    finally:
        lh.close()


UPLOAD_FOREVER = """
import sys, time
from lakehouse.config import Settings
from lakehouse.data.storage import open_store

class Endless:  # one chunk, then a source that never answers again
    sent = False

    def read(self, size=-1):
        if self.sent:
            time.sleep(3600)
        self.sent = True
        return b"x" * 65536

open_store(sys.argv[1], Settings()).put("_vectors/big/index-000001-0a0b0c0d.hnsw", Endless())
"""


def test_gc_removes_the_temp_file_of_an_upload_killed_mid_write(lakehouse):
    """SIGKILL mid-PUT on the file:// object store leaves the upload's temp file (never listed as
    an object); gc keeps it while it is younger than the window and removes it after, and every
    object stays."""
    store = lakehouse.store
    store.put("_vectors/big/manifest.json", b"{}")
    upload = subprocess.Popen([sys.executable, "-c", UPLOAD_FOREVER, store.url])
    try:
        temp = wait_for(
            lambda: [p for p in store.root.rglob(".lhtmp-*") if p.stat().st_size],
            lambda found: bool(found) or upload.poll() is not None,
        )
    finally:
        upload.send_signal(signal.SIGKILL)
        upload.wait()
    assert len(temp) == 1 and store.list() == ["_vectors/big/manifest.json"]

    young = invoke_cli("gc", "--json")  # the default window, an hour
    assert json.loads(young.stdout)["store_temp_files"] == 0 and temp[0].exists()
    _age(temp, 2 * HOUR)
    out = json.loads(invoke_cli("gc", "--json").stdout)

    assert (out["store_temp_files"], out["removed"]) == (
        1,
        [{"path": temp[0].as_uri(), "bytes": 65536, "age_s": pytest.approx(2 * HOUR, abs=60)}],
    )
    assert "(1 left by killed uploads in the object store), 64.0 KiB" in out["summary"]
    assert not temp[0].exists() and store.list() == ["_vectors/big/manifest.json"]
    assert store.get("_vectors/big/manifest.json") == b"{}"


UPLOAD_STALLS_AFTER_ONE_PART = """
import sys, time
from lakehouse.config import Settings
from lakehouse.data.storage import open_store

MIB = 1 << 20

class Stalls:  # a part's worth of bytes (minio sends 12 MiB as 5 + 5 + 2), then a source that never answers
    sent = 0

    def read(self, size=-1):
        if self.sent >= 6 * MIB:
            time.sleep(3600)
        chunk = b"x" * min(size if size > 0 else MIB, MIB)
        self.sent += len(chunk)
        return chunk

open_store(sys.argv[1], Settings()).put("_vectors/big/index-000001-0a0b0c0d.hnsw", Stalls(), 12 * MIB)
"""


def _table_with_an_old_orphan(lakehouse, ids: list[int]) -> Path:
    """Table `kept` holding `ids`, and a two-hour-old data file no snapshot references (its path)."""
    lakehouse.tables.write_arrow("kept", pa.table({"id": ids}))
    orphan = lakehouse.settings.home_dir / "warehouse" / "lakehouse" / "kept" / "data" / "orphan.parquet"
    orphan.write_bytes(b"left by a killed write")
    _age([orphan], 2 * HOUR)
    return orphan


@pytest.fixture
def s3_objects(moto_s3, lh_home, monkeypatch):
    """The lakehouse's object store in a fresh bucket of the moto server (LH_* in the environment)."""
    from lakehouse.config import Settings, reset_settings
    from lakehouse.data.storage import open_store

    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LH_OBJECTS_URL", moto_s3.new_bucket_url("lake"))
    reset_settings()
    settings = Settings()
    return open_store(settings.objects, settings)


def test_gc_aborts_the_incomplete_s3_upload_a_killed_writer_left(s3_objects):
    """SIGKILL between the parts of an S3 multipart upload leaves its first part stored but never
    listed; gc keeps it while it is younger than the window (a --dry-run only reports it) and
    aborts the upload after, and every object stays."""
    store = s3_objects
    store.put("_vectors/big/manifest.json", b"{}")
    upload = subprocess.Popen([sys.executable, "-c", UPLOAD_STALLS_AFTER_ONE_PART, store.url])
    try:
        parts = wait_for(
            lambda: store.sweep_temp_files(0, dry_run=True).removed,
            lambda found: any(size for _where, size, _age in found) or upload.poll() is not None,
        )
    finally:
        upload.send_signal(signal.SIGKILL)
        upload.wait()
    (location, size, age), *more = parts
    assert (more, size) == ([], 5 << 20)
    assert location.startswith(f"s3://{store.bucket}/lake/_vectors/big/index-000001-0a0b0c0d.hnsw (incomplete upload ")
    assert store.list() == ["_vectors/big/manifest.json"]

    # moto dates every multipart upload 2010-11-10, so only a window of decades finds it young
    assert json.loads(invoke_cli("gc", "--older-than", "1000w", "--json").stdout)["store_temp_files"] == 0
    dry = json.loads(invoke_cli("gc", "--dry-run", "--json").stdout)
    assert (dry["store_temp_files"], [f["path"] for f in dry["removed"]]) == (1, [location])
    assert store.sweep_temp_files(0, dry_run=True).removed != []
    out = json.loads(invoke_cli("gc", "--json").stdout)

    assert out["store_temp_files"] == 1
    assert out["removed"] == [{"path": location, "bytes": 5 << 20, "age_s": pytest.approx(age, abs=600)}]
    assert "(1 left by killed uploads in the object store), 5.0 MiB" in out["summary"]
    assert store.sweep_temp_files(0, dry_run=True).removed == []
    assert store.list() == ["_vectors/big/manifest.json"] and store.get("_vectors/big/manifest.json") == b"{}"


def test_gc_of_the_tables_goes_on_when_the_s3_object_store_is_unreachable(s3_objects, lakehouse, monkeypatch):
    """An S3 endpoint that refuses connections costs gc its sweep of the object store, not the
    tables': their orphans go, and the unreachable store is reported as an error (exit code 1)."""
    from lakehouse.config import reset_settings

    orphan = _table_with_an_old_orphan(lakehouse, [1, 2])
    monkeypatch.setenv("LH_S3_ENDPOINT", "http://127.0.0.1:9")
    reset_settings()

    result = invoke_cli("gc", "--json", code=1)

    out = json.loads(result.stdout)
    assert [f["path"] for f in out["removed"]] == [orphan.as_uri()] and not orphan.exists()
    error, history = out["errors"]  # the history's run records live in that store too
    assert error.startswith(f"object store {s3_objects.url}: cannot reach S3 endpoint 127.0.0.1:9")
    assert history.startswith(f"run records in {s3_objects.url}: ") and "127.0.0.1:9" in history
    assert "gc: object store" in result.stderr
    assert sorted(lakehouse.tables.read_arrow("kept").column("id").to_pylist()) == [1, 2]


def test_a_refused_s3_sweep_is_reported_and_the_tables_are_collected(s3_objects, lakehouse, moto_s3):
    """The bucket is gone (as good as credentials without the multipart permissions): the sweep's
    refusal is one error naming the store, and the tables' orphans still go."""
    orphan = _table_with_an_old_orphan(lakehouse, [1])
    moto_s3.client().remove_bucket(s3_objects.bucket)

    report = lakehouse.tables.gc(store=s3_objects)

    assert [f.path for f in report.removed] == [orphan.as_uri()] and report.store_temp_files == 0
    (error,) = report.errors
    assert error.startswith(f"object store {s3_objects.url}: S3 error on 'incomplete uploads' in {s3_objects.url}: ")
    assert "NoSuchBucket" in error


def test_an_upload_the_server_will_not_abort_is_an_error_and_the_others_are_swept(moto_s3, lakehouse):
    """Two killed multipart uploads; the server refuses to abort one (AccessDenied, as for
    credentials without s3:AbortMultipartUpload on that prefix): gc aborts and reports the other,
    and names the refused one as an error."""
    from lakehouse.data.storage import open_store
    from tests.fixtures.s3 import refusing_proxy

    bucket, client = moto_s3.new_bucket(), moto_s3.client()
    url = f"s3://{bucket}/lake"
    started, names = {}, {}
    for corpus in ("kept", "gone"):
        name = names[corpus] = f"lake/_vectors/{corpus}/index-000001-0a0b0c0d.hnsw"
        started[corpus] = client._create_multipart_upload(bucket, name, {})
        client._upload_part(bucket, name, b"x" * (5 << 20), None, started[corpus], 1)

    def abort_of_kept(method, path, _headers):
        return (403, "AccessDenied") if method == "DELETE" and "/kept/" in path and "uploadId=" in path else None

    with refusing_proxy(moto_s3, abort_of_kept) as endpoint:
        settings = moto_s3.settings(lakehouse.settings.home_dir, objects_url=url).model_copy(
            update={"s3_endpoint": endpoint}
        )
        report = lakehouse.tables.gc(store=open_store(url, settings))

    gone, kept = (f"s3://{bucket}/{names[c]} (incomplete upload {started[c]})" for c in ("gone", "kept"))
    assert ([f.path for f in report.removed], [f.bytes for f in report.removed]) == ([gone], [5 << 20])
    assert report.store_temp_files == 1
    assert report.errors == [f"object store {url}: {kept}: AccessDenied: refused by the test proxy"]
    left = client._list_multipart_uploads(bucket, prefix="lake/").uploads
    assert [(u.object_name, u.upload_id) for u in left] == [(names["kept"], started["kept"])]


def test_gc_aborts_what_a_killed_table_write_left_in_an_s3_warehouse(moto_s3, tmp_path, monkeypatch):
    """pyarrow writes a table's data files to S3 in parts; a write killed mid-file leaves an
    incomplete upload under the warehouse, parts and all (billed, never listed). gc swept only the
    object store's prefix: not even `--force --older-than 0` found it."""
    from lakehouse.config import Settings, reset_settings
    from lakehouse.core import Lakehouse

    bucket = moto_s3.new_bucket()
    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LH_WAREHOUSE_URL", f"s3://{bucket}/warehouse")
    reset_settings()
    lakehouse = Lakehouse(Settings())
    lakehouse.tables.write_arrow("kept", pa.table({"id": [1, 2]}))
    lakehouse.close()
    client = moto_s3.client()
    name = "warehouse/lakehouse/kept/data/00000-0-killed.parquet"
    upload = client._create_multipart_upload(bucket, name, {})
    client._upload_part(bucket, name, b"x" * (5 << 20), None, upload, 1)

    out = json.loads(invoke_cli("gc", "--json").stdout)  # moto dates every upload 2010: older than any window

    assert out["warehouse_uploads"] == 1 and out["errors"] == []
    location = f"s3://{bucket}/{name} (incomplete upload {upload})"
    assert {"path": location, "bytes": 5 << 20} in [{k: f[k] for k in ("path", "bytes")} for f in out["removed"]]
    assert "1 incomplete upload(s) of killed table writes" in out["summary"]
    assert client._list_multipart_uploads(bucket).uploads == []
    lakehouse = Lakehouse(Settings())
    assert sorted(lakehouse.tables.read_arrow("kept").column("id").to_pylist()) == [1, 2]
    lakehouse.close()


@pytest.mark.parametrize("objects", ["", "/objects"])
def test_an_upload_under_both_stores_prefixes_is_listed_once(moto_s3, tmp_path, monkeypatch, objects):
    """An objects store at the bucket's root holds the warehouse's prefix too: its sweep and the
    warehouse's listed one upload twice (a dry run's bytes doubled)."""
    from lakehouse.config import reset_settings

    bucket = moto_s3.new_bucket()
    for name, value in moto_s3.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LH_WAREHOUSE_URL", f"s3://{bucket}/warehouse")
    monkeypatch.setenv("LH_OBJECTS_URL", f"s3://{bucket}{objects}")
    reset_settings()
    client = moto_s3.client()
    name = "warehouse/lakehouse/kept/data/00000-0-killed.parquet"
    upload = client._create_multipart_upload(bucket, name, {})
    client._upload_part(bucket, name, b"x" * (5 << 20), None, upload, 1)

    dry = json.loads(invoke_cli("gc", "--dry-run", "--json").stdout)

    assert [f["path"] for f in dry["removed"]] == [f"s3://{bucket}/{name} (incomplete upload {upload})"]
    assert (dry["store_temp_files"] + dry["warehouse_uploads"], dry["removed_bytes"]) == (1, 5 << 20)
