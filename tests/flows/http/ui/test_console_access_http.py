"""Console access over plain HTTP (the app in-process, LH_API_TOKEN set): who is sent to the login
form and how, CSRF on login and logout, a session that logout really ends, the throttle, `next`,
and errors that are HTML on console paths while the /v1 API keeps its JSON envelope."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient

from flows.http import create_app
from flows.http.ui.session import safe_next
from lakehouse.config import Settings
from tests.fixtures.http import assert_error, make_settings, serve

TOKEN = "console-http-tok-8e2c4a6b"
BROWSER = {"Accept": "text/html,application/xhtml+xml"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="(\w+)"', html)
    assert found, html
    return found.group(1)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app(Settings(home=tmp_path_factory.mktemp("access-http"), api_token=TOKEN))

    @app.get("/ui/boom", include_in_schema=False)
    def boom():  # a bug in a console page
        raise RuntimeError(f"broken while holding {TOKEN}")

    return app


def client_of(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)


def logged_in(app) -> TestClient:
    client = client_of(app)
    csrf = csrf_of(client.get("/ui/login").text)
    response = client.post("/ui/login", data={"token": TOKEN, "next": "/ui/sql", "csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/ui/sql"
    return client


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/sql?q=1", "/ui/sql?q=1"),
        ("/docs", "/docs"),
        ("https://evil.example/x", "/ui"),
        ("//evil.example/ui", "/ui"),
        ("/\\evil.example", "/ui"),
        ("javascript:alert(1)", "/ui"),
        ("/v1/tables", "/ui"),
        ("/ui/../v1/tables", "/ui"),
        ("/ui/%2e%2e/v1/tables", "/ui"),
        ("/ui/login", "/ui"),
        ("", "/ui"),
    ],
)
def test_after_login_only_a_console_path_is_a_destination(target, expected):
    assert safe_next(target) == expected


def test_a_browser_without_a_session_is_sent_to_the_login_form(app):
    client = client_of(app)
    response = client.get("/ui/sql?q=select", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=/ui/sql%3Fq%3Dselect"
    # an HTMX request cannot follow a 303 to a page: htmx itself navigates to the login form
    htmx = client.get("/ui/sql/run", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/ui/sql"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/ui/login?next=/ui/sql"
    # a script gets a plain 401 page that says what to do
    script = client.get("/ui/sql")
    assert script.status_code == 401 and script.headers["www-authenticate"] == "Bearer"
    assert "log in at /ui/login" in text_of(script.text)
    assert "lh_console" not in client.cookies


def test_the_login_form_and_the_static_assets_need_no_session(app):
    client = client_of(app)
    form = client.get("/ui/login?next=/ui/explore")
    assert form.status_code == 200
    assert 'name="next" value="/ui/explore"' in form.text
    assert re.search(r'<input id="token" name="token" type="password"[^>]*autofocus', form.text)
    assert client.get("/ui/static/ui.css").status_code == 200
    assert client.get("/ui/static/vendor/htmx/htmx.min.js").status_code == 200


def test_login_without_the_csrf_token_is_refused(app):
    client = client_of(app)
    client.get("/ui/login")  # the pre-login session
    response = client.post("/ui/login", data={"token": TOKEN, "next": "/ui/sql"})
    assert response.status_code == 403
    assert "missing or invalid CSRF token" in text_of(response.text)
    assert "set-cookie" not in response.headers
    assert client.get("/ui/sql", headers=BROWSER).status_code == 303  # still logged out


def test_a_wrong_token_answers_the_form_again_and_sets_nothing(app):
    client = client_of(app)
    csrf = csrf_of(client.get("/ui/login").text)
    response = client.post("/ui/login", data={"token": "x" + TOKEN, "next": "/ui/sql", "csrf_token": csrf})
    assert response.status_code == 401
    assert "wrong token" in text_of(response.text)
    assert "set-cookie" not in response.headers


def test_the_right_token_gives_a_new_session_that_logout_ends(app):
    client = client_of(app)
    csrf = csrf_of(client.get("/ui/login").text)
    before = client.cookies["lh_console"]
    assert client.post("/ui/login", data={"token": TOKEN, "csrf_token": csrf}).status_code == 303
    sid = client.cookies["lh_console"]
    assert sid != before  # a new session id at login
    page = client.get("/ui/sql")
    assert page.status_code == 200 and "Log out" in page.text
    csrf = csrf_of(page.text)

    assert client.post("/ui/logout").status_code == 403  # no CSRF token: still logged in
    assert client.get("/ui/sql").status_code == 200
    response = client.post("/ui/logout", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    assert client.cookies["lh_console"] != sid
    # the server forgot the old id: a copy of the old cookie opens nothing
    replay = client_of(app)
    replay.cookies.set("lh_console", sid)
    assert replay.get("/ui/sql", headers=BROWSER).status_code == 303


def test_the_console_session_opens_the_docs_but_not_the_v1_api(app):
    client = logged_in(app)
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200
    assert client.get("/openapi.json").json()["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert_error(client.get("/v1/tables"), 401, "unauthorized", match="bearer token")
    assert client.get("/v1/tables", headers=BEARER).status_code == 200


def test_console_errors_are_html_and_api_errors_keep_the_envelope(app):
    client = logged_in(app)
    page = client.get("/ui/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Not found 404 no endpoint GET /ui/no-such-page" in text_of(page.text)
    fragment = client.get("/ui/no-such-page", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and "<html" not in fragment.text
    assert fragment.headers["hx-retarget"] == "#console-alert"
    assert "no endpoint GET /ui/no-such-page" in text_of(fragment.text)
    too_long = client.post("/ui/login", data={"token": "t" * 5000, "csrf_token": csrf_of(client.get("/ui/sql").text)})
    assert too_long.status_code == 422 and "token" in text_of(too_long.text)
    assert_error(client.get("/v1/no-such-thing", headers=BEARER), 404, "not_found", match="no endpoint")


def test_a_bug_on_a_console_page_is_an_html_500_naming_its_log_id(app, caplog):
    client = logged_in(app)
    with caplog.at_level(logging.ERROR, logger="lakehouse.http"):
        response = client.get("/ui/boom")
    assert response.status_code == 500
    text = text_of(response.text)
    error_id = re.search(r"internal error (\w{12}) \(RuntimeError\)", text)
    assert error_id, text
    assert TOKEN not in response.text and "broken while" not in text
    assert any(error_id.group(1) in r.getMessage() and "broken while" in r.getMessage() for r in caplog.records)


def test_wrong_tokens_are_throttled_per_client(tmp_path):
    app = create_app(Settings(home=tmp_path, api_token=TOKEN))
    client = client_of(app)
    csrf = csrf_of(client.get("/ui/login").text)
    for _ in range(5):
        assert client.post("/ui/login", data={"token": "guess", "csrf_token": csrf}).status_code == 401
    refused = client.post("/ui/login", data={"token": TOKEN, "csrf_token": csrf})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "too many wrong tokens: try again in" in text_of(refused.text)
    assert "set-cookie" not in refused.headers


def test_the_allowlist_applies_to_the_login_form_too(tmp_path):
    settings = make_settings(tmp_path, api_token=TOKEN, api_allow=["10.0.0.0/8"])
    with serve(settings) as live, live.client() as client:
        form = client.get("/ui/login", headers=BROWSER)
        assert form.status_code == 403
        assert "client address 127.0.0.1 is not in LH_API_ALLOW" in text_of(form.text)
        assert client.get("/ui/static/ui.css").status_code == 403
        assert_error(client.get("/v1/tables", headers=BEARER), 403, "forbidden", match="LH_API_ALLOW")


def test_without_a_token_there_is_nothing_to_log_in_to(tmp_path):
    client = client_of(create_app(Settings(home=tmp_path)))
    assert client.get("/ui/login?next=/ui/sql").headers["location"] == "/ui/sql"
    page = client.get("/ui/sql")
    assert page.status_code == 200 and "Log out" not in page.text


def test_each_port_has_its_own_session_cookie(app):
    """A browser sends a host's cookies to every port: two consoles on one host (two LH_HOMEs) under
    one cookie name kept replacing each other's session, and the other's open tabs failed CSRF."""
    names = []
    for port in (3431, 3432):
        client = TestClient(app, base_url=f"http://127.0.0.1:{port}", follow_redirects=False)
        csrf = csrf_of(client.get("/ui/login").text)
        login = client.post("/ui/login", data={"token": TOKEN, "next": "/ui/sql", "csrf_token": csrf})
        assert login.status_code == 303
        names.append(login.headers["set-cookie"].split("=", 1)[0])
        assert client.get("/ui/sql").status_code == 200  # the session works under its port's name
    assert names == ["lh_console_3431", "lh_console_3432"]
