"""Issue 9, defect 1: over HTTP no mode reads or writes a file outside the lakehouse's roots
(LH_HOME, LH_HOME/inbox, `allowed_roots`), whether called directly or from a submitted workflow;
a refusal is a 400 naming the field, the value and the roots, and changes nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.http import assert_error, make_settings, serve, serve_process_settings
from tests.fixtures.learning import EVAL_QUERIES, history_records

EVIDENCE = [r.model_dump(mode="json") for r in history_records(1)]
CSV = "id,name\n1,Ann\n2,Bob\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An open API on its own LH_HOME, a directory outside it with a CSV and files a write probe must
    not touch, and a directory an operator allowed (`allowed_roots`)."""
    base = tmp_path_factory.mktemp("paths")
    home, outside, allowed = base / "home", base / "outside", base / "allowed"
    for d in (home, outside, allowed):
        d.mkdir()
    (outside / "people.csv").write_text(CSV)
    (allowed / "people.csv").write_text(CSV)
    (home / "queries.jsonl").write_text(json.dumps({"query": "nurse", "expected": ["x"]}) + "\n")
    (home / "evidence.jsonl").write_text("".join(json.dumps(r) + "\n" for r in EVIDENCE))
    (home / "escape").symlink_to(outside)  # a symlink inside home pointing outside
    (home / "people.csv").symlink_to(outside / "people.csv")
    with serve(make_settings(home, allowed_roots=[allowed])) as live, live.client() as c:
        yield live, c, home, outside, allowed


def mode(c, name: str, body: dict):
    return c.post(f"/v1/modes/{name}", json=body)


def tables(live) -> list[str]:
    return live.lakehouse.tables.list()


def ops_lines(home: Path) -> int:
    log = home / "ops.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


# reads -----------------------------------------------------------------------------------------
def test_ingest_of_etc_passwd_is_400_naming_path_and_creates_no_table(world):
    live, c, home, _, _ = world
    response = mode(c, "ingest", {"path": "/etc/passwd", "table": "stolen", "format": "tsv"})
    assert_error(
        response,
        400,
        "path_not_allowed",
        match=rf"^path: '/etc/passwd' is outside the allowed roots; allowed roots: {home}, {home}/inbox",
    )
    assert "lakehouse.stolen" not in tables(live)


def test_ingest_through_the_mode_endpoint_of_the_router_is_refused_too(world):
    live, c, _, outside, _ = world
    response = mode(c, "ingest", {"path": str(outside / "people.csv"), "table": "outside_csv"})
    assert_error(
        response, 400, "path_not_allowed", match=r"^path: '.*/outside/people\.csv' is outside the allowed roots"
    )
    assert "lakehouse.outside_csv" not in tables(live)


def test_dotdot_escape_is_refused(world):
    live, c, _, _, _ = world
    response = mode(c, "ingest", {"path": "../outside/people.csv", "table": "dotdot"})
    assert_error(response, 400, "path_not_allowed", match=r"^path: '\.\./outside/people\.csv' contains '\.\.'")
    assert "lakehouse.dotdot" not in tables(live)


@pytest.mark.parametrize("path", ["escape/people.csv", "people.csv"])
def test_symlink_inside_home_pointing_outside_is_refused(world, path):
    live, c, _, _, _ = world
    response = mode(c, "ingest", {"path": path, "table": "via_link"})
    assert_error(
        response, 400, "path_not_allowed", match=rf"^path: '{path}' leads outside the allowed roots through a symlink"
    )
    assert "lakehouse.via_link" not in tables(live)


def test_nul_byte_is_400_not_500(world):
    _, c, _, _, _ = world
    response = mode(c, "ingest", {"path": "people\u0000.csv", "table": "nul"})
    assert_error(response, 400, "path_not_allowed", match=r"^path: .* contains a NUL byte")


@pytest.mark.parametrize(
    "name, body, field",
    [
        ("distillation.score", {"evidence_path": "/etc/passwd"}, "evidence_path"),
        (
            "distillation.export",
            {"evidence": EVIDENCE, "eval_path": "/etc/passwd", "out_path": "sft.jsonl"},
            "eval_path",
        ),
        ("drift.scorer", {"history_path": "/etc/passwd", "old_version": "v1"}, "history_path"),
        ("drift.playbook", {"entries_path": "/etc/passwd", "corpora": ["c"]}, "entries_path"),
        ("drift.embedding", {"a_path": "/etc/passwd", "b_path": "b.npy"}, "a_path"),
        ("drift.nightly", {"evidence_path": "/etc/passwd"}, "evidence_path"),
        ("lift.run", {"corpora": ["c"], "queries_path": "/etc/passwd"}, "queries_path"),
        ("lift.run", {"corpora": ["c"], "train_path": "/etc/passwd", "test_path": "queries.jsonl"}, "train_path"),
    ],
)
def test_every_mode_that_reads_a_file_refuses_one_outside(world, name, body, field):
    _, c, home, _, _ = world
    response = mode(c, name, body)
    assert_error(
        response,
        400,
        "path_not_allowed",
        match=rf"^{field}: '/etc/passwd' is outside the allowed roots; allowed roots: {home}",
    )
    assert not (home / "sft.jsonl").exists()


def test_reading_the_lakehouse_state_is_refused(world):
    live, c, home, _, _ = world
    mode(c, "fixture.echo", {"value": 1})  # the ops log exists
    response = mode(c, "ingest", {"path": "ops.jsonl", "table": "audit", "format": "jsonl"})
    assert_error(response, 400, "path_not_allowed", match=r"^path: 'ops\.jsonl' is the lakehouse's own state")
    assert "lakehouse.audit" not in tables(live)


# writes ----------------------------------------------------------------------------------------
def test_score_out_path_outside_is_refused_and_the_target_untouched(world):
    _, c, _, outside, _ = world
    target = outside / "precious.txt"
    target.write_text("keep me\n")
    response = mode(c, "distillation.score", {"evidence": EVIDENCE, "out_path": str(target)})
    assert_error(
        response, 400, "path_not_allowed", match=r"^out_path: '.*/outside/precious\.txt' is outside the allowed roots"
    )
    assert target.read_text() == "keep me\n"
    assert not (outside / ".precious.txt.tmp").exists()


def test_export_out_path_outside_is_refused_and_nothing_written(world):
    _, c, _, outside, _ = world
    target = outside / "sft.jsonl"
    response = mode(
        c, "distillation.export", {"evidence": EVIDENCE, "eval_queries": EVAL_QUERIES, "out_path": str(target)}
    )
    assert_error(
        response, 400, "path_not_allowed", match=r"^out_path: '.*/outside/sft\.jsonl' is outside the allowed roots"
    )
    assert not target.exists()


def test_export_through_a_symlinked_folder_is_refused(world):
    _, c, _, outside, _ = world
    response = mode(
        c, "distillation.export", {"evidence": EVIDENCE, "eval_queries": EVAL_QUERIES, "out_path": "escape/leak.jsonl"}
    )
    assert_error(
        response, 400, "path_not_allowed", match=r"^out_path: 'escape/leak\.jsonl' leads outside the allowed roots"
    )
    assert not (outside / "leak.jsonl").exists()


def test_lift_out_dir_outside_is_refused_and_not_created(world):
    _, c, _, outside, _ = world
    target = outside / "lift-reports"
    response = mode(c, "lift.run", {"corpora": ["c"], "queries_path": "queries.jsonl", "out_dir": str(target)})
    assert_error(
        response, 400, "path_not_allowed", match=r"^out_dir: '.*/outside/lift-reports' is outside the allowed roots"
    )
    assert not target.exists()


def test_write_over_the_ops_log_is_refused_and_the_log_kept(world):
    _, c, home, _, _ = world
    mode(c, "fixture.echo", {"value": 1})  # the log exists and has rows
    before = (home / "ops.jsonl").read_text()
    response = mode(c, "distillation.score", {"evidence": EVIDENCE, "out_path": "ops.jsonl"})
    assert_error(
        response, 400, "path_not_allowed", match=r"^out_path: 'ops\.jsonl' would write over the lakehouse's own state"
    )
    assert (home / "ops.jsonl").read_text().startswith(before)  # only appended to (the failed call's row)


@pytest.mark.parametrize("target", ["evidence.jsonl", "api.json", "ops.jsonl.flushed"])
def test_a_rendered_page_cannot_write_over_the_evidence_log_or_the_api_state(world, target):
    _, c, home, _, _ = world
    before = (home / target).read_bytes() if (home / target).exists() else None
    response = mode(c, "knowledge.render", {"title": "x", "claims": [], "documents": [], "path": target})
    assert_error(response, 400, "path_not_allowed", match=rf"^path: '{target}' would write over the lakehouse's own")
    assert ((home / target).read_bytes() if (home / target).exists() else None) == before


# inside the roots still works --------------------------------------------------------------------
def test_relative_out_path_lands_under_home_and_the_same_name_outside_is_refused(world):
    _, c, home, outside, _ = world
    response = mode(
        c,
        "distillation.score",
        {"evidence_path": "evidence.jsonl", "out_path": "scored/out.jsonl", "include_results": False},
    )
    assert response.status_code == 200, response.text
    assert response.json()["out_path"] == str(home / "scored" / "out.jsonl")
    assert len((home / "scored" / "out.jsonl").read_text().splitlines()) == len(EVIDENCE)
    response = mode(
        c, "distillation.score", {"evidence_path": "evidence.jsonl", "out_path": str(outside / "scored" / "out.jsonl")}
    )
    assert_error(response, 400, "path_not_allowed", match=r"^out_path: .* is outside the allowed roots")
    assert not (outside / "scored").exists()


def test_an_operator_allowed_root_is_readable_and_its_sibling_is_not(world):
    live, c, _, outside, allowed = world
    response = mode(c, "ingest", {"path": str(allowed / "people.csv"), "table": "allowed_people"})
    assert response.status_code == 200, response.text
    assert response.json()["rows_total"] == 2
    response = mode(c, "ingest", {"path": str(outside / "people.csv"), "table": "sibling_people"})
    error = assert_error(response, 400, "path_not_allowed", match=r"^path: .* is outside the allowed roots")
    assert error["message"].endswith(f"/inbox, {allowed}")  # the operator's root is listed
    assert "lakehouse.sibling_people" not in tables(live)


def test_uploads_land_in_the_inbox(world):
    live, c, home, _, _ = world
    response = c.post("/v1/ingest", data={"table": "uploaded"}, files={"file": ("up.csv", CSV.encode())})
    assert response.status_code == 200, response.text
    op = [o for o in live.lakehouse.observer.ops() if o.get("mode") == "ingest" and o["status"] == "completed"][-1]
    assert f"{home}/inbox/" in json.dumps(op["input"])
    assert not (home / "uploads").exists()


# a workflow submitted over HTTP ----------------------------------------------------------------------
STEAL = """
name: http-steal
nodes:
  - id: steal
    mode: ingest
    with: {path: /etc/passwd, table: wf_stolen, format: tsv}
  - id: clobber
    mode: distillation.score
    with: {evidence: EVIDENCE, out_path: OUT}
"""


@pytest.mark.prefect
def test_workflow_over_http_cannot_leave_the_roots(prefect_server, tmp_path):
    from flows.runner import current_lakehouse

    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    with serve_process_settings() as live, live.client(timeout=300) as c:
        response = c.post(
            "/v1/observer/workflow/run",
            json={"yaml": STEAL.replace("OUT", str(target)).replace("EVIDENCE", json.dumps(EVIDENCE[:1]))},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "failed"
    steal, clobber = body["nodes"]["steal"], body["nodes"]["clobber"]
    assert steal["status"] == "failed" and clobber["status"] == "failed"
    assert steal["error"].startswith("PathNotAllowed: path: '/etc/passwd' is outside the allowed roots")
    assert clobber["error"].startswith(f"PathNotAllowed: out_path: '{target}' is outside the allowed roots")
    assert target.read_text() == "keep me\n"
    assert "lakehouse.wf_stolen" not in current_lakehouse().tables.list()
