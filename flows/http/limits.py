"""Request limits.

- Body cap (`Settings.api_max_body_bytes`): 413 before the body is read when the length is
  declared, and as soon as the running count passes the cap when it is streamed (chunked).
- Text limits on every typed request body (`http_model`): a search query at most `QUERY_MAX_CHARS`,
  names and ids at most `NAME_MAX_CHARS`, any other text at most `TEXT_MAX_CHARS`; declared as
  `maxLength` in the OpenAPI document and answered with a 422 naming the field (the value is never
  echoed back).
- `check_body`, one dependency on every route: text must be valid Unicode (a lone surrogate such
  as JSON `"\\ud800"`, in a key or a value at any depth, is a 422 naming its JSON path), and typed
  bodies are validated strictly as JSON (`{"margin": false}` for a number, `{"ts_start": 0}` for a
  timestamp string are 422, not coerced).
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from collections import Counter
from typing import Annotated, Any, Union

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, StringConstraints, ValidationError, create_model
from pydantic.config import JsonValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flows.http.errors import ApiError, error_response
from lakehouse.common.text import MAX_JSON_DEPTH, deepest_field, json_depth

QUERY_MAX_CHARS = 4_096
NAME_MAX_CHARS = 1_024
TEXT_MAX_CHARS = 1_000_000
QUERY_FIELDS = frozenset({"query"})
NAME_FIELDS = frozenset(
    {
        "id",
        "new_id",
        "answer",
        "corpus",
        "corpora",
        "model",
        "table",
        "key",
        "workflow",
        "run_id",
        "node_id",
        "mode",
        "api_base",
        "role",
        "format",
    }
)


def text_cap(field: str) -> int:
    """The most characters a string in request field `field` may have."""
    if field in QUERY_FIELDS:
        return QUERY_MAX_CHARS
    if field in NAME_FIELDS:
        return NAME_MAX_CHARS
    return TEXT_MAX_CHARS


# ------------------------------------------------------------------------------- typed bodies
_TWINS: dict[type[BaseModel], type[BaseModel]] = {}
# "Exactly one of" rules that pydantic checks in a model validator, stated for the JSON schema.
_ONE_OF: dict[str, list[JsonValue]] = {
    "modes.catalog.llm.ChatIn": [
        {"required": ["prompt"], "properties": {"prompt": {"type": "string"}, "messages": {"type": "null"}}},
        {"required": ["messages"], "properties": {"messages": {"type": "array"}, "prompt": {"type": "null"}}},
    ],
    "modes.catalog.playbook.RecordIn": [
        {
            "required": ["query", "answer", "corpus", "score"],
            "properties": {
                "query": {"type": "string"},
                "answer": {"type": "string"},
                "corpus": {"type": "string"},
                "score": {"type": "number"},
                "entries": {"type": "null"},
            },
        },
        {
            "required": ["entries"],
            "properties": {
                "entries": {"type": "array"},
                "query": {"type": "null"},
                "answer": {"type": "null"},
                "corpus": {"type": "null"},
                "score": {"type": "null"},
            },
        },
    ],
}


def _capped(annotation: Any, field: str) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is str:
        return Annotated[str, StringConstraints(max_length=text_cap(field))]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return http_model(annotation)
    if origin is Annotated:
        base, *meta = typing.get_args(annotation)
        new = _capped(base, field)
        return annotation if new is base else Annotated[(new, *meta)]
    if origin in (Union, types.UnionType):
        args = typing.get_args(annotation)
        new_args = tuple(_capped(a, field) for a in args)
        return annotation if new_args == args else Union[new_args]
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        new = _capped(item, field)
        return annotation if new is item else types.GenericAlias(list, (new,))  # list[new]
    if origin is dict:
        key, value = typing.get_args(annotation) or (str, Any)
        new = _capped(value, field)
        return annotation if new is value else types.GenericAlias(dict, (key, new))  # dict[key, new]
    return annotation


def http_model(model: type[BaseModel]) -> type[BaseModel]:
    """`model` as an HTTP request body: the same fields, validators and name, with the text limits
    (and any "exactly one of" rule) in its schema. The mode itself still validates its own input."""
    if model in _TWINS:
        return _TWINS[model]
    _TWINS[model] = model  # a self-referencing model stops here
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        new = _capped(info.annotation, info.alias or name)
        if new is not info.annotation:
            fields[name] = (new, info)
    one_of = _ONE_OF.get(f"{model.__module__}.{model.__qualname__}")
    if not fields and not one_of:
        return model
    extra: dict[str, Any] = {"__module__": model.__module__, "__doc__": model.__doc__}
    twin = create_model(model.__name__, __base__=model, **extra, **fields)  # type: ignore[call-overload]
    if one_of:
        twin.model_config["json_schema_extra"] = {"oneOf": one_of}
        twin.model_rebuild(force=True)
    twin.__qualname__ = model.__qualname__
    _TWINS[model] = twin
    return twin


# ------------------------------------------------------------------------------- the body check
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a JSON escape of a surrogate (pairs too)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def find_invalid_text(value: Any, loc: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str, int] | None:
    """(JSON path, the offending character, its index) of the first lone surrogate in `value`'s
    strings, keys included; None when all text is valid Unicode."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        return (loc, found.group(), found.start()) if found else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _SURROGATE.search(key)
            if found:
                return (*loc, _printable(key)), found.group(), found.start()
            hit = find_invalid_text(item, (*loc, key))
            if hit:
                return hit
    elif isinstance(value, list):
        for index, item in enumerate(value):
            hit = find_invalid_text(item, (*loc, index))
            if hit:
                return hit
    return None


def _body_model(request: Request) -> type[BaseModel] | None:
    route = request.scope.get("route")
    if getattr(route, "path", None) == "/v1/modes/{name}":
        from modes.registry import UnknownModeError, get_mode

        try:
            return http_model(get_mode(request.path_params.get("name", "")).input_model)
        except UnknownModeError:
            return None  # the endpoint answers 404 with suggestions
    dependant = getattr(route, "dependant", None)
    for param in getattr(dependant, "body_params", None) or []:
        annotation = getattr(param.field_info, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
    return None


def _check_query_once(request: Request) -> None:
    """Every API query parameter is a single value; FastAPI would silently keep the last of a repeated
    one. (Console forms repeat keys on purpose, e.g. one `corpus` per ticked box.)"""
    if not request.url.path.startswith("/v1/"):
        return
    counts = Counter(key for key, _ in request.query_params.multi_items())
    repeated = [
        {
            "type": "query_repeated",
            "loc": ("query", key),
            "msg": f"given {count} times: give each query parameter once",
        }
        for key, count in counts.items()
        if count > 1
    ]
    if repeated:
        raise RequestValidationError(repeated)


# What Python's json module reads but JSON has no such number for: NaN, Infinity, and a literal too
# large for a double (1e400 reads as inf). Each was stored as null beside the hash of what was sent.
_NOT_A_NUMBER = re.compile(rb"NaN|Infinity|[0-9][eE]\+?[0-9]{3}")


def _not_json(problem: str) -> ApiError:
    return ApiError(400, "malformed_json", f"request body is not valid JSON: {problem}")


def _not_a_json_number(text: str) -> float:
    raise _not_json(f"{text} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _not_json(f"the number {text[:40]} is too large for a double")
    return value


def _check_json(raw: bytes) -> Any:
    """What FastAPI's parsing lets through, as a 400 malformed_json: a body nested past
    MAX_JSON_DEPTH levels (past 255 answering it failed in pydantic), a number JSON does not have.
    Only a body that may hold either is parsed again: one cannot nest deeper than it has `[` and
    `{` bytes. Returns the document when it parsed it (None otherwise), so it is parsed once."""
    deep = raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
    if not deep and not _NOT_A_NUMBER.search(raw):
        return None
    try:
        document = json.loads(raw, parse_constant=_not_a_json_number, parse_float=_finite)
    except (ValueError, RecursionError):
        return None  # FastAPI has answered malformed (or too deep to parse) JSON already
    depth = json_depth(document) if deep else 0
    if depth > MAX_JSON_DEPTH:
        field = deepest_field(document)
        at = f" (at {field})" if field else ""
        raise ApiError(
            400,
            "malformed_json",
            f"request body nests {depth} levels of lists and objects{at}; at most {MAX_JSON_DEPTH} are accepted",
        )
    return document


async def check_body(request: Request) -> None:
    """The checks every request passes before FastAPI's own validation (a dependency of the app, so
    it runs on every route): an API query parameter given once, then for a JSON body valid Unicode
    text and strict JSON types."""
    _check_query_once(request)
    if request.method not in ("POST", "PUT", "PATCH") or "json" not in request.headers.get("content-type", ""):
        return
    raw = await request.body()  # already read (and capped) by FastAPI: this is the cached copy
    document = _check_json(raw)
    if _SURROGATE_ESCAPE.search(raw):
        try:
            document = json.loads(raw) if document is None else document
        except ValueError:
            return  # FastAPI has answered malformed JSON already
        found = find_invalid_text(document)
        if found is not None:
            loc, char, index = found
            raise RequestValidationError(
                [
                    {
                        "type": "string_unicode",
                        "loc": ("body", *loc),
                        "msg": f"invalid Unicode: lone surrogate U+{ord(char):04X} at character {index} "
                        "(text must be valid Unicode: send a surrogate pair or U+FFFD)",
                    }
                ]
            )
    model = _body_model(request)
    if model is None:
        return
    try:
        model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        if any(e.get("type") == "json_invalid" for e in errors):
            return
        # JSON Schema counts 3.0 as an integer, so the lax reading of it stands; the input itself
        # is never carried further (an error body does not echo what was sent).
        # A body that is not an object at all is FastAPI's to answer (the same words as ever).
        kept: list[dict[str, Any]] = [
            {k: v for k, v in e.items() if k != "input"}
            for e in errors
            if not (e.get("type") == "int_type" and isinstance(e.get("input"), float) and e["input"].is_integer())
            and not (e.get("type") == "model_type" and not e.get("loc"))
        ]
        if kept:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in kept]) from None


def _too_large(limit: int) -> str:
    return f"request body is larger than the limit of {limit} bytes (LH_API_MAX_BODY_BYTES)"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await error_response(400, "bad_request", "Content-Length is not a number")(scope, receive, send)
            if length > self.max_bytes:
                details = {"limit": self.max_bytes, "content_length": length}
                return await error_response(413, "body_too_large", _too_large(self.max_bytes), details)(
                    scope, receive, send
                )
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises HTTPExceptions from body reading; the handler answers 413.
                    raise HTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)
