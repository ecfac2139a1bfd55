"""`/v1/chat` and `/v1/chat/providers` over a real server, against the fake LLM server."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from lakehouse.config import ModelsSettings, ModelTier
from tests.fixtures.http import assert_error, make_settings, serve

KEY = "sk-configured-9d8c7b6a5f4e"


@pytest.fixture
def chat_api(tmp_path, fake_llm, monkeypatch):
    """Tier `fake` lives at the fake server with a configured key; only another port is allowlisted."""
    monkeypatch.setenv("LH_TEST_HTTP_CHAT_KEY", KEY)
    port = urlparse(fake_llm.url).port
    models = ModelsSettings(
        default="fake",
        tiers={
            "fake": ModelTier(model="openai/fake-model", api_base=fake_llm.url, api_key_env="LH_TEST_HTTP_CHAT_KEY")
        },
        api_base_allow=[f"127.0.0.1:{port + 1 if port < 65535 else port - 1}"],
    )
    with serve(make_settings(tmp_path, models=models)) as live, live.client() as c:
        yield live, c


def test_chat_with_openai_style_messages(chat_api, fake_llm):
    live, c = chat_api
    response = c.post(
        "/v1/chat",
        json={
            "model": "fake",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "which shift?"}],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["text"], body["finish_reason"], body["model"]) == (
        "answer to: which shift?",
        "stop",
        "openai/fake-model",
    )
    sent = fake_llm.requests[-1]
    assert [m["role"] for m in sent["body"]["messages"]] == ["system", "user"]
    assert "temperature" not in sent["body"]
    assert sent["headers"]["Authorization"] == f"Bearer {KEY}"  # the configured endpoint gets its key
    op = live.lakehouse.observer.ops(limit=1)[0]
    assert (op["mode"], op["source"], op["status"], op["model"]) == (
        "llm.chat",
        "http",
        "completed",
        "openai/fake-model",
    )
    assert KEY not in live.lakehouse.observer.path.read_text()


def test_temperature_is_sent_when_given_and_finish_reason_surfaced(chat_api, fake_llm):
    _, c = chat_api
    fake_llm.finish_reason = "length"
    body = c.post("/v1/chat", json={"prompt": "go on", "temperature": 0.2, "max_tokens": 3}).json()
    assert body["finish_reason"] == "length"
    assert fake_llm.requests[-1]["body"]["temperature"] == 0.2


@pytest.mark.parametrize("api_base", ["http://169.254.169.254/latest/meta-data/", "METADATA_PORT", "SAME_PORT"])
def test_request_api_base_outside_allowlist_is_refused_and_nothing_is_sent(chat_api, fake_llm, api_base):
    live, c = chat_api
    if api_base == "SAME_PORT":  # the fake server itself: 127.0.0.1, but its port is not allowlisted
        api_base = fake_llm.url
    elif api_base == "METADATA_PORT":
        api_base = "http://169.254.169.254:80/"
    response = c.post("/v1/chat", json={"prompt": "leak?", "api_base": api_base})
    error = assert_error(response, 403, "api_base_refused", match=r"is not in \[models\] api_base_allow")
    assert KEY not in str(error)
    assert fake_llm.requests == []


def test_allowlisted_request_api_base_gets_no_configured_key(tmp_path, fake_llm, monkeypatch):
    monkeypatch.setenv("LH_TEST_HTTP_CHAT_KEY", KEY)
    port = urlparse(fake_llm.url).port
    models = ModelsSettings(
        tiers={"cloud": ModelTier(model="openai/fake-model", api_key_env="LH_TEST_HTTP_CHAT_KEY")},
        api_base_allow=[f"127.0.0.1:{port}"],
    )
    with serve(make_settings(tmp_path, models=models)) as live, live.client() as c:
        response = c.post("/v1/chat", json={"model": "cloud", "prompt": "hi", "api_base": fake_llm.url})
    assert response.status_code == 200, response.text
    assert fake_llm.requests[-1]["headers"]["Authorization"] == "Bearer not-needed"


def test_a_key_can_never_come_from_the_request(chat_api, fake_llm):
    _, c = chat_api
    response = c.post("/v1/chat", json={"prompt": "hi", "api_key": "sk-from-request"})
    assert_error(response, 422, "invalid_request", match=r"unknown field 'api_key'")
    assert fake_llm.requests == []


def test_unknown_and_unconfigured_models_are_4xx(chat_api, fake_llm, monkeypatch):
    _, c = chat_api
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert_error(
        c.post("/v1/chat", json={"prompt": "x", "model": "fkae"}), 400, "unknown_model", match=r"did you mean 'fake'\?"
    )
    assert_error(
        c.post("/v1/chat", json={"prompt": "x", "model": "nosuch/model"}),
        400,
        "unknown_model",
        match=r"unknown provider 'nosuch'",
    )
    assert_error(
        c.post("/v1/chat", json={"prompt": "x", "model": "anthropic/claude-3-haiku"}),
        400,
        "model_not_configured",
        match=r"ANTHROPIC_API_KEY",
    )
    assert fake_llm.requests == []


def test_provider_failure_is_502_without_the_key(chat_api, fake_llm):
    _, c = chat_api
    fake_llm.fail_next = 10
    response = c.post("/v1/chat", json={"prompt": "x"})
    assert_error(response, 502, "provider_error", match=r"openai/fake-model: provider call failed")
    assert KEY not in response.text


def test_providers_lists_tiers_and_allowlist_without_keys(chat_api):
    _, c = chat_api
    body = c.get("/v1/chat/providers").json()
    assert body["default"] == "fake" and body["providers"] == ["openai"]
    (tier,) = body["tiers"]
    assert (tier["name"], tier["ready"], tier["key_source"]) == ("fake", True, "env:LH_TEST_HTTP_CHAT_KEY")
    assert KEY not in str(body)


def test_providers_shows_why_a_tier_is_not_ready(tmp_path):
    loose = tmp_path / "key"
    loose.write_text("sk-loose-file-key")
    loose.chmod(0o644)
    models = ModelsSettings(tiers={"cloud_judge": ModelTier(model="openai/gpt-4o", api_key_file=str(loose))})
    with serve(make_settings(tmp_path / "home", models=models)) as live, live.client() as c:
        (tier,) = c.get("/v1/chat/providers").json()["tiers"]
        assert not tier["ready"] and "mode 0644" in tier["problem"]
        error = assert_error(
            c.post("/v1/chat", json={"prompt": "x", "model": "cloud_judge"}),
            400,
            "model_not_configured",
            match=r"chmod 600",
        )
    assert "sk-loose-file-key" not in str(error)
