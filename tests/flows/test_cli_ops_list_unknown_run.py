"""`ops list --run ID` of a run id no op has printed an empty table, exit 0, with no word: read as
"that run did nothing" (a typo'd or truncated id). It says so on stderr; stdout stays the listing."""

from __future__ import annotations

import json

from tests.fixtures.cli import invoke_cli


def test_an_unknown_run_id_is_said_on_stderr(lh_home):
    result = invoke_cli("ops", "list", "--run", "no-such-run", "--json")
    assert json.loads(result.stdout) == []
    assert f"note: no op has run id 'no-such-run' in {lh_home / 'ops.jsonl'}" in " ".join(result.stderr.split())
