"""Chat through litellm: tier names from settings resolve to provider-prefixed models.

litellm is imported lazily (it takes seconds) and only after `LITELLM_LOCAL_MODEL_COST_MAP=True`
is set, because otherwise it fetches a price list from the network at import.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from lakehouse.config import ModelsSettings


class ChatError(RuntimeError):
    """Base of chat errors a caller can fix (4xx over HTTP)."""


class ChatNotConfigured(ChatError):
    pass


class UnknownModel(ChatError):
    pass


class ApiBaseRefused(ChatError):
    pass


@dataclass
class ResolvedModel:
    tier: str | None
    model: str
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]


@dataclass
class ChatResult:
    content: str
    model: str
    finish_reason: str | None
    usage: dict[str, int]


def _host_allowed(api_base: str, allow: list[str]) -> bool:
    host = (urlparse(api_base).hostname or "").lower()
    if not host:
        return False
    for entry in allow:
        entry = entry.lower().strip()
        if "/" in entry:
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        elif host == entry:
            return True
    return False


def _import_litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    return litellm


class ChatClient:
    def __init__(self, models: ModelsSettings) -> None:
        self.models = models

    def resolve(self, name: str | None, api_base: str | None = None) -> ResolvedModel:
        name = name or self.models.default
        if not name:
            raise ChatNotConfigured(
                "no LLM model is configured: give the node a `model:`, set the workflow's `model:`, "
                "or configure one (`[models] default = \"local_fast\"` with a `[models.tiers.local_fast]` "
                "entry in lakehouse.toml, or LH_MODELS__DEFAULT)"
            )
        if name in self.models.tiers:
            tier = self.models.tiers[name]
            key = os.environ.get(tier.api_key_env) if tier.api_key_env else None
            resolved = ResolvedModel(name, tier.model, tier.api_base, key)
        elif "/" in name:
            resolved = ResolvedModel(None, name)
        else:
            close = difflib.get_close_matches(name, list(self.models.tiers), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise UnknownModel(
                f"unknown model {name!r}: use a tier from [models.tiers] "
                f"({', '.join(sorted(self.models.tiers)) or 'none configured'}) or a provider-prefixed "
                f"name like 'ollama_chat/llama3'{hint}"
            )
        if api_base is not None:
            if not _host_allowed(api_base, self.models.api_base_allow):
                raise ApiBaseRefused(
                    f"api_base host {urlparse(api_base).hostname!r} is not in [models] api_base_allow"
                )
            resolved.api_base = api_base
            resolved.api_key = None  # a caller-chosen endpoint never receives a configured key
        return resolved

    def complete(
        self,
        messages: list[dict[str, Any]],
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        api_base: str | None = None,
        timeout_s: float = 120.0,
    ) -> ChatResult:
        target = self.resolve(model, api_base)
        litellm = _import_litellm()
        if target.provider not in litellm.provider_list:
            raise UnknownModel(f"unknown provider {target.provider!r} in model {target.model!r}")
        kwargs: dict[str, Any] = {"model": target.model, "messages": messages, "timeout": timeout_s}
        if target.api_base:
            kwargs["api_base"] = target.api_base
            # OpenAI-compatible local servers want some key; never a real one unless configured.
            kwargs["api_key"] = target.api_key or "not-needed"
        elif target.api_key:
            kwargs["api_key"] = target.api_key
        if temperature is not None:
            kwargs["temperature"] = temperature
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        response = litellm.completion(**kwargs)
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return ChatResult(
            content=choice.message.content or "",
            model=target.model,
            finish_reason=getattr(choice, "finish_reason", None),
            usage={
                k: int(getattr(usage, k, 0) or 0)
                for k in ("prompt_tokens", "completion_tokens", "total_tokens")
            }
            if usage
            else {},
        )
