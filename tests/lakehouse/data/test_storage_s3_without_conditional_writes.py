"""An S3-compatible server without conditional writes (it answers a PUT carrying If-None-Match or
If-Match with 501 Not Implemented, as some do): a create or replace fails with an error that names
the endpoint and the missing feature, plain reads and writes go on, and a corpus build stores
nothing live. The server is moto behind a real HTTP proxy that refuses those two headers."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from lakehouse.core import Lakehouse
from lakehouse.data.storage import StorageError, open_store
from tests.fixtures.s3 import refusing_proxy
from tests.fixtures.vectors import HEALTH_MODEL


@pytest.fixture
def plain_s3(moto_s3) -> Iterator[str]:
    """The moto server behind a proxy that answers conditional PUTs with 501 NotImplemented."""

    def conditional_put(method, _path, headers):
        conditional = "If-Match" in headers or "If-None-Match" in headers
        return (501, "NotImplemented") if method == "PUT" and conditional else None

    with refusing_proxy(moto_s3, conditional_put) as endpoint:
        yield endpoint


def test_a_conditional_write_names_the_endpoint_and_what_it_lacks(moto_s3, plain_s3, tmp_path):
    settings = moto_s3.settings(tmp_path).model_copy(update={"s3_endpoint": plain_s3})
    store = open_store(settings.objects, settings)
    store.put("plain", b"a plain PUT still works")
    host = plain_s3.removeprefix("http://")

    with pytest.raises(StorageError, match=rf"CREATE 'claimed' failed: the S3 endpoint {host} does not implement "):
        store.create("claimed", b"1")
    data, version = store.read_versioned("plain")
    with pytest.raises(StorageError, match=r"conditional writes \(If-Match: NotImplemented\); corpus writes need"):
        store.replace("plain", b"2", version)

    assert store.list() == ["plain"] and store.get("plain") == data == b"a plain PUT still works"


def test_a_corpus_build_on_such_a_server_fails_clearly_and_leaves_no_corpus(moto_s3, plain_s3, tmp_path):
    settings = moto_s3.settings(tmp_path / "home", embed_model=HEALTH_MODEL).model_copy(
        update={"s3_endpoint": plain_s3}
    )
    lh = Lakehouse(settings)
    try:
        lh.tables.write_arrow("jobs", pa.table({"id": ["J-1", "J-2"], "title": ["Nurse", "Welder"]}))
        with pytest.raises(StorageError, match=r"does not implement conditional writes \(If-None-Match: "):
            lh.corpora.build("jobs", "jobs", ["title"], "id")
        assert not lh.corpora.exists("jobs") and lh.corpora.list() == []
    finally:
        lh.close()
