"""The console shell in a real browser: every page renders from a real `lakehouse api`, with its
navigation, its own assets only, and a session cookie the page script cannot read."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from flows.http.ui import NAV
from tests.fixtures.browser import shoot


@pytest.fixture(scope="module")
def console_url(shared_api):
    return shared_api.url


@pytest.mark.parametrize(("path", "label", "key"), NAV)
def test_every_page_renders_with_navigation(console, console_url, path, label, key):
    response = console.goto(console_url + path)
    assert response.status == 200
    assert console.locator("nav a[aria-current=page]").inner_text() == label
    assert console.evaluate("typeof htmx") == "object"  # the vendored script loaded
    assert console.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read the session
    shoot(console, f"smoke-{key}")


def test_the_skip_link_comes_first_and_no_login_is_offered_without_a_token(console, console_url):
    console.goto(console_url + "/ui/search")
    first = "document.querySelector('a[href], button, input, select, textarea, [tabindex]').textContent"
    assert console.evaluate(first) == "Skip to content"
    skip = console.get_by_role("link", name="Skip to content")
    skip.focus()  # (a page may autofocus its first field, so Tab from the top is not assumed)
    expect(skip).to_be_in_viewport()
    console.keyboard.press("Enter")
    expect(console.locator("main")).to_be_focused()
    expect(console.get_by_role("button", name="Log out")).to_have_count(0)
    assert console.goto(console_url + "/ui/login").url == console_url + "/ui/search"
