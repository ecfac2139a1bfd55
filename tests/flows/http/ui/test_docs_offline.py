"""/docs and /redoc in a real browser with nothing but 127.0.0.1 to load from (the `console` fixture
fails a test on any other request), and the OpenAPI document's bearer scheme, token or not."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import shoot

# the server builds the OpenAPI document on its first request: slow on a busy machine
SPEC_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def api_url(shared_api):
    return shared_api.url


def test_swagger_ui_renders_the_operations_offline(console, api_url):
    assert console.goto(api_url + "/docs").status == 200
    operation = console.locator(".opblock-summary-path", has_text="/v1/matrix/search").first
    expect(operation).to_be_visible(timeout=SPEC_WAIT_MS)
    expect(console.get_by_role("button", name="Authorize")).to_be_visible()  # the scheme is declared
    assert console.evaluate("typeof SwaggerUIBundle") == "function"  # the vendored bundle ran
    assert any(u.endswith("/ui/static/vendor/swagger-ui/swagger-ui-bundle.js") for u in console.requested)
    shoot(console, "docs")


def test_redoc_renders_offline(console, api_url):
    assert console.goto(api_url + "/redoc").status == 200
    expect(console.get_by_role("heading", name="Lakehouse").first).to_be_visible(timeout=SPEC_WAIT_MS)
    expect(console.get_by_text("/v1/matrix/search").first).to_be_attached()
    assert any(u.endswith("/ui/static/vendor/redoc/redoc.standalone.js") for u in console.requested)
    shoot(console, "redoc")


def test_the_bearer_scheme_is_declared_without_a_token_but_not_required(api_url):
    doc = httpx.get(api_url + "/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "LH_API_TOKEN, as `Authorization: Bearer <token>`",
    }
    assert "security" not in doc  # no token configured: nothing requires it
