"""`drift playbook` through the mode (CLI, HTTP, the nightly job): a recorded answer deleted from
the corpus read as "drifted". The learning wing could already tell it apart; the mode never asked."""

from __future__ import annotations

import json

from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import HYGIENIST, NURSE, rating_home  # noqa: F401 (fixture)


def test_a_deleted_answer_is_gone_not_drifted(rating_home):  # noqa: F811
    invoke_cli("rate", "ICU nurse", "--corpus", "health", "--good", NURSE)
    invoke_cli("rate", "cleans teeth", "--corpus", "health", "--good", HYGIENIST)
    invoke_cli("corpus", "delete", "health", "--id", NURSE)
    out = json.loads(invoke_cli("drift", "playbook", "--corpus", "health", "--json").stdout)
    by_query = {e["query"]: e for e in out["entries"]}
    assert by_query["ICU nurse"]["status"] == "gone"
    assert out["gone"] == 1
    assert out["drifted"] == 0
