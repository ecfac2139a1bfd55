"""The LLM dispatcher: tiers, keys from env / owner-only files, the api_base allowlist, litellm's
real HTTP path against the fake OpenAI-compatible server."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.config import ModelsSettings, ModelTier
from lakehouse.llm.chat import (
    ApiBaseRefused,
    ChatClient,
    ChatNotConfigured,
    ProviderError,
    UnknownModel,
    check_api_base,
    read_secret_file,
)

KEY = "sk-test-4c0ffee4c0ffee"


def client(**models) -> ChatClient:
    return ChatClient(ModelsSettings(**models))


def secret_file(tmp_path, mode: int, content: str = KEY + "\n"):
    path = tmp_path / f"key-{mode:o}"
    path.write_text(content)
    path.chmod(mode)
    return path


# ------------------------------------------------------------------------------- secret files
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_secret_file_is_read(tmp_path, mode):
    assert read_secret_file(secret_file(tmp_path, mode)) == KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o777])
def test_group_or_world_readable_secret_file_is_refused(tmp_path, mode):
    path = secret_file(tmp_path, mode)
    with pytest.raises(ChatNotConfigured, match=rf"{path} has mode 0{mode:o}: .*owner only \(chmod 600 {path}\)"):
        read_secret_file(path)


def test_missing_empty_and_directory_secret_files_are_refused(tmp_path):
    with pytest.raises(ChatNotConfigured, match=r"nope does not exist"):
        read_secret_file(tmp_path / "nope")
    with pytest.raises(ChatNotConfigured, match=r"is empty"):
        read_secret_file(secret_file(tmp_path, 0o600, "  \n"))
    folder = tmp_path / "dir"
    folder.mkdir(mode=0o700)
    with pytest.raises(ChatNotConfigured, match=r"dir is not a regular file"):
        read_secret_file(folder)


def test_tier_key_from_env_then_file(tmp_path, monkeypatch):
    path = secret_file(tmp_path, 0o600, "from-file-key")
    tiers = {"cloud": ModelTier(model="openai/gpt-4o", api_key_env="LH_TEST_CHAT_KEY", api_key_file=str(path))}
    monkeypatch.delenv("LH_TEST_CHAT_KEY", raising=False)
    assert client(tiers=tiers).resolve("cloud").api_key == "from-file-key"
    monkeypatch.setenv("LH_TEST_CHAT_KEY", KEY)
    assert client(tiers=tiers).resolve("cloud").api_key == KEY


def test_tier_whose_env_key_is_unset_is_not_configured(monkeypatch):
    monkeypatch.delenv("LH_TEST_CHAT_KEY", raising=False)
    chat = client(tiers={"cloud": ModelTier(model="openai/gpt-4o", api_key_env="LH_TEST_CHAT_KEY")})
    with pytest.raises(
        ChatNotConfigured, match=r"tier 'cloud' reads its key from .*LH_TEST_CHAT_KEY, which is not set"
    ):
        chat.resolve("cloud")


# ------------------------------------------------------------------------------- resolve
def test_unknown_tier_suggests_close_names():
    chat = client(tiers={"local_fast": ModelTier(model="ollama_chat/llama3")})
    with pytest.raises(UnknownModel, match=r"unknown model 'local_fsat'.*did you mean 'local_fast'\?"):
        chat.resolve("local_fsat")


def test_no_model_and_no_default_is_not_configured():
    with pytest.raises(ChatNotConfigured, match="no LLM model is configured"):
        client().resolve(None)


def test_default_tier_is_used_when_no_model_is_given():
    chat = client(default="local_fast", tiers={"local_fast": ModelTier(model="ollama_chat/llama3")})
    assert chat.resolve(None).model == "ollama_chat/llama3"


def test_refused_api_base_is_checked_before_any_key_is_read(tmp_path):
    # The tier's key file is broken; the refusal must come first, proving no key was touched.
    tiers = {"cloud": ModelTier(model="openai/gpt-4o", api_key_file=str(secret_file(tmp_path, 0o644)))}
    with pytest.raises(ApiBaseRefused, match=r"169\.254\.169\.254:80 is not in \[models\] api_base_allow"):
        client(tiers=tiers).resolve("cloud", api_base="http://169.254.169.254/latest")


def test_allowed_request_api_base_drops_the_configured_key(monkeypatch):
    monkeypatch.setenv("LH_TEST_CHAT_KEY", KEY)
    chat = client(
        tiers={"cloud": ModelTier(model="openai/gpt-4o", api_key_env="LH_TEST_CHAT_KEY")},
        api_base_allow=["127.0.0.1:8999"],
    )
    resolved = chat.resolve("cloud", api_base="http://127.0.0.1:8999/v1")
    assert resolved.api_base == "http://127.0.0.1:8999/v1" and resolved.api_key is None
    assert KEY not in repr(chat.resolve("cloud"))


# ------------------------------------------------------------------------------- api_base allowlist
ALLOW = ["127.0.0.1:11434", "ollama.internal", "10.20.0.0/16", "https://llm.example.org"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://ollama.internal:8080",
        "https://OLLAMA.internal./v1",
        "http://10.20.3.4:9000/v1",
        "https://llm.example.org/v1",
    ],
)
def test_allowlisted_api_bases(url):
    assert check_api_base(url, ALLOW) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", r"169\.254\.169\.254:80 is not in"),
        ("http://127.0.0.1:11435/v1", r"127\.0\.0\.1:11435 is not in"),
        ("http://127.0.0.1/v1", r"127\.0\.0\.1:80 is not in"),
        ("http://llm.example.org/v1", r"llm\.example\.org:80 is not in"),  # allowed only over https:443
        ("http://10.21.0.1/v1", r"10\.21\.0\.1:80 is not in"),
        ("http://127.0.0.1:11434@169.254.169.254/", r"must not carry credentials"),
        ("file:///etc/passwd", r"http:// or https:// URL, got scheme 'file'"),
        ("gopher://127.0.0.1:11434/", r"got scheme 'gopher'"),
        ("http://127.0.0.1:99999/", r"not a valid URL"),
        ("http:///v1", r"has no host"),
        ("http://0xA9FEA9FE/", r"0xa9fea9fe:80 is not in"),
        ("http://169.254.169.254.nip.io/", r"is not in"),
    ],
)
def test_refused_api_bases(url, reason):
    with pytest.raises(ApiBaseRefused, match=reason):
        check_api_base(url, ALLOW)


def test_empty_allowlist_refuses_everything():
    with pytest.raises(ApiBaseRefused, match="empty: no caller-supplied api_base is allowed"):
        check_api_base("http://127.0.0.1:11434", [])


@given(port=st.integers(min_value=1, max_value=65535).filter(lambda p: p != 11434))
def test_any_other_port_on_an_allowed_host_is_refused(port):
    with pytest.raises(ApiBaseRefused):
        check_api_base(f"http://127.0.0.1:{port}/v1", ["127.0.0.1:11434"])


@given(octets=st.tuples(*[st.integers(0, 255)] * 4))
def test_cidr_rule_matches_exactly_its_block(octets):
    address = ".".join(map(str, octets))
    inside = octets[:2] == (10, 20)
    if inside:
        assert check_api_base(f"http://{address}:1234", ["10.20.0.0/16"])
    else:
        with pytest.raises(ApiBaseRefused):
            check_api_base(f"http://{address}:1234", ["10.20.0.0/16"])


# ------------------------------------------------------------------------------- providers listing
def test_providers_lists_tiers_without_key_values(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_TEST_CHAT_KEY", KEY)
    loose = secret_file(tmp_path, 0o644)
    chat = client(
        default="local_fast",
        tiers={
            "local_fast": ModelTier(model="ollama_chat/llama3", api_base="http://127.0.0.1:11434"),
            "cloud_judge": ModelTier(model="openai/gpt-4o", api_key_env="LH_TEST_CHAT_KEY"),
            "frontier_review": ModelTier(model="anthropic/claude", api_key_file=str(loose)),
        },
        weak_models=["local_fast"],
        api_base_allow=["127.0.0.1:11434"],
    )
    listing = chat.providers()
    assert KEY not in repr(listing)
    tiers = {t["name"]: t for t in listing["tiers"]}
    assert tiers["cloud_judge"]["ready"] and tiers["cloud_judge"]["key_source"] == "env:LH_TEST_CHAT_KEY"
    assert not tiers["frontier_review"]["ready"] and "chmod 600" in tiers["frontier_review"]["problem"]
    assert tiers["local_fast"]["weak"] and listing["providers"] == ["anthropic", "ollama_chat", "openai"]


# ------------------------------------------------------------------------------- litellm, for real
def fake_tier(fake_llm, **extra) -> ModelsSettings:
    return ModelsSettings(tiers={"fake": ModelTier(model="openai/fake-model", api_base=fake_llm.url, **extra)})


def test_complete_through_litellm_sends_temperature_only_when_given(fake_llm):
    chat = ChatClient(fake_tier(fake_llm))
    result = chat.complete([{"role": "user", "content": "hello there"}], "fake")
    assert (result.content, result.finish_reason, result.model) == (
        "answer to: hello there",
        "stop",
        "openai/fake-model",
    )
    assert result.usage["total_tokens"] > 0
    assert "temperature" not in fake_llm.requests[-1]["body"]
    chat.complete([{"role": "user", "content": "again"}], "fake", temperature=0.0, max_tokens=5)
    assert fake_llm.requests[-1]["body"]["temperature"] == 0.0
    assert fake_llm.requests[-1]["body"]["max_tokens"] == 5


def test_provider_finish_reason_is_surfaced(fake_llm):
    fake_llm.finish_reason = "length"
    result = ChatClient(fake_tier(fake_llm)).complete([{"role": "user", "content": "long"}], "fake", max_tokens=1)
    assert result.finish_reason == "length"


def test_configured_key_goes_to_the_configured_endpoint(fake_llm, monkeypatch):
    monkeypatch.setenv("LH_TEST_CHAT_KEY", KEY)
    ChatClient(fake_tier(fake_llm, api_key_env="LH_TEST_CHAT_KEY")).complete([{"role": "user", "content": "x"}], "fake")
    assert fake_llm.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_unknown_provider_and_unconfigured_provider_fail_before_any_request(fake_llm, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    chat = ChatClient(ModelsSettings())
    with pytest.raises(UnknownModel, match=r"unknown provider 'nosuch' in model 'nosuch/model'"):
        chat.complete([{"role": "user", "content": "x"}], "nosuch/model")
    with pytest.raises(ChatNotConfigured, match=r"provider 'anthropic' is not configured .*ANTHROPIC_API_KEY"):
        chat.complete([{"role": "user", "content": "x"}], "anthropic/claude-3-haiku")
    assert fake_llm.requests == []


def test_provider_failure_is_a_provider_error_without_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_TEST_CHAT_KEY", KEY)
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    models = ModelsSettings(tiers={"dead": ModelTier(model="openai/x", api_base=dead, api_key_env="LH_TEST_CHAT_KEY")})
    with pytest.raises(ProviderError, match=r"openai/x: provider call failed") as info:
        ChatClient(models).complete([{"role": "user", "content": "x"}], "dead", timeout_s=5)
    assert KEY not in str(info.value)
    assert os.environ["LH_TEST_CHAT_KEY"] == KEY
