"""Without a token the API listens on loopback and trusts the machine's own processes, but not a
web page open in the user's browser: a form another site posts (multipart needs no CORS preflight)
and a DNS-rebinding page (its own name resolving to 127.0.0.1) are refused, and store nothing."""

from __future__ import annotations

import pytest

from tests.fixtures.http import assert_error, make_settings, serve

CSV = b"id,name\n1,Ann\n"


def _upload(client, table: str, headers: dict[str, str]):
    return client.post("/v1/ingest", data={"table": table}, files={"file": ("x.csv", CSV)}, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.example"},  # an older browser: no Sec-Fetch-Site
        {"Sec-Fetch-Site": "cross-site"},  # a browser that sent no Origin
        {"Origin": "null"},  # a sandboxed frame or a file:// page
    ],
)
def test_a_form_another_site_posts_is_refused_and_stores_nothing(http_client, http_api, headers):
    response = _upload(http_client, "csrf_probe", headers)
    assert_error(response, 403, "forbidden", match=r"^cross-site request refused \(Origin ")
    assert not http_api.lakehouse.tables.exists("csrf_probe")


def test_a_request_addressed_to_another_name_is_refused(http_client):
    port = http_client.base_url.port
    response = http_client.post("/v1/sql", json={"sql": "SELECT 1"}, headers={"Host": f"evil.example:{port}"})
    assert_error(response, 403, "forbidden", match=r"^Host 'evil\.example:\d+' is not a loopback name")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_this_machine_own_pages_and_programs_are_served(http_client, http_api, host):
    port = http_client.base_url.port
    page = {"Origin": f"http://{host}:{port}", "Sec-Fetch-Site": "same-origin", "Host": f"{host}:{port}"}
    assert _upload(http_client, "own_page", page).status_code == 200
    assert http_client.get("/v1/tables", headers={"Host": f"{host}:{port}"}).status_code == 200


def test_with_a_token_other_names_are_served(tmp_path):
    settings = make_settings(tmp_path, api_token="tok-0123456789abcdef")
    with serve(settings) as live, live.client(headers={"Authorization": "Bearer tok-0123456789abcdef"}) as c:
        response = c.get("/v1/tables", headers={"Host": "lakehouse.internal"})
    assert response.status_code == 200


def test_a_console_link_followed_from_another_site_answers_a_page_saying_how_to_open_it(http_client):
    port = http_client.base_url.port
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Accept": "text/html"}
    response = http_client.get("/ui/search", params={"q": "nurse"}, headers=link)
    assert response.status_code == 403 and response.headers["content-type"].startswith("text/html")
    assert "to open this console page, paste its address into the browser yourself: " in response.text
    assert f"http://127.0.0.1:{port}/ui/search?q=nurse" in response.text
    other = http_client.get("/ui/search", headers={"Host": f"evil.example:{port}", "Accept": "text/html"})
    assert other.status_code == 403 and "is not a loopback name" in other.text
    assert other.headers["content-type"].startswith("text/html")
