"""The workflow file as pydantic models (a superset of Archon's node shape). Unknown keys are errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
INPUT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

InputType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]


class _Strict(BaseModel):
    # strict: `max_parallel: true` or `timeout_s: yes` is a mistake, not the number 1
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class RetrySpec(_Strict):
    max_attempts: int = Field(default=1, ge=1, le=20, description="attempts in all, the first included")
    delay_s: float = Field(default=0.0, ge=0, le=3600)


class LoopSpec(_Strict):
    until: str = Field(description="a `when:` condition over `$NODE.output` (this node's latest output)")
    max_iterations: int = Field(ge=1, le=1_000)
    on_limit: Literal["fail", "complete"] = "fail"


class ApprovalSpec(_Strict):
    message: str = Field(min_length=1, max_length=10_000)
    timeout_s: float = Field(default=3600.0, gt=0, le=30 * 86_400)
    on_reject: list[str] = Field(default_factory=list, description="nodes that run only when this is rejected")


class ApprovalOutcome(BaseModel):
    """An approval node's output (`$NODE.output.approved`, `.reason`, `.by`), also when rejected."""

    approved: bool
    reason: str | None = None
    by: str | None = None


TriggerRule = Literal["all_success", "all_done", "one_success", "none_failed"]
NodeKind = Literal["mode", "prompt", "workflow", "approval"]
# Names a reference may start with besides node ids: `$inputs.X`, `$item`, `$index` (fan-out),
# `$iteration`, `$previous` (loops). No node may take one of them as its id.
RESERVED_IDS = frozenset({"inputs", "item", "index", "iteration", "previous"})


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
    trigger_rule: TriggerRule = "all_success"
    for_each: str | None = Field(default=None, description="a reference to a list: the node runs once per item")
    max_parallel: int | None = Field(default=None, ge=1, le=1_000)
    allow_item_failures: bool = False
    loop: LoopSpec | None = None
    approval: ApprovalSpec | None = None
    workflow: str | None = Field(default=None, max_length=200, description="run this workflow as a subflow")
    output_schema: dict[str, Any] | None = None  # JSON Schema of a prompt node's answer

    @property
    def mode_name(self) -> str | None:
        return self.mode or ("llm.chat" if self.prompt is not None else None)

    @property
    def kind(self) -> NodeKind | None:
        """What runs: a mode, an LLM prompt, a sub-workflow or an approval gate (None: not said)."""
        if self.approval is not None:
            return "approval"
        if self.workflow is not None:
            return "workflow"
        if self.prompt is not None:
            return "prompt"
        return "mode" if self.mode is not None else None

    @property
    def op_mode(self) -> str | None:
        """The `mode` recorded on this node's ObservedOps."""
        if self.kind == "workflow":
            return f"workflow:{self.workflow}"
        if self.kind == "approval":
            return "approval"
        return self.mode_name


class WorkflowSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str | None = None
    provider: str | None = None
    model: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    nodes: list[dict[str, Any]] = Field(min_length=1)  # validated one by one (see loader)


WORKFLOW_KEYS = sorted(WorkflowSpec.model_fields)
NODE_KEYS = sorted({f.alias or n for n, f in NodeSpec.model_fields.items()})
