"""Chat through litellm: tier names from settings resolve to provider-prefixed models.

Keys come only from the environment or owner-only secret files named in settings, never from a
request. A request may point `api_base` only at an allowlisted host (and port), and then no
configured key is sent with it. litellm is imported lazily (it takes seconds) and only after
`LITELLM_LOCAL_MODEL_COST_MAP=True` is set, because otherwise it fetches a price list at import.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

from lakehouse.common.secrets import SecretFileError, is_secret_name, read_key_file
from lakehouse.common.suggest import did_you_mean
from lakehouse.config import ModelsSettings, ModelTier
from lakehouse.llm import embedded
from lakehouse.llm.errors import (  # noqa: F401 (ChatError re-exported)
    ApiBaseRefused,
    ChatError,
    ChatNotConfigured,
    ProviderError,
    UnknownModel,
)


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


# ------------------------------------------------------------------------------- secrets
def read_secret_file(path: str | Path, what: str = "secret file") -> str:
    """The stripped content of an owner-only file (`lakehouse.common.secrets.read_key_file`); a
    looser, missing or empty one means the model is not configured."""
    try:
        return read_key_file(path, what)
    except SecretFileError as exc:
        raise ChatNotConfigured(str(exc)) from None


def tier_key(name: str, tier: ModelTier) -> str | None:
    """The tier's key from its environment variable (first) or secret file; None if it has none."""
    if tier.api_key_env and os.environ.get(tier.api_key_env):
        return os.environ[tier.api_key_env]
    if tier.api_key_file:
        return read_secret_file(tier.api_key_file, f"tier {name!r}: key file")
    if tier.api_key_env:
        raise ChatNotConfigured(
            f"tier {name!r} reads its key from the environment variable {tier.api_key_env}, which is not set"
        )
    return None


# ------------------------------------------------------------------------------- api_base allowlist
def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _normal_host(host: str) -> str:
    host = host.lower().strip().strip("[]").rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _parse_allow_entry(entry: str) -> tuple[str, int | None] | ipaddress.IPv4Network | ipaddress.IPv6Network:
    """`host`, `host:port`, `[v6]:port`, `scheme://host[:port]` or a CIDR block (any port)."""
    entry = entry.strip()
    if "/" in entry and "://" not in entry:
        return ipaddress.ip_network(entry, strict=False)
    url = urlparse(entry if "://" in entry else f"//{entry}")
    port = url.port
    if port is None and "://" in entry:
        port = _default_port(url.scheme)
    return _normal_host(url.hostname or ""), port


def check_api_base(api_base: str, allow: list[str]) -> str:
    """Return `api_base` if its scheme is http(s), it has no credentials, and host+port are allowed."""
    try:
        url = urlparse(api_base)
        port = url.port or _default_port(url.scheme)
    except ValueError:
        raise ApiBaseRefused(f"api_base {api_base!r} is not a valid URL") from None
    if url.scheme not in ("http", "https"):
        raise ApiBaseRefused(f"api_base must be an http:// or https:// URL, got scheme {url.scheme!r}")
    if url.username is not None or url.password is not None:
        raise ApiBaseRefused("api_base must not carry credentials (user:password@)")
    if not url.hostname:
        raise ApiBaseRefused(f"api_base {api_base!r} has no host")
    host = _normal_host(url.hostname)
    for entry in allow:
        try:
            rule = _parse_allow_entry(entry)
        except ValueError:
            continue  # a malformed entry allows nothing
        if isinstance(rule, tuple):
            if rule[0] == host and rule[1] in (None, port):
                return api_base
        else:
            try:
                if ipaddress.ip_address(host) in rule:
                    return api_base
            except ValueError:
                continue
    raise ApiBaseRefused(
        f"api_base host {host}:{port} is not in [models] api_base_allow "
        f"({', '.join(allow) if allow else 'empty: no caller-supplied api_base is allowed'})"
    )


def redact_url(url: str | None) -> str | None:
    """`url` without credentials: its `user:password@` and the values of query parameters whose
    name says they hold a secret (`?api-key=...`, `&token=...`)."""
    if not url:
        return url
    parsed = urlparse(url)
    if parsed.username is not None or parsed.password is not None:
        parsed = parsed._replace(netloc=parsed.netloc.rsplit("@", 1)[1])
    if parsed.query:
        pairs = parse_qsl(parsed.query, keep_blank_values=True)
        shown = [(k, "***" if is_secret_name(k.replace("-", "_")) else v) for k, v in pairs]
        parsed = parsed._replace(query=urlencode(shown, safe="*"))
    return parsed.geturl()


def _import_litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True  # otherwise it prints help banners to stdout on errors
    if litellm.client_session is None:
        import httpx

        from lakehouse.llm.deadline import DeadlineTransport

        # The allow-list of api_base hosts is checked on the address asked for: a provider's redirect
        # to a host not on it was followed (the SDK's client follows them), and its answer returned.
        # (each call passes its own timeout; httpx's default of 5 s must never be what applies)
        litellm.client_session = httpx.Client(
            follow_redirects=False, timeout=httpx.Timeout(600.0), transport=DeadlineTransport()
        )
    if not os.environ.get("LITELLM_LOG"):
        # Its loggers inherit the root's level (INFO once Prefect has set up logging) and send INFO
        # to stdout: two lines a call landed before `lakehouse ask --json`'s JSON. Warnings still show.
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return litellm


class ChatClient:
    def __init__(self, models: ModelsSettings) -> None:
        self.models = models

    def resolve(self, name: str | None, api_base: str | None = None) -> ResolvedModel:
        name = name or self.models.default
        if not name:
            raise ChatNotConfigured(
                "no LLM model is configured: name one (a workflow node's or the workflow's `model:`, "
                "`--model` of `lakehouse ask`, the `model` of an HTTP or MCP call), "
                'or configure one (`[models] default = "local_fast"` with a `[models.tiers.local_fast]` '
                "entry in lakehouse.toml, or LH_MODELS__DEFAULT), or install the embedded model for "
                f"`local_fast`: {embedded.EXTRA_HINT}"
            )
        # The api_base check comes first so that a refused endpoint never causes a key to be read.
        checked_base = check_api_base(api_base, self.models.api_base_allow) if api_base is not None else None
        if name in self.models.tiers:
            tier = self.models.tiers[name]
            key = None if checked_base else tier_key(name, tier)
            resolved = ResolvedModel(name, tier.model, tier.api_base, key)
        elif name == embedded.TIER and embedded.installed():
            resolved = ResolvedModel(name, embedded.DEFAULT_PACK.litellm_model)
        elif "/" in name:
            resolved = ResolvedModel(None, name)
        else:
            hint = did_you_mean(name, self.models.tiers)
            if name == embedded.TIER:
                hint += f"; `{name}` is the embedded model once installed: {embedded.EXTRA_HINT}"
            raise UnknownModel(
                f"unknown model {name!r}: use a tier from [models.tiers] "
                f"({', '.join(sorted(self.models.tiers)) or 'none configured'}) or a provider-prefixed "
                f"name like 'ollama_chat/llama3'{hint}"
            )
        if checked_base:
            resolved.api_base = checked_base
            resolved.api_key = None  # a caller-chosen endpoint never receives a configured key
        return resolved

    def providers(self) -> dict[str, Any]:
        """The configured tiers, whether each is usable, and the api_base allowlist; no key values."""
        tiers = []
        for name, tier in sorted(self.models.tiers.items()):
            problem = None
            try:
                tier_key(name, tier)
            except ChatNotConfigured as exc:
                problem = str(exc)
            key_source = f"env:{tier.api_key_env}" if tier.api_key_env else "file" if tier.api_key_file else None
            tiers.append(
                {
                    "name": name,
                    "model": tier.model,
                    "provider": tier.model.split("/", 1)[0] if "/" in tier.model else None,
                    "api_base": redact_url(tier.api_base),
                    "key_source": key_source,
                    "ready": problem is None,
                    "problem": problem,
                    "weak": name in self.models.weak_models or tier.model in self.models.weak_models,
                }
            )
        if embedded.TIER not in self.models.tiers and embedded.installed():
            model = embedded.DEFAULT_PACK.litellm_model
            tiers.append(
                {
                    "name": embedded.TIER,
                    "model": model,
                    "provider": embedded.PROVIDER,
                    "api_base": None,
                    "key_source": None,
                    "ready": True,
                    "problem": None,
                    "weak": model in self.models.weak_models,
                }
            )
        return {
            "default": self.models.default,
            "tiers": tiers,
            "providers": sorted({t["provider"] for t in tiers if t["provider"]}),
            "weak_models": list(self.models.weak_models),
            "api_base_allow": list(self.models.api_base_allow),
        }

    def _check_provider(self, litellm: Any, target: ResolvedModel) -> None:
        try:
            _, provider, _, _ = litellm.get_llm_provider(target.model)
        except Exception:  # litellm raises its BadRequestError for names it cannot place
            raise UnknownModel(
                f"unknown provider {target.provider!r} in model {target.model!r}: "
                "prefix the model with a litellm provider, e.g. 'openai/...', 'ollama_chat/...'"
            ) from None
        if target.api_base or target.api_key:
            return
        missing = [k for k in litellm.validate_environment(target.model).get("missing_keys", []) if is_secret_name(k)]
        if missing:
            where = f"tier {target.tier!r}" if target.tier else f"model {target.model!r}"
            raise ChatNotConfigured(
                f"provider {provider!r} is not configured for {where}: set {' or '.join(missing)} in the "
                "environment, or give the tier an api_key_env / api_key_file"
            )

    def _prepare(
        self,
        messages: list[dict[str, Any]],
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        api_base: str | None,
        timeout_s: float,
    ) -> tuple[Any, ResolvedModel, dict[str, Any]]:
        """(litellm, the resolved target, the call's keyword arguments): what `complete` and `stream` share."""
        target = self.resolve(model, api_base)
        litellm = _import_litellm()
        if target.provider == embedded.PROVIDER:
            _prepare_embedded(litellm, target)
        self._check_provider(litellm, target)
        # No retries inside a call: the provider's client retried a timeout twice (a hung provider
        # held a request 3 x 120 s). A workflow node's `retries` retries the whole call.
        kwargs: dict[str, Any] = {"model": target.model, "messages": messages, "timeout": timeout_s, "max_retries": 0}
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
        return litellm, target, kwargs

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
        litellm, target, kwargs = self._prepare(messages, model, temperature, max_tokens, api_base, timeout_s)
        from lakehouse.llm.deadline import within

        try:
            with within(timeout_s):  # the whole answer, not only each byte, within the timeout
                response = litellm.completion(**kwargs)
        except Exception as exc:
            raise _provider_error(target, exc) from None
        if not response.choices:
            raise ProviderError(f"{target.model}: the provider answered no choices (an empty `choices` list)")
        choice = response.choices[0]
        usage = getattr(response, "usage", None)
        return ChatResult(
            content=choice.message.content or "",
            model=target.model,
            finish_reason=getattr(choice, "finish_reason", None),
            usage=_usage(usage),
        )

    def stream(
        self,
        messages: list[dict[str, Any]],
        model: str | None = None,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        api_base: str | None = None,
        timeout_s: float = 120.0,
    ) -> ChatStream:
        """The answer as it is generated (litellm streaming). Configuration errors and a provider
        that refuses the call raise here, before any text; a failure later raises from iteration."""
        litellm, target, kwargs = self._prepare(messages, model, temperature, max_tokens, api_base, timeout_s)
        # Ask for the token counts in a last chunk; providers that do not support it just omit them.
        kwargs.update(stream=True, stream_options={"include_usage": True})
        try:
            chunks = litellm.completion(**kwargs)
        except Exception as exc:
            raise _provider_error(target, exc) from None
        return ChatStream(target, iter(chunks))


def _prepare_embedded(litellm: Any, target: ResolvedModel) -> None:
    """Register the embedded provider and assemble its file here, so that a missing extra, a
    missing part or a bad checksum raises its own error rather than a provider failure."""
    if target.api_base:
        raise UnknownModel(f"{target.model} is the embedded model: it takes no api_base")
    embedded.assemble(embedded.default_models_dir(), embedded.pack_for(target.model))
    from lakehouse.llm.embedded_provider import register

    register(litellm)


def _usage(usage: Any) -> dict[str, int]:
    if not usage:
        return {}
    return {k: int(getattr(usage, k, 0) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


PROVIDER_TEXT_SHOWN = 2_000  # characters of a provider's error kept: a 20 MB error body went everywhere


def _provider_error(target: ResolvedModel, exc: Exception) -> ProviderError:
    message = str(exc)
    if target.api_key:
        message = message.replace(target.api_key, "***")
    # litellm puts the traceback of its own failure into some messages: server paths, no news
    message = message.split("Traceback (most recent call last)", 1)[0].rstrip()
    if len(message) > PROVIDER_TEXT_SHOWN:
        message = f"{message[:PROVIDER_TEXT_SHOWN]}… ({len(message):,} characters)"
    return ProviderError(
        f"{target.model}: provider call failed: {type(exc).__name__}: {message}",
        status=getattr(exc, "status_code", None),
    )


class ChatStream:
    """Iterates the text pieces of a streamed answer. Once it is exhausted, `text`, `finish_reason`
    and `usage` (when the provider sent token counts) describe the whole answer."""

    def __init__(self, target: ResolvedModel, chunks: Iterator[Any]) -> None:
        self.target = target
        self.model = target.model
        self._chunks = chunks
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: dict[str, int] = {}

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        while True:
            try:
                chunk = next(self._chunks)
            except StopIteration:  # the end (StopIteration is an Exception too): a failure only when cut short
                if self._cut_short():
                    raise ProviderError(
                        f"{self.model}: the answer stopped before the provider said it was complete "
                        f"(the stream ended with no finish reason after {len(self.text):,} characters)"
                    ) from None
                raise
            except Exception as exc:
                raise _provider_error(self.target, exc) from None
            usage = _usage(getattr(chunk, "usage", None))
            if usage.get("total_tokens"):
                self.usage = usage
            choices = getattr(chunk, "choices", None) or []  # the usage chunk has none
            if not choices:
                continue
            if getattr(choices[0], "finish_reason", None):
                self.finish_reason = choices[0].finish_reason
            delta = getattr(getattr(choices[0], "delta", None), "content", None)
            if delta:
                self.parts.append(delta)
                return delta

    def _cut_short(self) -> bool:
        """Did an OpenAI-protocol stream end before its provider sent why it stopped? Such a stream
        always ends with a finish reason; when the connection drops cleanly first (HTTP/1.0, a proxy),
        litellm makes up "stop" and the cut answer would pass for a whole one. Other providers'
        streams may send none, so they are not judged."""
        import litellm

        provider = getattr(self._chunks, "custom_llm_provider", None)
        if provider != "openai" and provider not in litellm.openai_compatible_providers:
            return False
        reasons = ("received_finish_reason", "intermittent_finish_reason")
        return all(getattr(self._chunks, name, "unknown") is None for name in reasons)

    def close(self) -> None:
        """Stop reading (the caller went away): closes the provider's connection when it can."""
        close = getattr(self._chunks, "close", None) or getattr(
            getattr(self._chunks, "completion_stream", None), "close", None
        )
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing is best effort; the answer is abandoned anyway
                pass
