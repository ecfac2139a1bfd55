"""`llm.chat`: one prompt (or a message list) to a configured model through litellm."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modes.context import ModeContext
from modes.registry import mode


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | None = None
    messages: list[Message] | None = Field(default=None, max_length=1_000, description="at most 1,000 turns")
    system: str | None = None
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    # Only hosts in [models] api_base_allow are accepted, and no configured key is sent there.
    api_base: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ChatIn:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of `prompt` or `messages`")
        return self


class ChatOut(BaseModel):
    text: str
    model: str
    finish_reason: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)


@mode("llm.chat")
def chat(inp: ChatIn, ctx: ModeContext) -> ChatOut:
    """Send a prompt to an LLM (tier name or provider-prefixed model) and return its answer."""
    messages: list[dict[str, Any]] = []
    if inp.system:
        messages.append({"role": "system", "content": inp.system})
    if inp.prompt is not None:
        messages.append({"role": "user", "content": inp.prompt})
    else:
        messages.extend(m.model_dump() for m in inp.messages or [])
    result = ctx.lakehouse.chat.complete(
        messages,
        inp.model or ctx.model,
        temperature=inp.temperature,
        max_tokens=inp.max_tokens,
        api_base=inp.api_base,
    )
    return ChatOut(text=result.content, model=result.model, finish_reason=result.finish_reason, usage=result.usage)
