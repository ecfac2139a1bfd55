"""Load a workflow file and check everything before any node runs.

Every problem is collected and reported together (like Kedro's and Hamilton's graph checks), each
with file, node id, field and a "did you mean" suggestion where one exists.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from flows.checks import coerce_input, find_cycles, short_repr, suggest, value_shape_problem
from flows.checks_kinds import BodyChecks, SubWorkflows, node_payload, node_problems, with_input_problems
from flows.errors import WorkflowError
from flows.shapes import Shape
from flows.spec import NODE_KEYS, WORKFLOW_KEYS, NodeSpec, WorkflowSpec
from flows.yaml_limits import SafeLoader, too_big, yaml_limits
from lakehouse.common.validation import problem_text
from lakehouse.config import get_settings

__all__ = ["LoadedWorkflow", "WorkflowError", "WorkflowIssue", "coerce_input", "load_workflow", "node_payload"]

SHIPPED_WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


@dataclass(frozen=True)
class WorkflowIssue:
    file: str
    node: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.node or '-'}:"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


@dataclass
class LoadedWorkflow:
    spec: WorkflowSpec
    nodes: dict[str, NodeSpec]
    graph: nx.DiGraph
    source: str
    text: str
    inputs: dict[str, Any]
    # what references into each node may name; the checked sub-workflows by name (workflow nodes)
    shapes: dict[str, Shape | None] = field(default_factory=dict)
    subworkflows: dict[str, LoadedWorkflow] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def order(self) -> list[str]:
        return list(nx.topological_sort(self.graph))

    @property
    def layers(self) -> list[list[str]]:
        return [sorted(layer) for layer in nx.topological_generations(self.graph)]

    def payload(self, node_id: str) -> dict[str, Any]:
        return node_payload(self.spec, self.nodes[node_id])


# --------------------------------------------------------------------------------- finding files
def find_workflows() -> dict[str, Path]:
    """Shipped workflows (`workflows/`) and the user's (`LH_HOME/workflows`); the user's win."""
    found: dict[str, Path] = {}
    for folder in (SHIPPED_WORKFLOWS, get_settings().user_workflows):
        if folder.is_dir():
            for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
                found[path.stem] = path
    return found


def shipped_file_inputs(loaded: LoadedWorkflow, given: Mapping[str, Any]) -> dict[str, str]:
    """For a shipped workflow, each input not in `given` whose default names a file of the project
    (`examples/data/...`), as that file's absolute path. Read against the working directory, those
    defaults named nothing outside the checkout: `lakehouse main` and `workflow run staffing-data` run
    from anywhere else failed at their first node (`no such file`). A user's own workflow of the same
    name keeps its paths."""
    if Path(loaded.source).resolve().parent != SHIPPED_WORKFLOWS:
        return {}
    project = SHIPPED_WORKFLOWS.parent
    found = {}
    for name, spec in loaded.spec.inputs.items():
        default = spec.default
        if name not in given and isinstance(default, str) and not Path(default).is_absolute():
            if (project / default).is_file():
                found[name] = str(project / default)
    return found


def read_description(path: Path) -> str | None:
    """A workflow file's `description` for listings (None when it has none or is not readable)."""
    description = _read_top_level(path).get("description")
    return str(description) if description is not None else None


def _read_top_level(path: Path) -> dict[str, Any]:
    """A workflow file's top-level keys, read within the same limits as a load (empty if the file
    is unreadable, too big, too deep or not a mapping: `validate` says what is wrong)."""
    limit = get_settings().workflow_max_bytes
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
        text = data.decode("utf-8")
        if len(data) > limit or yaml_limits(text):
            return {}
        doc = yaml.load(text, Loader=SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, TypeError, AttributeError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def resolve_workflow_path(source: str | Path) -> Path:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(source):
        if not path.is_file():
            raise WorkflowError([WorkflowIssue(str(source), None, None, "no such workflow file")])
        return path
    known = find_workflows()
    if str(source) in known:
        return known[str(source)]
    # A saved workflow is known by its file's name; its `name:` may say otherwise
    calls_itself = sorted(stem for stem, path in known.items() if _read_top_level(path).get("name") == str(source))
    if calls_itself:
        stem = calls_itself[0]
        raise WorkflowError(
            [
                WorkflowIssue(
                    str(source),
                    None,
                    None,
                    f"unknown workflow name; {known[stem]} says `name: {source}`, but a saved workflow"
                    f" is known by its file's name: {stem!r}",
                )
            ]
        )
    raise WorkflowError(
        [
            WorkflowIssue(
                str(source),
                None,
                None,
                f"unknown workflow name{suggest(str(source), set(known))}"
                f" (known: {', '.join(sorted(known)) or 'none'})",
            )
        ]
    )


def load_workflow(source: str | Path, inputs: dict[str, Any] | None = None) -> LoadedWorkflow:
    path = resolve_workflow_path(source)
    return load_workflow_text(read_workflow_file(path), str(path), inputs)


def read_workflow_file(path: Path) -> str:
    limit = get_settings().workflow_max_bytes
    try:
        with path.open("rb") as handle:  # never more than the limit is read (a FIFO, /dev/zero, ...)
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise WorkflowError([WorkflowIssue(str(path), None, None, too_big(limit))])
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowError(
            [WorkflowIssue(str(path), None, None, f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
        ) from None
    except OSError as exc:
        raise WorkflowError([WorkflowIssue(str(path), None, None, f"cannot read: {exc.strerror}")]) from None
    return text


def load_workflow_text(
    text: str, source_name: str = "<string>", inputs: dict[str, Any] | None = None
) -> LoadedWorkflow:
    problems = input_shape_problems(inputs) if inputs else []
    if problems:  # before anything walks the values (the cache key is their JSON)
        raise WorkflowError([WorkflowIssue(source_name, None, field, message) for field, message in problems])
    key = _cache_key(text, source_name, inputs)
    if key in _checked:  # the CLI checks a file, then the flow gets the same text: check once
        _checked.move_to_end(key)
        return _checked[key]
    loaded = _Checker(source_name).load(text, inputs)
    if loaded.subworkflows:  # its validity also depends on other files, which may change: not cached
        return loaded
    # The flow receives the resolved inputs (defaults filled in): they check to the same result.
    keys = {key, _cache_key(text, source_name, loaded.inputs)} if inputs is not None else {key}
    for k in keys:
        _checked[k] = loaded
    while len(_checked) > 32:
        _checked.popitem(last=False)
    return loaded


def _cache_key(text: str, source_name: str, inputs: dict[str, Any] | None) -> tuple[str, str, str]:
    return text, source_name, json.dumps(inputs, sort_keys=True, default=str)


_checked: OrderedDict[tuple[str, str, str], LoadedWorkflow] = OrderedDict()


def input_shape_problems(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for input values nested deeper or holding more values than a workflow file may."""
    settings = get_settings()
    problems = []
    for name, value in inputs.items():
        problem = value_shape_problem(value, settings.workflow_max_depth, settings.workflow_max_values)
        if problem:
            problems.append((f"inputs.{name}", problem))
    return problems


# --------------------------------------------------------------------------------- the checker
class _Checker:
    def __init__(self, file: str, subs: SubWorkflows | None = None) -> None:
        self.file = file
        self.issues: list[WorkflowIssue] = []
        self.subs = subs  # None: the root of a check (its sub-workflows are checked one level deeper)

    def add(self, node: str | None, field: str | None, message: str) -> None:
        self.issues.append(WorkflowIssue(self.file, node, field, message))

    def fail(self) -> None:
        if self.issues:
            raise WorkflowError(self.issues)

    def pydantic_issues(self, errors: list[ErrorDetails], node: str | None, keys: list[str], prefix: str = "") -> None:
        for err in errors:
            loc = [str(p) for p in err["loc"]]
            field = prefix + ".".join(loc) if loc else (prefix.rstrip(".") or None)
            if err["type"] == "extra_forbidden":
                allowed = keys if len(loc) == 1 else []
                self.add(node, field, f"unknown key {short_repr(loc[-1])}{suggest(loc[-1], allowed)}")
            elif err["type"] == "literal_error" and isinstance(err.get("input"), str):
                options = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
                got = err["input"]
                self.add(
                    node,
                    field,
                    f"unknown value {short_repr(got)}{suggest(got, options)} (one of: {', '.join(options)})",
                )
            else:
                got = err.get("input")
                shown = f" (got {short_repr(got)})" if not isinstance(got, (dict, list)) and got is not None else ""
                self.add(node, field, f"{problem_text(err)}{shown}")

    def load(self, text: str, inputs: dict[str, Any] | None) -> LoadedWorkflow:
        doc = self.parse_yaml(text)
        self.fail()
        spec = self.check_top(doc)
        self.fail()
        assert spec is not None
        nodes = self.check_nodes(spec)
        graph = self.check_graph(nodes)
        subs = self.subs or SubWorkflows(load=_load_child, stack=(spec.name,))
        written = {str(raw["id"]): list(raw) for raw in spec.nodes if isinstance(raw, dict) and "id" in raw}
        body = BodyChecks(spec, nodes, graph, self.add, subs, written)
        shapes = body.run()
        self.check_defaults(spec)
        resolved = self.check_inputs(spec, inputs) if inputs is not None else {}
        if inputs is not None and not self.issues:
            for node_id, field_name, message in with_input_problems(spec, nodes, resolved):
                self.add(node_id, field_name, message)
        self.fail()
        return LoadedWorkflow(spec, nodes, graph, self.file, text, resolved, shapes, body.subworkflows)

    def parse_yaml(self, text: str) -> Any:
        try:
            problem = yaml_limits(text)
            if problem:
                self.add(None, None, problem)
                return None
            doc = yaml.load(text, Loader=SafeLoader)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            self.add(None, None, f"unsafe or unknown YAML tag{where}: {exc.problem}; only plain YAML is allowed")
            return None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            self.add(None, None, f"YAML syntax error{where}: {problem}")
            return None
        except RecursionError:  # not expected after yaml_limits; never a crash or a 500
            self.add(None, None, "the YAML is nested too deeply to load")
            return None
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:  # e.g. `2020-13-45`, `!!int 0b`
            self.add(None, None, f"YAML value error: {str(exc)[:200]}")
            return None
        if doc is None:
            self.add(None, None, "the workflow file is empty: it needs a name and at least one node")
        elif not isinstance(doc, dict):
            self.add(None, None, f"the top level must be a mapping with name and nodes, not a {type(doc).__name__}")
        return doc

    def check_top(self, doc: dict[str, Any]) -> WorkflowSpec | None:
        limit = get_settings().workflow_max_nodes
        if isinstance(doc.get("nodes"), list) and len(doc["nodes"]) > limit:
            self.add(
                None,
                "nodes",
                f"the workflow has {len(doc['nodes']):,} nodes, more than the limit of "
                f"{limit:,} (setting workflow_max_nodes)",
            )
            return None
        try:
            return WorkflowSpec.model_validate(doc)
        except ValidationError as exc:
            for err in exc.errors():
                if err["loc"] == ("nodes",) and err["type"] in ("too_short", "missing"):
                    self.add(None, "nodes", "the workflow has no nodes: add at least one")
                else:
                    self.pydantic_issues([err], None, WORKFLOW_KEYS)
            return None

    def check_nodes(self, spec: WorkflowSpec) -> dict[str, NodeSpec]:
        nodes: dict[str, NodeSpec] = {}
        for index, raw in enumerate(spec.nodes, start=1):
            label = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"#{index}"
            if not isinstance(raw, dict):
                self.add(label, None, f"a node must be a mapping, not a {type(raw).__name__}")
                continue
            try:
                node = NodeSpec.model_validate(raw)
            except ValidationError as exc:
                self.pydantic_issues(exc.errors(), label, NODE_KEYS)
                salvaged = _salvage(raw, exc)  # keep checking the rest of the node and the graph
                if salvaged is None:
                    continue
                node = salvaged
            for field_name, message in node_problems(node, raw):
                self.add(node.id, field_name, message)
            if node.id in nodes:
                self.add(node.id, "id", f"duplicate node id {node.id!r}")
                continue
            nodes[node.id] = node
        return nodes

    def check_graph(self, nodes: dict[str, NodeSpec]) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        for node in nodes.values():
            for dep in node.depends_on:
                if dep in nodes:
                    graph.add_edge(dep, node.id)
                else:
                    self.add(node.id, "depends_on", f"unknown node {short_repr(dep)}{suggest(dep, set(nodes))}")
        # One shortest cycle through the smallest node of each strongly connected component: linear
        # work, where listing every simple cycle is exponential (11 nodes that all depend on each
        # other have millions).
        for cycle in find_cycles(graph):
            path = " -> ".join([*cycle, cycle[0]])
            self.add(cycle[0], "depends_on", f"cycle: {path}")
        return graph

    def check_defaults(self, spec: WorkflowSpec) -> None:
        """The workflow's own default values, checked against their types as given ones are (a
        run still gets them as written: `10` stays 10 where a given number would be 10.0)."""
        for name, declared in spec.inputs.items():
            if declared.default is not None:
                _, problem = coerce_input(declared, declared.default)
                if problem:
                    self.add(None, f"inputs.{name}", f"default: {problem}")

    def check_inputs(self, spec: WorkflowSpec, given: dict[str, Any]) -> dict[str, Any]:
        resolved: dict[str, Any] = {}
        for name in given:
            if name not in spec.inputs:
                self.add(
                    None,
                    f"inputs.{name}",
                    f"unknown input{suggest(name, set(spec.inputs))} (declared: {', '.join(spec.inputs) or 'none'})",
                )
        for name, declared in spec.inputs.items():
            if name in given and given[name] is None and not declared.required and declared.default is None:
                resolved[name] = None  # an optional input left unset (as the run passes it back in)
            elif name in given:
                value, problem = coerce_input(declared, given[name])
                if problem:
                    self.add(None, f"inputs.{name}", problem)
                resolved[name] = value
            elif declared.required:
                self.add(
                    None,
                    f"inputs.{name}",
                    f"missing required input {name!r}: give it a value (CLI: --input {name}=VALUE)",
                )
            else:  # the workflow's own value, checked (`check_defaults`) but passed as written
                resolved[name] = declared.default
        return resolved


def _salvage(raw: dict[str, Any], exc: ValidationError) -> NodeSpec | None:
    bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    if "id" in bad:
        return None
    try:
        return NodeSpec.model_validate({k: v for k, v in raw.items() if k not in bad})
    except ValidationError:
        return None


def _load_child(path: Path, subs: SubWorkflows) -> LoadedWorkflow:
    """Check a sub-workflow's file (no inputs: a workflow node's `with` is checked against its
    declared inputs by the parent); raises WorkflowError."""
    return _Checker(str(path), subs).load(read_workflow_file(path), None)
