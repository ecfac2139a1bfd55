"""Each file in tests/workflows/invalid/ is one bad case, rejected before any node runs.

A scenario file starts with `# expect: REGEX` (the error text) and optionally `# inputs: JSON`
(then the inputs are checked too, as `workflow run` does). The test-only sub-workflows some of them
name (tests/workflows/sub/) are the user's saved workflows (LH_HOME/workflows) in every test here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.loader import WorkflowError, load_workflow

CASES = sorted((Path(__file__).parents[1] / "workflows" / "invalid").glob("*.yaml"))
SUB = Path(__file__).parents[1] / "workflows" / "sub"


@pytest.fixture(autouse=True)
def saved_sub_workflows(lh_home: Path) -> Path:
    folder = lh_home / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    for path in SUB.glob("*.yaml"):
        (folder / path.name).symlink_to(path)
    return folder


def _header(path: Path) -> tuple[str, dict | None]:
    expect, inputs = None, None
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            expect = line.removeprefix("# expect: ").strip()
        elif line.startswith("# inputs: "):
            inputs = json.loads(line.removeprefix("# inputs: "))
    assert expect, f"{path.name} has no '# expect:' line"
    return expect, inputs


def test_there_are_at_least_fifteen_cases():
    assert len(CASES) >= 15


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_loader_rejects_with_message(path: Path):
    expect, inputs = _header(path)
    with pytest.raises(WorkflowError, match=expect) as info:
        load_workflow(path, inputs)
    assert all(issue.file == str(path) for issue in info.value.issues)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_cli_run_rejects_before_any_node_runs(path: Path, lh_home: Path):
    expect, inputs = _header(path)
    args = ["workflow", "run", str(path)]
    for key, value in (inputs or {}).items():
        args += ["--input", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert re.search(expect, result.stderr), result.stderr
    for line in result.stderr.strip().splitlines():
        assert line.startswith(f"{path}:"), line
    assert not (lh_home / "ops.jsonl").exists(), "a node ran although the workflow is invalid"


def test_unsafe_tag_never_executes():
    marker = Path("/tmp/lakehouse-unsafe-tag-ran")
    marker.unlink(missing_ok=True)
    with pytest.raises(WorkflowError, match="unsafe or unknown YAML tag"):
        load_workflow(Path(__file__).parents[1] / "workflows" / "invalid" / "unsafe-tag.yaml")
    assert not marker.exists()


def test_all_errors_are_reported_together(tmp_path: Path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "name: many\n"
        "nodes:\n"
        "  - {id: a, mode: fixture.uppr, with: {text: x}}\n"
        "  - {id: b, mode: fixture.upper, depends_on: [zz], with: {txt: x}}\n"
        "  - {id: c, mode: fixture.sleep, with: {seconds: soon}, retry: {max_attempts: 0}}\n"
    )
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    text = str(info.value)
    for fragment in (
        "unknown mode 'fixture.uppr'",
        "unknown node 'zz'",
        "unknown field 'txt'",
        "missing required field 'text'",
        "retry.max_attempts",
        "with.seconds",
    ):
        assert fragment in text
    assert len(info.value.issues) >= 6


def test_validate_cli_exit_codes(tmp_path: Path):
    runner = CliRunner()
    good = Path(__file__).parents[2] / "workflows" / "fixture-branches.yaml"
    assert runner.invoke(app, ["workflow", "validate", str(good)]).exit_code == 0
    bad = next(p for p in CASES if p.stem == "cycle")
    result = runner.invoke(app, ["workflow", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{bad}:")
    as_json = runner.invoke(app, ["workflow", "validate", "--json", str(bad)])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["valid"] is False


def test_unknown_workflow_name_suggests():
    with pytest.raises(WorkflowError, match="unknown workflow name; did you mean 'hello-lakehouse'"):
        load_workflow("hello-lakehose")
