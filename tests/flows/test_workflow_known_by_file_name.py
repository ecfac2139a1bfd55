"""A saved workflow is known by its file's name; asked for by the `name:` inside it, the error says
which file that is and the name to use (it said only "unknown workflow name")."""

from __future__ import annotations

from tests.fixtures.cli import invoke_cli

WORKFLOW = """
name: req-demo
nodes:
  - {id: say, mode: fixture.echo, with: {value: hi}}
"""


def test_a_saved_workflow_asked_for_by_its_inner_name_is_pointed_to_its_file_name(lh_home):
    saved = lh_home / "workflows" / "mine.yaml"
    saved.parent.mkdir(parents=True)
    saved.write_text(WORKFLOW)
    err = invoke_cli("workflow", "plan", "req-demo", code=1).stderr
    assert f"req-demo:-: unknown workflow name; {saved} says `name: req-demo`" in err, err
    assert "a saved workflow is known by its file's name: 'mine'" in err
    assert invoke_cli("workflow", "plan", "mine").stdout  # the name it gives works
