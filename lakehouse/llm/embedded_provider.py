"""The embedded model behind litellm: load it once per process, generate, serve it as a provider.

`lakehouse-local/<model>` is a litellm CustomLLM provider, so `llm.chat`, `ask`, prompt nodes
and the OpenAI-compatible endpoint reach the embedded model through the same `litellm.completion`
call as any other model. The model is loaded by transformers from the assembled GGUF file (it
de-quantizes to bfloat16: about a minute and 5.6 GB on first use in a process) and answers with
its chat template, greedily when the temperature is 0 or unset. torch and transformers are
imported only when a model is loaded.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # as in chat.py: no price-list fetch at import
from litellm.llms.custom_llm import CustomLLM  # noqa: E402

from lakehouse.llm.embedded import EXTRA_HINT, PROVIDER, assemble, default_models_dir, pack_for
from lakehouse.llm.errors import EmbeddedModelNotInstalled, ProviderError

# bfloat16 halves the memory of the de-quantized weights against float32 (measured 5.6 vs 9 GB);
# bench/embedded_model.py --dtype compares them
DTYPE = "bfloat16"
DEFAULT_MAX_TOKENS = 512  # a caller that sets no limit still gets an answer in minutes, not hours, at 3-4 tok/s


@dataclass
class Generation:
    """What a finished generation amounts to; a stream yields it last, after the text pieces."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of sequence) or "length" (max_tokens reached)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


class Generator(Protocol):
    def stream(
        self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float
    ) -> Iterator[str | Generation]: ...


def generate(
    generator: Generator, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float
) -> Generation:
    """The whole answer: the stream's closing summary."""
    for item in generator.stream(messages, max_tokens=max_tokens, temperature=temperature):
        if isinstance(item, Generation):
            return item
    raise ProviderError("the embedded model's generation ended without its summary")


def _text(content: Any) -> str:
    """OpenAI message content as plain text: a string, or the text parts of a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


class TransformersGenerator:
    """The model and tokenizer loaded from a GGUF file; one generation at a time (a second waits:
    on a few CPU cores two at once would only both be slower)."""

    def __init__(self, path: Path) -> None:
        # Everything is local: no hub lookup, whatever the environment says.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gguf  # noqa: F401 - transformers reads GGUF through it; missing, it fails later and vaguely
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise EmbeddedModelNotInstalled(
                f"the embedded model needs the package {exc.name!r}, which is not installed: {EXTRA_HINT}"
            ) from None
        self._torch = torch
        started = time.perf_counter()
        # Any: transformers' own annotations do not describe GGUF-loaded models well enough for mypy
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        self.model: Any = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=getattr(torch, DTYPE), local_files_only=True
        )
        self.model.eval()
        self.load_seconds = time.perf_counter() - started
        # The chat template ends a turn with <|im_end|>; the GGUF's own EOS may be <|endoftext|>.
        ends = {self.tokenizer.eos_token_id}
        for token in ("<|im_end|>", "<|endoftext|>"):
            token_id = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(token_id, int) and token_id != self.tokenizer.unk_token_id:
                ends.add(token_id)
        self.eos_ids = sorted(i for i in ends if i is not None)
        self._lock = threading.Lock()

    def stream(
        self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float
    ) -> Iterator[str | Generation]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        chat = [{"role": m.get("role", "user"), "content": _text(m.get("content"))} for m in messages]
        inputs = self.tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_tokens = int(inputs["input_ids"].shape[1])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        abandoned = threading.Event()

        class _Abandoned(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return abandoned.is_set()

        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature}
            if temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with self._torch.inference_mode():
                    result["ids"] = self.model.generate(
                        **inputs,
                        max_new_tokens=max_tokens,
                        eos_token_id=self.eos_ids,
                        pad_token_id=self.eos_ids[0],
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Abandoned()]),
                        **sampling,
                    )
            except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, which raises it
                result["error"] = exc
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, name="lakehouse-local-generate", daemon=True)
            worker.start()
            parts: list[str] = []
            try:
                for piece in streamer:
                    if piece:
                        parts.append(piece)
                        yield piece
            finally:
                abandoned.set()  # a consumer that stops reading stops the generation too
                worker.join()
        if "error" in result:
            raise result["error"]
        new_ids = result["ids"][0, prompt_tokens:].tolist()
        completion_tokens = len(new_ids)
        ended = bool(new_ids) and new_ids[-1] in self.eos_ids
        finish = "length" if completion_tokens >= max_tokens and not ended else "stop"
        yield Generation("".join(parts), prompt_tokens, completion_tokens, finish)


_LOADED: dict[Path, TransformersGenerator] = {}
_LOAD_LOCK = threading.Lock()


def generator_for(model: str) -> Generator:
    """The loaded embedded model named by `model`, assembling and loading it on first use; two
    threads asking at once load it once."""
    path = assemble(default_models_dir(), pack_for(model))
    with _LOAD_LOCK:
        if path not in _LOADED:
            _LOADED[path] = TransformersGenerator(path)
        return _LOADED[path]


def _options(optional_params: dict[str, Any] | None) -> dict[str, Any]:
    params = optional_params or {}
    max_tokens = params.get("max_tokens") or params.get("max_completion_tokens") or DEFAULT_MAX_TOKENS
    return {"max_tokens": int(max_tokens), "temperature": float(params.get("temperature") or 0.0)}


class LocalModelProvider(CustomLLM):
    """litellm's handler for `lakehouse-local/<model>`. `generator_for` maps the model name to
    something that generates; the default loads the real model."""

    def __init__(self, generator_for: Callable[[str], Generator] = generator_for) -> None:
        super().__init__()
        self._generator_for = generator_for

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        import litellm

        model, response = kwargs["model"], kwargs["model_response"]
        done = generate(self._generator_for(model), kwargs["messages"], **_options(kwargs.get("optional_params")))
        response.choices[0].message.content = done.text
        response.choices[0].finish_reason = done.finish_reason
        response.model = f"{PROVIDER}/{model}"
        response.created = int(time.time())
        response.usage = litellm.Usage(
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
            total_tokens=done.prompt_tokens + done.completion_tokens,
        )
        return response

    def streaming(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        generator = self._generator_for(kwargs["model"])
        for item in generator.stream(kwargs["messages"], **_options(kwargs.get("optional_params"))):
            if isinstance(item, Generation):
                yield {"text": "", "is_finished": True, "finish_reason": item.finish_reason, "usage": item.usage()}
            else:
                yield {"text": item, "is_finished": False, "finish_reason": "", "usage": None}

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.completion, *args, **kwargs)

    # litellm declares a coroutine but iterates what it gets; its own CustomLLM examples are async generators
    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        chunks = self.streaming(*args, **kwargs)
        end = object()
        while (chunk := await asyncio.to_thread(next, chunks, end)) is not end:
            yield chunk


_REGISTER_LOCK = threading.Lock()


def register(litellm: Any, handler: CustomLLM | None = None) -> None:
    """Make `lakehouse-local/...` a litellm provider (idempotent). A given `handler` replaces the
    registered one. litellm adds custom providers to its provider list only inside a completion
    call; we add it now so that `get_llm_provider` knows the name before the first call."""
    with _REGISTER_LOCK:
        entries = [item for item in litellm.custom_provider_map if item["provider"] == PROVIDER]
        if handler is not None or not entries:
            for item in entries:
                litellm.custom_provider_map.remove(item)
            litellm.custom_provider_map.append(
                {"provider": PROVIDER, "custom_handler": handler or LocalModelProvider()}
            )
        litellm.utils.custom_llm_setup()
