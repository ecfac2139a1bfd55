"""What only the s3:// backend can get wrong: URLs, endpoints, buckets and key prefixes (moto server)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from lakehouse.data.storage import InvalidKey, StorageError, open_store
from lakehouse.data.storage.s3 import parse_endpoint, parse_s3_url


def test_bucket_is_created_and_keys_live_under_the_prefix(moto_s3, tmp_path):
    url = moto_s3.new_bucket_url("team/lake")
    store = open_store(url, moto_s3.settings(tmp_path, objects_url=url))
    store.put("t/x.parquet", b"data")
    client = moto_s3.client()
    assert client.bucket_exists(store.bucket)
    names = [o.object_name for o in client.list_objects(store.bucket, recursive=True)]
    assert names == ["team/lake/t/x.parquet"]


def test_stores_with_different_prefixes_in_one_bucket_do_not_see_each_other(moto_s3, tmp_path):
    bucket = moto_s3.new_bucket_url()
    left = open_store(f"{bucket}/left", moto_s3.settings(tmp_path, objects_url=f"{bucket}/left"))
    lefty = open_store(f"{bucket}/lefty", moto_s3.settings(tmp_path, objects_url=f"{bucket}/lefty"))
    whole = open_store(bucket, moto_s3.settings(tmp_path, objects_url=bucket))
    left.put("k", b"L")
    lefty.put("k", b"LY")
    assert left.list() == ["k"]
    assert lefty.list() == ["k"]
    assert left.get("k") == b"L"
    assert whole.list() == ["left/k", "lefty/k"]
    assert whole.list("left/") == ["left/k"]


def test_with_a_catalog_server_a_missing_bucket_is_refused_not_made(moto_s3, tmp_path):
    """One machine with a typo in its objects URL made a bucket of its own: its corpora went
    where no other machine looks, and another machine's build of the same corpus overwrote its
    rows table in the shared catalog. A SQLite catalog is one machine's: its bucket is made."""
    url = moto_s3.new_bucket_url("objects")
    catalog = "postgresql+psycopg://u:p@127.0.0.1:1/catalog"  # never connected to here
    shared = moto_s3.settings(tmp_path, objects_url=url, catalog_url=catalog)
    bucket = url.removeprefix("s3://").split("/")[0]
    with pytest.raises(StorageError, match=rf"bucket '{bucket}' of {url} does not exist at 127\.0\.0\.1:\d+: .*typo"):
        open_store(url, shared)
    assert not moto_s3.client().bucket_exists(bucket)
    moto_s3.client().make_bucket(bucket)
    open_store(url, shared).put("k", b"1")  # once it is there
    own = moto_s3.new_bucket_url("objects")
    alone = moto_s3.settings(tmp_path, objects_url=own, catalog_url=f"sqlite:///{tmp_path / 'cat.db'}")
    open_store(own, alone).put("k", b"1")
    assert moto_s3.client().bucket_exists(own.removeprefix("s3://").split("/")[0])


def test_opening_an_existing_bucket_keeps_its_objects(moto_s3, tmp_path):
    url = moto_s3.new_bucket_url()
    open_store(url, moto_s3.settings(tmp_path, objects_url=url)).put("kept", b"1")
    assert open_store(url, moto_s3.settings(tmp_path, objects_url=url)).get("kept") == b"1"


def test_endpoint_without_scheme_uses_the_secure_setting(moto_s3, tmp_path):
    host_port = moto_s3.endpoint.removeprefix("http://")
    settings = moto_s3.settings(tmp_path).model_copy(update={"s3_endpoint": host_port})
    store = open_store(settings.objects, settings)
    store.put("k", b"plain http")
    assert store.get("k") == b"plain http"


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("s3://", StorageError, r"not an s3://bucket\[/prefix\] URL: 's3://'"),
        ("s3://bucket/a?x=1", StorageError, r"query strings and fragments are not supported"),
        ("s3://bucket/../escape", InvalidKey, r"invalid list prefix '\.\./escape': '\.\.' path segment"),
        ("s3://bucket/a//b", InvalidKey, r"invalid list prefix 'a//b': empty path segment"),
        ("s3://Bad_Bucket", StorageError, r"s3 URL 's3://Bad_Bucket': .*bucket name"),
    ],
)
def test_bad_s3_urls(moto_s3, tmp_path, url, error, message):
    with pytest.raises(error, match=message):
        open_store(url, moto_s3.settings(tmp_path, objects_url=url))


def test_parse_s3_url_normalises_the_prefix():
    assert parse_s3_url("s3://b") == ("b", "")
    assert parse_s3_url("s3://b/") == ("b", "")
    assert parse_s3_url("s3://b/x/y/") == ("b", "x/y/")


@pytest.mark.parametrize(
    ("endpoint", "secure", "expected"),
    [
        ("minio:9000", True, ("minio:9000", True)),
        ("minio:9000", False, ("minio:9000", False)),
        ("http://127.0.0.1:9000", True, ("127.0.0.1:9000", False)),
        ("https://s3.example.com", False, ("s3.example.com", True)),
    ],
)
def test_parse_endpoint(endpoint, secure, expected):
    assert parse_endpoint(endpoint, secure) == expected


@pytest.mark.parametrize("endpoint", ["ftp://host:21", "http://host:9000/path", "http://"])
def test_bad_endpoints(endpoint):
    with pytest.raises(StorageError, match=r"must be host:port or http\(s\)://host:port"):
        parse_endpoint(endpoint, True)


SILENT_ENDPOINT = """
import sys
from lakehouse.config import Settings
from lakehouse.data.storage import StorageError, open_store

settings = Settings(home=sys.argv[2], s3_endpoint=sys.argv[1], s3_secure=False, s3_timeout_s=2,
                    s3_access_key="k", s3_secret_key="s")
try:
    open_store("s3://lake/objects", settings)
except StorageError as exc:
    print(exc)
"""


def test_an_endpoint_that_never_answers_fails_after_the_timeout_not_half_an_hour(tmp_path):
    """minio's defaults (5 minutes to connect or for an answer, 5 retries) held a corpus command
    silent for over 6 minutes while the S3 endpoint was frozen; `s3_timeout_s` bounds each wait."""
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody answers
    endpoint = f"127.0.0.1:{silent.getsockname()[1]}"
    try:
        # 60 s: a bound far under the minutes of each wait before, not a measurement
        done = subprocess.run(
            [sys.executable, "-c", SILENT_ENDPOINT, endpoint, str(tmp_path)], capture_output=True, text=True, timeout=60
        )
    finally:
        silent.close()
    assert done.stdout.startswith(f"cannot reach S3 endpoint {endpoint}: "), done
    assert "Read timed out" in done.stdout, done.stdout
