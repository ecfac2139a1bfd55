"""Run one mode and record it as an ObservedOp: the single path for workflow nodes and direct
(HTTP or CLI) calls, so every call leaves the same audit row."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from lakehouse.common.validation import format_validation_error
from lakehouse.observe.observer import ObservedOp, now_utc
from lakehouse.observe.open_calls import OpenCall
from modes.context import ModeContext
from modes.registry import get_mode


def _model_and_tokens(payload: dict[str, Any], output: dict[str, Any] | None) -> tuple[Any, Any]:
    out = output or {}
    return out.get("model") or payload.get("model"), (out.get("usage") or {}).get("total_tokens")


def _error_text(exc: BaseException) -> str:
    """The op's `error`: a pydantic error in the one formatter's line (`field 'seconds': Input should
    be less than or equal to 3600`); its own text was five lines with a link to pydantic's site."""
    if isinstance(exc, ValidationError):
        return f"{type(exc).__name__}: {format_validation_error(exc)}"
    return f"{type(exc).__name__}: {exc}"


def invoke_mode(name: str, payload: dict[str, Any], ctx: ModeContext) -> Any:
    """Validate, run and record; returns the output as a JSON-ready dict, re-raises on failure."""
    spec = get_mode(name)
    started = now_utc()
    observer = ctx.lakehouse.observer
    common: dict[str, Any] = dict(  # the op's fields shared by both outcomes
        source=ctx.source,
        workflow=ctx.workflow,
        run_id=ctx.run_id,
        node_id=ctx.node_id,
        mode=name,
        attempt=ctx.attempt,
        parent_run_id=ctx.parent_run_id,
        summary_chars=ctx.lakehouse.settings.ops_summary_chars,
        secrets=ctx.lakehouse.settings.secret_values(),
    )
    model, _ = _model_and_tokens(payload, None)

    def failed(error: str) -> ObservedOp:
        return ObservedOp.build(ts_start=started, input=payload, status="failed", error=error, model=model, **common)

    call = OpenCall(observer, failed)  # a server that stops mid-call records it as cut
    try:
        output = spec(payload, ctx).model_dump(mode="json")
        if ctx.finish is not None:
            output = ctx.finish(output)
    except BaseException as exc:
        call.close(failed(_error_text(exc)))
        raise
    used_model, tokens = _model_and_tokens(payload, output)
    call.close(
        ObservedOp.build(
            ts_start=started,
            input=payload,
            output=output,
            status="completed",
            model=used_model,
            tokens=tokens,
            **common,
        )
    )
    return output
