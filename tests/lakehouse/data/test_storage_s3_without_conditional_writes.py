"""An S3-compatible server without conditional writes (it answers a PUT carrying If-None-Match or
If-Match with 501 Not Implemented, as some do): a create or replace fails with an error that names
the endpoint and the missing feature, plain reads and writes go on, and a corpus build stores
nothing live. The server is moto behind a real HTTP proxy that refuses those two headers."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pytest

from lakehouse.core import Lakehouse
from lakehouse.data.storage import StorageError, open_store
from tests.fixtures.vectors import HEALTH_MODEL

NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
    b"<Message>A header you provided implies functionality that is not implemented</Message></Error>"
)


@pytest.fixture
def plain_s3(moto_s3) -> Iterator[str]:
    """http://127.0.0.1:PORT of a proxy to the moto server that answers conditional PUTs with 501."""
    upstream = moto_s3.endpoint.removeprefix("http://")

    class Proxy(BaseHTTPRequestHandler):
        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "PUT" and ("If-Match" in self.headers or "If-None-Match" in self.headers):
                self.send_response(501)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(NOT_IMPLEMENTED)))
                self.end_headers()
                self.wfile.write(NOT_IMPLEMENTED)
                return
            conn = http.client.HTTPConnection(upstream, timeout=30)
            conn.request(self.command, self.path, body, dict(self.headers))  # Host kept: the signature covers it
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        def log_message(self, *args) -> None:  # one line per request otherwise
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
