"""The official `openai` client against a real `lakehouse api` process whose tiers call the fake
OpenAI-compatible server through litellm: `/v1/chat/completions` (plain and streamed), `/v1/models`,
OpenAI-style errors, and the ops each call leaves."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import urlparse

import httpx
import openai
import pytest

from tests.fixtures.http import api_process
from tests.fixtures.llm_server import running_fake_llm

TOKEN = "openai-compat-token-5e4d3c"
KEY = "sk-configured-openai-compat-7a6b5c"  # the `fake` tier's provider key, never to be shown


@pytest.fixture(scope="module")
def llm():
    with running_fake_llm() as state:
        yield state


@pytest.fixture(scope="module")
def api(tmp_path_factory, llm):
    """One `lakehouse api` for the module: tier `fake` (the default) at the fake server with a key,
    tier `cloud` whose key variable is unset; only another port than the fake server's is allowlisted."""
    port = urlparse(llm.url).port or 0
    models = {
        "default": "fake",
        "tiers": {
            "fake": {"model": "openai/fake-model", "api_base": llm.url, "api_key_env": "LH_TEST_OPENAI_COMPAT_KEY"},
            "cloud": {"model": "openai/gpt-4o", "api_key_env": "LH_TEST_OPENAI_COMPAT_UNSET"},
        },
        "api_base_allow": [f"127.0.0.1:{port + 1 if port < 65535 else port - 1}"],
    }
    env = {"LH_API_TOKEN": TOKEN, "LH_MODELS": json.dumps(models), "LH_TEST_OPENAI_COMPAT_KEY": KEY}
    with api_process(tmp_path_factory.mktemp("openai-compat"), env) as (url, _proc):
        yield url


@pytest.fixture
def fake(llm):
    """The module's fake server, as if new: no requests seen, default answers."""
    llm.requests.clear()
    llm.reply, llm.fail_next, llm.finish_reason, llm.stream_error_after = None, 0, "stop", None
    llm.stream_cut_after = None
    return llm


@pytest.fixture
def client(api):
    # no retries: a refused request must reach the test as the error it is, once
    return openai.OpenAI(base_url=f"{api}/v1", api_key=TOKEN, max_retries=0)


def newest_ops(api: str, n: int = 1) -> list[dict]:
    response = httpx.get(
        f"{api}/v1/observer/ops",
        params={"mode": "llm.chat", "source": "http", "limit": n},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    response.raise_for_status()
    return response.json()["ops"]


def test_a_chat_completes(client, fake, api):
    completion = client.chat.completions.create(
        model="fake",
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "which shift?"}]},
        ],
    )
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "openai/fake-model"
    (choice,) = completion.choices
    assert (choice.index, choice.message.role, choice.message.content, choice.finish_reason) == (
        0,
        "assistant",
        "answer to: which shift?",
        "stop",
    )
    assert completion.usage is not None and completion.usage.total_tokens == 6
    (sent,) = fake.requests
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "be brief"},  # `developer` is the system prompt
        {"role": "user", "content": "which shift?"},
    ]
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"  # the tier's key, not the caller's token
    (op,) = newest_ops(api)
    assert (op["status"], op["model"], op["tokens"], op["output"]["text"]) == (
        "completed",
        "openai/fake-model",
        6,
        "answer to: which shift?",
    )


def test_a_streamed_chat_arrives_in_several_chunks_that_join_to_the_answer(client, fake, api):
    fake.reply = lambda body: "The night shift starts at ten"
    stream = client.chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "when does the night shift start?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) >= 3
    assert "".join(pieces) == "The night shift starts at ten"
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12
    assert fake.requests[-1]["body"]["stream"] is True  # streamed from the provider, not re-chunked here
    (op,) = newest_ops(api)
    assert (op["status"], op["tokens"], op["output"]["text"]) == ("completed", 12, "The night shift starts at ten")


def test_models_lists_the_tiers_and_which_are_ready(client):
    models = {m.id: m.model_dump() for m in client.models.list()}
    assert set(models) == {"fake", "cloud"}
    assert models["fake"]["ready"] and models["fake"]["default"] and models["fake"]["owned_by"] == "openai"
    assert not models["cloud"]["ready"] and "LH_TEST_OPENAI_COMPAT_UNSET" in models["cloud"]["problem"]
    assert client.models.retrieve("fake").model_dump()["model"] == "openai/fake-model"
    assert KEY not in json.dumps(models)


def test_retrieving_an_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError, match=r"no model tier 'fkae' \(tiers: cloud, fake\).*did you mean 'fake'"):
        client.models.retrieve("fkae")


@pytest.mark.parametrize(
    ("extra", "param", "match"),
    [
        ({"temperature": 5}, "temperature", r"temperature: Input should be less than or equal to 2"),
        ({"extra_body": {"top_p": 0.5}}, "top_p", r"unknown field 'top_p' \(allowed: .*max_completion_tokens"),
        ({"n": 2}, "n", r"n: Input should be 1"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            "messages[0].content",
            r"messages\[0\]\.content: part 0 is of type 'image_url': only text parts",
        ),
        ({"messages": []}, "messages", r"messages: List should have at least 1 item"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {}}]}]},
            "messages[0].content",
            r"messages\[0\]\.content: part 0: unknown field\(s\) 'cache_control' \(a text part takes type and text\)",
        ),
        (
            {"messages": [{"role": "user", "content": "hi"}] * 1_001},
            "messages",
            r"messages: List should have at most 1000 items",
        ),
    ],
)
def test_a_bad_request_raises_bad_request_error_naming_the_field(client, fake, extra, param, match):
    kwargs = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(openai.BadRequestError, match=match) as caught:
        client.chat.completions.create(**kwargs)
    assert (caught.value.param, caught.value.type, caught.value.code) == (
        param,
        "invalid_request_error",
        "invalid_request",
    )
    assert fake.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_an_unknown_model_is_not_found_naming_the_tiers(client, fake, stream):
    with pytest.raises(openai.NotFoundError, match=r"unknown model 'fkae'.*\(cloud, fake\).*did you mean 'fake'") as e:
        client.chat.completions.create(model="fkae", messages=[{"role": "user", "content": "hi"}], stream=stream)
    assert (e.value.param, e.value.code) == ("model", "unknown_model")
    assert fake.requests == []


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"model": "fake", "messages": [', r"request body is not valid JSON: Expecting value at line 1, column 32"),
        (b'{"model": "fake", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
         "request body is not valid JSON: nested too deeply"),
        (b'{"model": "fake", "messages": [{"role": "user", "content": "caf\xe9"}]}',
         r"request body is not valid UTF-8: byte 0xE9 at line 1, column 64 \(JSON is sent as UTF-8\)"),
    ],
)  # fmt: skip
def test_a_body_that_is_not_json_says_why_and_where(api, fake, body, message):
    response = httpx.post(
        f"{api}/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "malformed_json")
    assert re.fullmatch(message, error["message"]), error["message"]
    assert fake.requests == []


def test_a_tier_without_its_key_is_a_bad_request(client, fake):
    with pytest.raises(openai.BadRequestError, match=r"LH_TEST_OPENAI_COMPAT_UNSET, which is not set") as e:
        client.chat.completions.create(model="cloud", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_configured"


def test_an_api_base_outside_the_allowlist_is_refused_before_any_call(client, fake):
    with pytest.raises(openai.PermissionDeniedError, match=r"is not in \[models\] api_base_allow") as e:
        client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "leak?"}], extra_body={"api_base": fake.url}
        )
    assert e.value.param == "api_base"
    assert fake.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_failure_is_a_server_error_without_the_key(client, fake, api, stream):
    fake.fail_next = 10
    with pytest.raises(openai.InternalServerError, match=r"openai/fake-model: provider call failed") as e:
        client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}], stream=stream)
    assert e.value.status_code == 502 and KEY not in str(e.value.body)
    (op,) = newest_ops(api)
    assert op["status"] == "failed" and "provider call failed" in op["error"]


@pytest.mark.parametrize(
    "failure, message, recorded",
    [
        ("stream_error_after", "provider call failed.*injected failure mid-stream", "injected failure mid-stream"),
        # the connection dropped cleanly: litellm made up finish_reason "stop", a cut answer passed for whole
        ("stream_cut_after", "the answer stopped before the provider said", "no finish reason after 7 characters"),
    ],
)
def test_a_provider_failure_mid_stream_ends_the_stream_with_an_error(client, fake, api, failure, message, recorded):
    fake.reply = lambda body: "one two three four five"
    setattr(fake, failure, 2)
    stream = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}], stream=True)
    received = []
    with pytest.raises(openai.APIError, match=rf"openai/fake-model: {message}"):
        for chunk in stream:
            assert chunk.choices[0].finish_reason is None  # never "stop"
            received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "one two"  # what came before the failure was passed on as it came
    (op,) = newest_ops(api)
    assert op["status"] == "failed" and recorded in op["error"]


def test_a_client_that_leaves_mid_stream_still_leaves_a_failed_op(fake, api):
    # Long enough that the server is still sending when the client goes (no buffer holds it all).
    fake.reply = lambda body: " ".join(f"w{i}" for i in range(20_000))
    body = {"model": "fake", "stream": True, "messages": [{"role": "user", "content": "talk"}]}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.stream("POST", f"{api}/v1/chat/completions", json=body, headers=headers, timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first = next(response.iter_lines())
    assert json.loads(first.removeprefix("data: "))["choices"][0]["delta"]["content"] == "w0"
    ops: list[dict] = []
    for _ in range(300):  # the server notices the closed connection at its next write
        ops = [op for op in newest_ops(api, 5) if "closed the stream" in (op["error"] or "")]
        if ops:
            break
        time.sleep(0.1)
    assert [op["status"] for op in ops] == ["failed"]


def test_no_token_is_an_authentication_error(api, fake):
    anonymous = openai.OpenAI(base_url=f"{api}/v1", api_key="not-the-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match=r"missing or invalid bearer token"):
        anonymous.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()
    assert fake.requests == []


def test_no_key_ever_reaches_the_op_log(client, fake, api):
    client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}], stream=False)
    ops = httpx.get(
        f"{api}/v1/observer/ops", params={"limit": 10_000}, headers={"Authorization": f"Bearer {TOKEN}"}
    ).text
    assert ops.count('"llm.chat"') >= 1 and KEY not in ops and TOKEN not in ops
