"""`lakehouse main --request ""` is refused before anything runs. An empty request was read as no
request: the whole main job ran (about a minute) and answered the workflow's default request."""

from __future__ import annotations

from tests.fixtures.cli import invoke_cli


def test_an_empty_request_is_refused_before_anything_runs(lh_home):
    for empty in ("", "   "):
        result = invoke_cli("main", "--request", empty, code=1)
        assert result.stderr == (
            "error: --request is empty: give the staffing request to search for (leave it out for the workflow's own)\n"
        )
    assert not (lh_home / "runs").exists()
