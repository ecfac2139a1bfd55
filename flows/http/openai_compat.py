"""OpenAI-compatible chat: `POST /v1/chat/completions` and `GET /v1/models`, so the official `openai`
client (and tools built on it) works against `lakehouse api` unchanged: `base_url` is
`http://HOST:PORT/v1`, `api_key` is the lakehouse API token.

A model is a tier from `[models.tiers]` or a provider-prefixed litellm name, with the same key and
api_base allowlist rules as `/v1/chat` (`ChatClient` does both). A plain call runs mode `llm.chat`
through `invoke_mode`; a streamed one (`stream: true`) passes litellm's stream on as Server-Sent
Events and records the same op (source `http`, mode `llm.chat`) when the stream ends.

Errors on these routes answer OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`
(`code` is the lakehouse error type), so the client raises its matching exception; invalid input is
a 400, as OpenAI answers it. Rejections made before a route runs (401 token, 403 allowlist, 413
declared body size) keep the lakehouse envelope, which the client reads just as well.
"""

# No `from __future__ import annotations`: FastAPI reads the body annotation at run time.
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Generator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from flows.http.calls import call_mode, lakehouse_of
from flows.http.errors import ApiError, ErrorEnvelope, classify, malformed_json, unparsed_body, validation_details
from flows.http.limits import NAME_MAX_CHARS, TEXT_MAX_CHARS
from lakehouse.common.suggest import did_you_mean
from lakehouse.core import Lakehouse
from lakehouse.llm.chat import ChatStream
from lakehouse.llm.errors import ApiBaseRefused, ChatNotConfigured, UnknownModel
from lakehouse.observe.observer import ObservedOp, now_utc
from modes.catalog.llm import ChatIn

MODE = "llm.chat"
log = logging.getLogger("lakehouse.http")


# ------------------------------------------------------------------------------- request
class ContentPart(BaseModel):
    """A content part; only `text` parts can be answered (checked on the message, to name it)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=NAME_MAX_CHARS)
    text: str | None = Field(default=None, max_length=TEXT_MAX_CHARS)


class ChatMessage(BaseModel):
    """One message. Text only: content parts other than `text` (images, audio) are refused."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[str, Field(max_length=TEXT_MAX_CHARS)] | list[ContentPart]
    name: str | None = Field(default=None, max_length=NAME_MAX_CHARS, description="accepted and not used")

    @field_validator("content")
    @classmethod
    def _text_only(cls, value: str | list[ContentPart]) -> str | list[ContentPart]:
        for index, part in enumerate(value if isinstance(value, list) else []):
            if part.type != "text" or part.text is None:
                raise ValueError(f"part {index} is of type {part.type!r}: only text parts (`type: text`) are supported")
            if part.model_extra:  # `cache_control` and the like were accepted and silently not honoured
                unknown = ", ".join(map(repr, part.model_extra))
                raise ValueError(f"part {index}: unknown field(s) {unknown} (a text part takes type and text)")
        return value


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


# A conversation's turns: 900,000 one-word messages (30 MB, under the body limit) held the API for
# four minutes and 2 GB; no chat needs a thousand turns in one request.
MAX_MESSAGES = 1_000


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request, the parameters lakehouse can honour; any other (tools,
    response_format, top_p, ...) is refused by name rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(max_length=NAME_MAX_CHARS, description="a tier name, or a provider-prefixed litellm model")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0, description="wins over `max_tokens`")
    n: Literal[1] | None = Field(default=None, description="one choice only")
    user: str | None = Field(default=None, max_length=NAME_MAX_CHARS, description="accepted and not used")
    api_base: str | None = Field(
        default=None,
        max_length=NAME_MAX_CHARS,
        description="lakehouse extension (`extra_body`): an allowlisted endpoint; no configured key is sent there",
    )


# ------------------------------------------------------------------------------- response documents
class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    """A whole answer; with `stream: true` the answer is instead `text/event-stream` of
    `chat.completion.chunk` objects ending with `data: [DONE]`."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(description="the provider-prefixed model that answered")
    choices: list[Choice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str = Field(description="the tier name, to pass as `model`")
    object: Literal["model"] = "model"
    created: int = Field(description="always 0: a tier is configuration, it has no creation time")
    owned_by: str = Field(description="the tier's provider")
    model: str = Field(description="the provider-prefixed model the tier calls")
    ready: bool = Field(description="whether its key and provider are configured")
    problem: str | None = Field(description="why it is not ready")
    default: bool = Field(description="the `[models] default` tier")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIErrorInfo(BaseModel):
    message: str
    type: str = Field(description="OpenAI's error class, e.g. `invalid_request_error`")
    param: str | None = Field(description="the request field at fault, when there is one")
    code: str | None = Field(description="the lakehouse error type, e.g. `unknown_model`")


class OpenAIErrorEnvelope(BaseModel):
    error: OpenAIErrorInfo


# ------------------------------------------------------------------------------- errors
_OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
# The request field a chat error is about.
_PARAM_OF = ((UnknownModel, "model"), (ChatNotConfigured, "model"), (ApiBaseRefused, "api_base"))


def _openai_type(status: int) -> str:
    if status >= 500:
        return "api_error"
    return _OPENAI_TYPES.get(status, "invalid_request_error")


def openai_error_body(status: int, message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": _openai_type(status), "param": param, "code": code}}


def _validation_answer(exc: RequestValidationError) -> tuple[int, str, str | None, str | None]:
    errors = list(exc.errors())
    bad_json = malformed_json(exc)
    if bad_json is not None:
        return 400, bad_json[0], "malformed_json", None
    if any(tuple(e.get("loc", ())) == ("body",) for e in errors):
        return 400, "the request body must be a JSON object (Content-Type: application/json)", "invalid_request", None
    message, fields = validation_details(errors, ChatCompletionRequest)
    return 400, message, "invalid_request", fields[0]["field"] if fields else None


def openai_error(request: Request, exc: Exception) -> JSONResponse | None:
    """`exc` as OpenAI's error answer, or None for one this layer does not classify (a bug: the
    app's guard answers it with a 500 and an error id)."""
    redact = request.app.state.redact
    param: str | None = None
    if isinstance(exc, RequestValidationError):
        status, message, code, param = _validation_answer(exc)
    elif isinstance(exc, StarletteHTTPException):
        problem = unparsed_body(exc)
        status, message = exc.status_code, problem or str(exc.detail)
        code = "malformed_json" if problem else "http_error"
    else:
        known = classify(exc)
        if known is None:
            return None
        status, message, code = known.status, redact(known.message), known.type
        fields = known.details.get("fields") if isinstance(known.details, dict) else None
        if fields:
            param = fields[0].get("field")
        param = param or next((p for cls, p in _PARAM_OF if isinstance(exc, cls)), None)
        if isinstance(exc, UnknownModel):
            status = 404  # what OpenAI answers for a model it does not have
        elif status == 422:
            status = 400  # OpenAI answers invalid parameters with 400
    return JSONResponse(openai_error_body(status, message, code, param), status_code=status)


class OpenAIRoute(APIRoute):
    """A route whose errors (validation, chat, body limits met while reading) answer OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = openai_error(request, exc)
                if answer is None:
                    raise
                return answer

        return route


def _declared_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """These routes answer OpenAI's error shape; the ones the app answers before (token, allowlist,
    body size) or around them (500) keep the lakehouse envelope: either may come."""
    either = OpenAIErrorEnvelope | ErrorEnvelope
    return {
        code: {"model": either, "description": "An OpenAI-style error (or the lakehouse envelope)"} for code in codes
    }


# ------------------------------------------------------------------------------- chat
def _mode_payload(body: ChatCompletionRequest) -> dict[str, Any]:
    """The `llm.chat` input for an OpenAI request: text content joined, `developer` as `system`."""
    messages = []
    for message in body.messages:
        content = (
            message.content if isinstance(message.content, str) else "\n".join(p.text or "" for p in message.content)
        )
        messages.append({"role": "system" if message.role == "developer" else message.role, "content": content})
    payload: dict[str, Any] = {"messages": messages, "model": body.model}
    max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    for key, value in (("temperature", body.temperature), ("max_tokens", max_tokens), ("api_base", body.api_base)):
        if value is not None:
            payload[key] = value
    return payload


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _record(
    lakehouse: Lakehouse, payload: dict[str, Any], started: Any, *, output: Any = None, error: str = ""
) -> None:
    """The op `invoke_mode` would record for this call (a stream cannot go through it: its output
    exists only once the client has read it)."""
    settings = lakehouse.settings
    lakehouse.observer.record(
        ObservedOp.build(
            ts_start=started,
            input=payload,
            output=output,
            status="failed" if error else "completed",
            error=error or None,
            source="http",
            mode=MODE,
            model=(output or {}).get("model") or payload.get("model"),
            tokens=((output or {}).get("usage") or {}).get("total_tokens"),
            summary_chars=settings.ops_summary_chars,
            secrets=settings.secret_values(),
        )
    )


def _sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


class ClosingStream(StreamingResponse):
    """A stream that closes its event generator however the response ends. When the client goes
    away Starlette just stops reading it, and a generator left suspended would neither stop the
    provider's stream nor record the op until the garbage collector found it."""

    def __init__(self, events: Generator[str, None, None], **kwargs: Any) -> None:
        super().__init__(events, **kwargs)
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await run_in_threadpool(self._close)

    def _close(self) -> None:
        try:
            self.events.close()
        except ValueError:  # still running in a worker thread: it ends (and records) when that step returns
            log.warning("a chat stream was still running when its response ended")


def _stream(request: Request, payload: dict[str, Any], include_usage: bool) -> StreamingResponse:
    lakehouse = lakehouse_of(request)
    redact = request.app.state.redact
    try:
        inp = ChatIn.model_validate(payload)  # the mode's own input rules, as a plain call has
    except ValidationError as exc:
        message, fields = validation_details(exc.errors(), ChatIn, strip=())
        raise ApiError(422, "invalid_request", f"{MODE}: {message}", {"mode": MODE, "fields": fields}) from None
    messages = [m.model_dump() for m in inp.messages or []]
    started = now_utc()
    try:
        # Configuration errors and a provider that refuses the call surface here, as an HTTP error.
        stream = lakehouse.chat.stream(
            messages, inp.model, temperature=inp.temperature, max_tokens=inp.max_tokens, api_base=inp.api_base
        )
        first = next(stream, None)
    except Exception as exc:
        _record(lakehouse, payload, started, error=f"{type(exc).__name__}: {exc}")
        raise
    return ClosingStream(
        _events(lakehouse, payload, started, stream, first, include_usage, redact),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _events(
    lakehouse: Lakehouse,
    payload: dict[str, Any],
    started: Any,
    stream: ChatStream,
    first: str | None,
    include_usage: bool,
    redact: Callable[[str], str],
) -> Generator[str, None, None]:
    """`chat.completion.chunk` events, then `[DONE]`. A provider failure mid-answer becomes an
    `error` event (the client raises it); the op is recorded when the provider's stream ends."""
    base = {
        "id": _completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": stream.model,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        event: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        if include_usage:
            event["usage"] = None  # as OpenAI: only the last chunk carries usage
        return _sse(event)

    recorded = False
    try:
        yield chunk({"role": "assistant", "content": first or ""})
        for piece in stream:
            yield chunk({"content": piece})
        output = {
            "text": stream.text,
            "model": stream.model,
            "finish_reason": stream.finish_reason,
            "usage": stream.usage,
        }
        _record(lakehouse, payload, started, output=output)
        recorded = True
        yield chunk({}, stream.finish_reason or "stop")
        if include_usage:
            yield _sse({**base, "choices": [], "usage": stream.usage or None})
        yield "data: [DONE]\n\n"
    except Exception as exc:
        if recorded:
            raise
        _record(lakehouse, payload, started, error=f"{type(exc).__name__}: {exc}")
        recorded = True
        known = classify(exc)
        if known is None:
            raise
        yield _sse(openai_error_body(known.status, redact(known.message), known.type))
    finally:
        if not recorded:  # the client went away before the end: stop the provider, keep the op
            stream.close()
            _record(lakehouse, payload, started, error="the client closed the stream before the answer ended")


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)

    @router.post(
        "/chat/completions",
        summary="OpenAI-compatible chat completion (streaming with `stream: true`)",
        response_model=ChatCompletion,
        responses={
            200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
            **_declared_errors(400, 403, 404, 413, 502, 503),
        },
    )
    def chat_completions(request: Request, body: ChatCompletionRequest = Body(...)) -> Response:
        """Runs mode `llm.chat` (recorded as an ObservedOp with source `http`). `model` is a tier name
        or a provider-prefixed model; an unknown one is a 404 naming the tiers."""
        payload = _mode_payload(body)
        if body.stream:
            return _stream(request, payload, bool(body.stream_options and body.stream_options.include_usage))
        out = call_mode(request, MODE, payload)
        usage = out.get("usage") or None
        completion = ChatCompletion(
            id=_completion_id(),
            created=int(time.time()),
            model=out["model"],
            choices=[
                Choice(index=0, message=AssistantMessage(content=out["text"]), finish_reason=out["finish_reason"])
            ],
            usage=Usage(**usage) if usage else None,
        )
        return JSONResponse(completion.model_dump(mode="json"))

    def card(tier: dict[str, Any], default: str | None) -> ModelCard:
        return ModelCard(
            id=tier["name"],
            created=0,
            owned_by=tier["provider"] or "lakehouse",
            model=tier["model"],
            ready=tier["ready"],
            problem=tier["problem"],
            default=tier["name"] == default,
        )

    @router.get("/models", summary="The model tiers, OpenAI-style, and whether each is ready", response_model=ModelList)
    def list_models(request: Request) -> ModelList:
        """Provider-prefixed names work too as `model` but are not listed. Never shows a key."""
        info = lakehouse_of(request).chat.providers()
        return ModelList(data=[card(t, info["default"]) for t in info["tiers"]])

    @router.get("/models/{model}", summary="One model tier", response_model=ModelCard, responses=_declared_errors(404))
    def get_model(request: Request, model: str) -> ModelCard:
        info = lakehouse_of(request).chat.providers()
        for tier in info["tiers"]:
            if tier["name"] == model:
                return card(tier, info["default"])
        names = [t["name"] for t in info["tiers"]]
        raise UnknownModel(
            f"no model tier {model!r} (tiers: {', '.join(names) or 'none configured'}){did_you_mean(model, names)}"
        )

    return router
