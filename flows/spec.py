"""The workflow file as pydantic models (a superset of Archon's node shape). Unknown keys are errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
INPUT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

InputType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetrySpec(_Strict):
    max_attempts: int = Field(default=1, ge=1, le=20, description="attempts in all, the first included")
    delay_s: float = Field(default=0.0, ge=0, le=3600)


class InputSpec(_Strict):
    type: InputType = "string"
    required: bool = False
    default: Any = None
    description: str | None = None


class NodeSpec(_Strict):
    id: str = Field(pattern=NODE_ID_PATTERN)
    mode: str | None = None
    prompt: str | None = None  # Archon shape: a prompt node is an `llm.chat` node
    model: str | None = None
    provider: str | None = None
    system: str | None = None
    description: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    when: str | None = None
    on_upstream_skip: Literal["skip", "run"] = "skip"
    retry: RetrySpec | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=86_400)

    @property
    def mode_name(self) -> str | None:
        return self.mode or ("llm.chat" if self.prompt is not None else None)


class WorkflowSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str | None = None
    provider: str | None = None
    model: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    nodes: list[dict[str, Any]] = Field(min_length=1)  # validated one by one (see loader)


WORKFLOW_KEYS = sorted(WorkflowSpec.model_fields)
NODE_KEYS = sorted({f.alias or n for n, f in NodeSpec.model_fields.items()})
