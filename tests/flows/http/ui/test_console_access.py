"""Console access in a real browser, against a real `lakehouse api` with LH_API_TOKEN set: the login
form comes first, a wrong token is refused, the right one opens the page asked for (and /docs),
logging out ends the session, and `next` never leads off the console."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import shoot
from tests.fixtures.http import api_process

TOKEN = "console-tok-5b7d9f1a3c"
PREFECT_UI = "http://127.0.0.1:4299"

# the server builds the OpenAPI document on its first request: slow on a busy machine
SPEC_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def console_url(tmp_path_factory):
    env = {"LH_API_TOKEN": TOKEN, "PREFECT_UI_URL": PREFECT_UI}
    with api_process(tmp_path_factory.mktemp("console-access"), env=env) as (url, _proc):
        yield url


def session_cookie(page) -> dict:
    """The console's session cookie: named for its port (`lh_console_<port>`)."""
    (cookie,) = [c for c in page.context.cookies() if c["name"].startswith("lh_console_")]
    return cookie


def log_in(page, token: str):
    """Type the token and press Enter; returns the login POST's response."""
    page.get_by_label("API token").fill(token)
    with page.expect_response(lambda r: r.url.endswith("/ui/login") and r.request.method == "POST") as posted:
        page.get_by_label("API token").press("Enter")
    return posted.value


def test_the_login_page_comes_first_and_the_token_opens_the_page_asked_for(console, console_url):
    console.goto(console_url + "/ui/sql")
    assert console.url == console_url + "/ui/login?next=/ui/sql"
    expect(console.get_by_role("heading", name="Log in to the console")).to_be_visible()
    expect(console.get_by_label("API token")).to_be_focused()
    expect(console.locator("nav")).to_have_count(0)  # nothing of the console before login
    shoot(console, "login")
    before = session_cookie(console)["value"]

    assert log_in(console, TOKEN).status == 303
    expect(console.locator("nav a[aria-current=page]")).to_have_text("SQL")
    assert console.url == console_url + "/ui/sql"
    expect(console.get_by_text("Logged in")).to_be_visible()
    expect(console.get_by_role("link", name="Prefect UI")).to_have_attribute("href", PREFECT_UI)
    cookie = session_cookie(console)
    assert cookie["value"] != before  # a new session id at login
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shoot(console, "login-done")


def test_a_wrong_token_is_refused_and_sets_nothing(console, console_url):
    console.goto(console_url + "/ui/search")
    before = session_cookie(console)["value"]
    assert log_in(console, "not-" + TOKEN).status == 401
    expect(console.locator("#login-error")).to_have_text("wrong token")
    expect(console.get_by_label("API token")).to_be_visible()
    shoot(console, "login-wrong-token")
    assert session_cookie(console)["value"] == before
    console.goto(console_url + "/ui/search")  # still not logged in
    assert console.url == console_url + "/ui/login?next=/ui/search"


def test_logout_ends_the_session(console, console_url):
    console.goto(console_url + "/ui/explore")
    log_in(console, TOKEN)
    expect(console.locator("nav a[aria-current=page]")).to_have_text("Explore")
    console.get_by_role("button", name="Log out").click()
    expect(console.get_by_role("heading", name="Log in to the console")).to_be_visible()
    console.goto(console_url + "/ui/explore")
    assert console.url == console_url + "/ui/login?next=/ui/explore"


def test_next_never_leads_off_the_console(console, console_url):
    console.goto(console_url + "/ui/login?next=https://evil.example/steal")
    log_in(console, TOKEN)
    expect(console.locator("nav a[aria-current=page]")).to_have_text("Search")
    assert console.url == console_url + "/ui/search"  # /ui, then its redirect to the first page


def test_api_docs_open_after_console_login(console, console_url):
    console.goto(console_url + "/docs")
    assert console.url == console_url + "/ui/login?next=/docs"
    log_in(console, TOKEN)
    assert console.url == console_url + "/docs"
    expect(console.locator(".opblock-summary-path", has_text="/v1/tables").first).to_be_visible(timeout=SPEC_WAIT_MS)
    expect(console.get_by_role("button", name="Authorize")).to_be_visible()
    shoot(console, "docs-after-login")


def test_the_v1_api_wants_the_bearer_token_not_the_console_cookie(console, console_url):
    console.goto(console_url + "/ui/search")
    log_in(console, TOKEN)
    jar = session_cookie(console)
    cookie = jar["value"]
    assert jar["name"] == f"lh_console_{httpx.URL(console_url).port}"
    assert console.goto(console_url + "/ui/no-such-page").status == 404  # a console error is a page for people
    expect(console.get_by_role("heading", name="Not found")).to_be_visible()
    expect(console.get_by_text("no endpoint GET /ui/no-such-page")).to_be_visible()
    shoot(console, "error-page")
    # a failed HTMX request says so in the page's alert region and leaves the page as it was
    console.evaluate("htmx.ajax('GET', '/ui/no-such-fragment', {target: 'main'})")
    expect(console.locator("#console-alert")).to_contain_text("no endpoint GET /ui/no-such-fragment")
    expect(console.get_by_text("no endpoint GET /ui/no-such-page")).to_be_visible()
    shoot(console, "error-alert")
    # the logged-in browser's own request to the JSON API: refused, the cookie counts on console paths only
    response = console.request.get(console_url + "/v1/tables")
    assert response.status == 401
    assert response.json()["error"]["type"] == "unauthorized"
    with httpx.Client(base_url=console_url, cookies={jar["name"]: cookie}) as client:
        assert client.get("/v1/tables").status_code == 401
        assert client.get("/openapi.json").status_code == 200  # a console path: the cookie counts
        bearer = client.get("/v1/tables", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
        doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["security"] == [{"bearerAuth": []}]
