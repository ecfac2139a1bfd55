"""The error envelope: malformed JSON, wrong field names, oversized bodies, unknown routes, bugs."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel, ConfigDict

from lakehouse.config import ModelsSettings, ModelTier
from modes.context import ModeContext
from modes.registry import mode
from tests.fixtures.http import assert_error, make_settings, serve

SECRET = "sk-live-0123456789abcdef"


class BoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    say: str = "boom"


class BoomOut(BaseModel):
    pass


@mode("testhttp.boom")
def boom(inp: BoomIn, ctx: ModeContext) -> BoomOut:
    """A bug whose message carries a secret (as a provider error might)."""
    raise RuntimeError(f"{inp.say}: upstream said key={SECRET} was bad")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    settings = make_settings(
        tmp_path_factory.mktemp("small"),
        api_max_body_bytes=1024,
        models=ModelsSettings(tiers={"cloud": ModelTier(model="openai/gpt-4o", api_key_env="LH_TEST_HTTP_KEY")}),
    )
    with serve(settings) as live:
        yield live


def test_malformed_json_is_400_with_line_and_column(http_client):
    response = http_client.post(
        "/v1/modes/fixture.echo", content=b'{"value":\n  [1, 2,, 3]}', headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 400, "malformed_json", match=r"not valid JSON: .* at line 2, column 9")
    assert error["details"]["line"] == 2


def test_wrong_field_name_names_it_and_suggests_the_right_one(http_client):
    response = http_client.post("/v1/chat", json={"promt": "hi"})
    error = assert_error(response, 422, "invalid_request", match=r"unknown field 'promt'; did you mean 'prompt'\?")
    assert error["details"]["fields"][0] == {
        "field": "promt",
        "loc": ["promt"],
        "type": "extra_forbidden",
        "message": "unknown field 'promt'; did you mean 'prompt'?",
        "suggestion": "prompt",
    }


def test_nested_wrong_field_is_named_with_its_path(http_client):
    response = http_client.post("/v1/chat", json={"messages": [{"role": "user", "contnet": "hi"}]})
    error = assert_error(response, 422, "invalid_request", match=r"messages\[0\]\.contnet: unknown field")
    fields = {f["field"]: f for f in error["details"]["fields"]}
    assert fields["messages[0].contnet"]["suggestion"] == "content"


def test_wrong_type_names_the_field(http_client):
    response = http_client.post("/v1/observer/ops", json={})
    assert_error(response, 405, "method_not_allowed")
    response = http_client.get("/v1/observer/ops", params={"limit": "many"})
    assert_error(response, 422, "invalid_request", match=r"limit: Input should be a valid integer")


def test_unknown_route_is_404_envelope(http_client):
    assert_error(http_client.get("/v1/nothing/here"), 404, "not_found", match="no endpoint GET /v1/nothing/here")


def test_declared_oversized_body_is_413_before_reading(small):
    with small.client() as c:
        response = c.post("/v1/modes/fixture.echo", json={"value": "x" * 2000})
    error = assert_error(response, 413, "body_too_large", match="larger than the limit of 1024 bytes")
    assert error["details"] == {"limit": 1024, "content_length": len(response.request.content)}


def test_streamed_oversized_body_is_413(small):
    def chunks():
        yield b'{"value": "'
        for _ in range(40):
            yield b"y" * 100
        yield b'"}'

    with small.client() as c:
        response = c.post("/v1/modes/fixture.echo", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers  # really chunked
    assert_error(response, 413, "body_too_large", match="1024 bytes")


def test_body_under_the_cap_is_served(small):
    with small.client() as c:
        assert c.post("/v1/modes/fixture.echo", json={"value": "x" * 500}).json() == {"value": "x" * 500}


def test_a_bug_is_a_bare_500_without_secrets(small, monkeypatch, caplog):
    monkeypatch.setenv("LH_TEST_HTTP_KEY", SECRET)
    with caplog.at_level(logging.ERROR, logger="lakehouse.http"), small.client() as c:
        response = c.post("/v1/modes/testhttp.boom", json={})
    error = assert_error(response, 500, "internal_error", match=r"internal error \w+ \(RuntimeError\)")
    assert SECRET not in response.text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert error["details"]["error_id"] in logged and "key=*** was bad" in logged
    assert SECRET not in logged
    # the failed call is still an ObservedOp with source http
    op = small.lakehouse.observer.ops(limit=1)[0]
    assert (op["mode"], op["source"], op["status"]) == ("testhttp.boom", "http", "failed")


def test_unknown_mode_is_404_with_suggestions(http_client):
    error = assert_error(
        http_client.post("/v1/modes/fixture.ecko", json={}), 404, "unknown_mode", match=r"did you mean 'fixture\.echo'"
    )
    assert "fixture.echo" in error["details"]["suggestions"]


def test_modes_catalog_and_direct_call_recorded_as_http(http_api, http_client):
    names = [m["name"] for m in http_client.get("/v1/modes").json()["modes"]]
    assert "fixture.upper" in names and "llm.chat" in names
    assert http_client.post("/v1/modes/fixture.upper", json={"text": "abc"}).json() == {"text": "ABC"}
    op = http_api.lakehouse.observer.ops(limit=1)[0]
    assert (op["mode"], op["source"], op["status"], op["input"]) == (
        "fixture.upper",
        "http",
        "completed",
        {"text": "abc"},
    )


def test_body_that_is_not_json_is_415(http_client):
    response = http_client.post("/v1/chat", content=b'{"prompt": "x"}', headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type", match=r"must be JSON .* not 'text/plain'")


def test_json_sent_as_curl_d_sends_it_is_415_with_the_header_to_add(http_client):
    """`curl -d '{...}'` (the README's own example once) says application/x-www-form-urlencoded:
    the answer was a 422 about "(body)" being no valid dictionary."""
    response = http_client.post(
        "/v1/chat", content=b'{"prompt": "x"}', headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(response, 415, "unsupported_media_type", match=r"with curl, add -H 'Content-Type: application/json'")


def test_missing_body_and_non_object_body_are_422(http_client):
    assert_error(http_client.post("/v1/chat"), 422, "invalid_request", match="needs a body: a JSON object")
    assert_error(
        http_client.post("/v1/chat", json=[1, 2]),
        422,
        "invalid_request",
        match=r"\(body\): Input should be a valid dictionary",
    )


def test_endpoint_of_a_mode_that_is_not_registered_answers_404(tmp_path):
    from fastapi import APIRouter

    from flows.http import create_app
    from flows.http.calls import mode_route

    settings = make_settings(tmp_path)
    app = create_app(settings)
    router = APIRouter()
    mode_route(router, "/v1/test/later", "later.mode", summary="a mode that arrives later")
    app.include_router(router)
    with serve(settings, app) as live, live.client() as c:
        assert_error(c.post("/v1/test/later", json={"a": 1}), 404, "unknown_mode", match=r"unknown mode 'later\.mode'")


def test_oversized_upload_is_413_and_ingests_nothing(small):
    with small.client() as c:
        response = c.post("/v1/ingest", data={"table": "big"}, files={"file": ("big.csv", b"a,b\n" + b"1,2\n" * 600)})
        assert_error(response, 413, "body_too_large", match="1024 bytes")
        assert "lakehouse.big" not in c.get("/v1/tables").json()["tables"]


def test_docs_and_openapi_cover_the_whole_surface(http_client):
    assert http_client.get("/docs").status_code == 200
    paths = http_client.get("/openapi.json").json()["paths"]
    expected = {
        "/v1/observer/workflow/run": "post",
        "/v1/observer/runs/{run_id}": "get",
        "/v1/observer/workflow/list": "get",
        "/v1/observer/workflow/validate": "post",
        "/v1/observer/ops": "get",
        "/v1/observer/stats": "get",
        "/v1/observer/event": "post",
        "/v1/matrix/search": "post",
        "/v1/matrix/corpora": "get",
        "/v1/matrix/relevance": "post",
        "/v1/matrix/playbooks": "post",
        "/v1/matrix/playbooks/bulk": "post",
        "/v1/sql": "post",
        "/v1/ingest": "post",
        "/v1/tables": "get",
        "/v1/chat": "post",
        "/v1/chat/providers": "get",
        **{f"/v1/pathway/{a}": "post" for a in ("add", "update", "revise", "retire", "history", "search")},
    }
    for path, method in expected.items():
        assert method in paths.get(path, {}), path
    search = paths["/v1/matrix/search"]["post"]
    assert search["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("SearchIn")
