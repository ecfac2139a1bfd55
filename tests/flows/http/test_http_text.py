"""Text and strictness at the HTTP edge: invalid Unicode, strict JSON types, text limits, the
OpenAPI document telling the truth, and an op log write that fails being counted and logged."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from pydantic import BaseModel, ConfigDict

from flows.http.errors import MESSAGE_MAX_CHARS, error_body
from flows.http.limits import QUERY_MAX_CHARS
from lakehouse.observe.observer import ObservedOp, Observer, now_utc
from modes.context import ModeContext
from modes.registry import mode
from tests.fixtures.http import assert_error, make_settings, serve

JSON = {"Content-Type": "application/json"}


def _ops_written(live) -> int:
    return len(live.lakehouse.observer.ops())


def _post_raw(client, path: str, raw: str):
    """`raw` is JSON text with `\\ud800`-style escapes: sent as-is (a JSON encoder would refuse it)."""
    return client.post(path, content=raw.encode("utf-8"), headers=JSON)


# ------------------------------------------------------------------------------- lone surrogates
SURROGATE_CASES = [
    pytest.param(
        "/v1/modes/playbook.record",
        r'{"entries": [{"query": "fork\ud800lift", "answer": "53-7051.00", "corpus": "occupations", "score": 1}]}',
        r"entries\[0\]\.query",
        "U\\+D800",
        id="playbook.record-entries",
    ),
    pytest.param(
        "/v1/modes/playbook.record",
        r'{"query": "x", "answer": "\udfff", "corpus": "occupations", "score": 1}',
        r"answer",
        "U\\+DFFF",
        id="playbook.record-one",
    ),
    pytest.param(
        "/v1/observer/event",
        r'{"mode": "deploy.finished", "input": {"notes": ["ok", "bad\udc00"]}}',
        r"input\.notes\[1\]",
        "U\\+DC00",
        id="observer.event-value",
    ),
    pytest.param(
        "/v1/observer/event",
        r'{"mode": "deploy.finished", "output": {"k\ud801": 1}}',
        r"output\.k\\ud801",
        "U\\+D801",
        id="observer.event-key",
    ),
    pytest.param(
        "/v1/observer/workflow/run?wait=false",
        r'{"workflow": "hello-lakehouse", "inputs": {"text": "hi \ud800"}}',
        r"inputs\.text",
        "U\\+D800",
        id="workflow-inputs-run",
    ),
    pytest.param(
        "/v1/observer/workflow/validate",
        r'{"workflow": "hello-lakehouse", "inputs": {"text": "\ud800"}}',
        r"inputs\.text",
        "U\\+D800",
        id="workflow-inputs-validate",
    ),
    pytest.param(
        "/v1/modes/fixture.echo",
        r'{"value": [1, {"deep": {"er": "\udbff"}}]}',
        r"value\[1\]\.deep\.er",
        "U\\+DBFF",
        id="fixture.echo",
    ),
]


@pytest.mark.parametrize(("path", "raw", "field", "char"), SURROGATE_CASES)
def test_lone_surrogate_is_422_naming_the_field_and_nothing_is_written(http_api, http_client, path, raw, field, char):
    observer = http_api.lakehouse.observer
    ops_before, ring_before, failures_before = _ops_written(http_api), len(observer.ring), observer.write_failures
    response = _post_raw(http_client, path, raw)
    error = assert_error(
        response, 422, "invalid_request", match=rf"{field}: invalid Unicode: lone surrogate {char} at character \d+"
    )
    (item,) = error["details"]["fields"]
    assert item["type"] == "string_unicode"
    assert json.loads(response.content.decode("utf-8"))  # the answer itself is valid UTF-8 JSON
    assert (_ops_written(http_api), len(observer.ring), observer.write_failures) == (
        ops_before,
        ring_before,
        failures_before,
    )


def test_valid_surrogate_pairs_and_non_ascii_text_pass(http_client):
    """A guard (passes before and after): the check refuses lone surrogates only."""
    response = _post_raw(
        http_client, "/v1/modes/fixture.echo", r'{"value": {"emoji": "\ud83d\ude00", "\u00e9": "ünïcode"}}'
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"value": {"emoji": "\U0001f600", "é": "ünïcode"}}


# ------------------------------------------------------------------------------- the op log write path
def _op(**kw) -> ObservedOp:
    start = now_utc()
    return ObservedOp.build(
        ts_start=start, ts_end=start + timedelta(milliseconds=3), source="event", status="completed", **kw
    )


def test_observer_writes_a_record_with_lone_surrogates_escaped_never_loses_it(tmp_path):
    observer = Observer(tmp_path / "ops.jsonl")
    op = observer.record(_op(mode="m\ud800", input={"text": "a\udfffb"}))  # as a library caller might
    assert observer.write_failures == 0
    (row,) = observer.ops()
    assert row["op_id"] == op.op_id
    assert row["mode"] == "m\\ud800" and row["input"] == {"text": "a\\udfffb"}
    (tmp_path / "ops.jsonl").read_bytes().decode("utf-8")  # the log stays valid UTF-8


def test_observer_write_failure_of_any_kind_is_counted_and_logged_with_an_error_id(tmp_path, monkeypatch, caplog):
    observer = Observer(tmp_path / "ops.jsonl")

    def broken(record):
        raise RuntimeError("disk controller on fire")

    monkeypatch.setattr(observer.log, "append", broken)
    with caplog.at_level(logging.ERROR, logger="lakehouse.observe.observer"):
        op = observer.record(_op(mode="x"))  # never raises
    assert observer.write_failures == 1 and [o.op_id for o in observer.ring] == [op.op_id]
    last = observer.stats(rows=[])["last_write_error"]
    assert last["op_id"] == op.op_id and "RuntimeError: disk controller on fire" in last["error"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"error {last['error_id']}: could not write op {op.op_id}" in logged


def test_unwritable_op_log_over_http_is_counted_and_its_error_id_logged(tmp_path, monkeypatch, caplog):
    settings = make_settings(tmp_path / "home")
    with serve(settings) as live, live.client() as c:

        def full_disk(record):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(live.lakehouse.observer.log, "append", full_disk)
        with caplog.at_level(logging.ERROR, logger="lakehouse.observe.observer"):
            response = c.post("/v1/observer/event", json={"mode": "deploy.finished"})
        assert response.status_code == 200, response.text  # a failed write never fails the call
        op_id = response.json()["op_id"]
        stats = c.get("/v1/observer/stats").json()
    assert stats["write_failures"] == 1
    error_id = stats["last_write_error"]["error_id"]
    assert stats["last_write_error"]["op_id"] == op_id
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"error {error_id}: could not write op {op_id}" in logged


class _NoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


@mode("testtext.bad_text_bug")
def bad_text_bug(inp: _NoIn, ctx: ModeContext) -> _NoIn:
    """A bug whose message carries invalid Unicode from somewhere inside."""
    raise RuntimeError("decoded badly: \udce9t\udce9")


def test_500_error_id_is_logged_even_when_the_bug_text_is_not_valid_unicode(http_client, caplog):
    with caplog.at_level(logging.ERROR, logger="lakehouse.http"):
        response = http_client.post("/v1/modes/testtext.bad_text_bug", json={})
    error = assert_error(response, 500, "internal_error", match=r"internal error \w+ \(RuntimeError\)")
    (record,) = [r for r in caplog.records if error["details"]["error_id"] in r.getMessage()]
    text = record.getMessage()
    text.encode("utf-8")  # a stream handler can write it: the record is not dropped
    assert "decoded badly: \\udce9t\\udce9" in text


# ------------------------------------------------------------------------------- strict JSON types
@pytest.mark.parametrize(
    ("path", "body", "match"),
    [
        (
            "/v1/matrix/relevance",
            {"query": "q", "hits": [], "margin": False},
            r"margin: Input should be a valid number",
        ),
        (
            "/v1/modes/matrix.relevance",
            {"query": "q", "hits": [], "threshold": "0.5"},
            r"threshold: Input should be a valid number",
        ),
        ("/v1/observer/event", {"mode": "x", "ts_start": 0}, r"ts_start: Input should be a valid datetime"),
        ("/v1/observer/event", {"mode": "x", "ts_end": 1700000000.5}, r"ts_end: Input should be a valid datetime"),
        ("/v1/observer/event", {"mode": "x", "attempt": True}, r"attempt: Input should be a valid integer"),
        (
            "/v1/matrix/search",
            {"query": "q", "corpora": ["c"], "force_mode": 0},
            r"force_mode: Input should be a valid boolean",
        ),
        (
            "/v1/matrix/search",
            {"query": "q", "corpora": ["c"], "top_k": "5"},
            r"top_k: Input should be a valid integer",
        ),
        ("/v1/chat", {"prompt": "hi", "temperature": True}, r"temperature: Input should be a valid number"),
    ],
)
def test_coercion_that_would_hide_a_mistake_is_422(http_api, http_client, path, body, match):
    before = _ops_written(http_api)
    assert_error(http_client.post(path, json=body), 422, "invalid_request", match=match)
    assert _ops_written(http_api) == before


def test_timestamps_as_iso_strings_are_still_accepted(http_client):
    """A guard (passes before and after): strict JSON still reads ISO 8601 strings as timestamps."""
    op = http_client.post(
        "/v1/observer/event", json={"mode": "x", "ts_start": "2026-01-02T03:04:05Z", "ts_end": "2026-01-02T03:04:06Z"}
    ).json()
    assert op["duration_ms"] == 1000.0


# ------------------------------------------------------------------------------- text limits
def test_30_mb_search_query_is_refused_fast_and_never_echoed(http_api, http_client):
    query = "forklift " * (30_000_000 // 9)
    started = time.monotonic()
    response = http_client.post("/v1/matrix/search", json={"query": query, "corpora": ["occupations"]})
    elapsed = time.monotonic() - started
    error = assert_error(
        response, 422, "invalid_request", match=rf"query: String should have at most {QUERY_MAX_CHARS} characters"
    )
    assert error["details"]["fields"][0]["field"] == "query"
    assert len(response.content) < 2_000 and "forklift forklift" not in response.text
    assert elapsed < 20, elapsed


def test_query_at_the_limit_is_accepted_one_more_is_not(http_client):
    ok = http_client.post("/v1/matrix/search", json={"query": "q" * QUERY_MAX_CHARS, "corpora": ["nope"]})
    assert ok.status_code == 404, ok.text  # past validation: the corpus is unknown
    assert_error(
        http_client.post("/v1/matrix/search", json={"query": "q" * (QUERY_MAX_CHARS + 1), "corpora": ["nope"]}),
        422,
        "invalid_request",
        match="at most 4096 characters",
    )


def test_error_bodies_never_echo_huge_inputs():
    body = error_body("x", "m" * 100_000, {"input": "i" * 100_000, "nested": [{"deep": "d" * 50_000}]})
    assert len(json.dumps(body)) < MESSAGE_MAX_CHARS + 4_000
    assert "more characters" in body["error"]["message"]
    assert error_body("x", "bad \ud800")["error"]["message"] == "bad \\ud800"


# ------------------------------------------------------------------------------- the OpenAPI document
# The OpenAI-compatible routes answer their own errors in OpenAI's shape (so the `openai` client
# raises the right exception); the app's own refusals there (401, 413, ...) keep ours.
OPENAI_PATHS = {"/v1/chat/completions", "/v1/models", "/v1/models/{model}"}


def test_openapi_declares_every_error_status_with_the_envelope(http_client):
    doc = http_client.get("/openapi.json").json()
    envelope = doc["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    assert set(doc["components"]["schemas"]["ErrorInfo"]["properties"]) == {"type", "message", "details"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "500"} <= codes, (method, path, codes)
            if method == "post":
                assert {"413", "415", "422"} <= codes, (method, path, codes)
            for code in codes - {"200", "202"}:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                if path in OPENAI_PATHS and "anyOf" in schema:  # OpenAI's error shape, or ours from the app
                    assert {"$ref": "#/components/schemas/ErrorEnvelope"} in schema["anyOf"], (method, path, code)
                    assert {"$ref": "#/components/schemas/OpenAIErrorEnvelope"} in schema["anyOf"], (path, code)
                    continue
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, code)
    assert "404" in doc["paths"]["/v1/observer/runs/{run_id}"]["get"]["responses"]
    assert "404" in doc["paths"]["/v1/pathway/update"]["post"]["responses"]
    assert "502" in doc["paths"]["/v1/chat"]["post"]["responses"]
    assert "security" not in doc  # no token configured: no scheme claimed


def _schema(doc, ref_or_schema):
    ref = ref_or_schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


def test_openapi_states_limits_and_one_of_rules(http_client):
    doc = http_client.get("/openapi.json").json()
    body = lambda path: _schema(doc, doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"])  # noqa: E731
    search = body("/v1/matrix/search")
    assert search["properties"]["query"]["maxLength"] == QUERY_MAX_CHARS
    assert search["properties"]["corpora"]["items"]["maxLength"] == 1_024
    chat = body("/v1/chat")
    assert [sorted(b["required"]) for b in chat["oneOf"]] == [["prompt"], ["messages"]]
    record = body("/v1/matrix/playbooks")
    assert [sorted(b["required"]) for b in record["oneOf"]] == [["answer", "corpus", "query", "score"], ["entries"]]
    workflow = body("/v1/observer/workflow/run")
    assert [b["required"] for b in workflow["oneOf"]] == [["yaml"], ["workflow"]]
    event = body("/v1/observer/event")
    assert event["properties"]["mode"]["anyOf"][0]["maxLength"] == 1_024


def test_openapi_declares_the_bearer_scheme_when_a_token_is_set(tmp_path):
    settings = make_settings(tmp_path / "home", api_token="tok-0123456789")
    with serve(settings) as live, live.client(headers={"Authorization": "Bearer tok-0123456789"}) as c:
        doc = c.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "LH_API_TOKEN, as `Authorization: Bearer <token>`",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    assert "401" in doc["paths"]["/v1/tables"]["get"]["responses"]
