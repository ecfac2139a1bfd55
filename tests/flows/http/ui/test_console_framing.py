"""No page of the API may be shown inside another page's frame: a page served from another port of
this host is same-site, so a framed console would carry its session and CSRF token and a disguised
click could promote a corpus (clickjacking). Checked in a real browser and on the headers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.fixtures.http import free_port


@pytest.fixture(scope="module")
def api(shared_api):
    return shared_api.url


@pytest.fixture
def framing_page(api):
    """A page on another port of 127.0.0.1 that frames the console."""
    html = f'<!doctype html><h1>Win a prize</h1><iframe src="{api}/ui/explore" width="900" height="600"></iframe>'

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html.encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.mark.parametrize("path", ["/ui/explore", "/ui/nope", "/v1/observer/stats", "/docs"])
def test_every_answer_forbids_framing(api, path):
    headers = httpx.get(api + path, timeout=30).headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers.get_list("content-security-policy")


def test_a_page_on_another_port_cannot_frame_the_console(console, api, framing_page):
    console.goto(framing_page)
    console.wait_for_load_state("load")
    (framed,) = [frame for frame in console.frames if frame is not console.main_frame]
    assert framed.locator("nav").count() == 0 and "Explore" not in framed.content()
