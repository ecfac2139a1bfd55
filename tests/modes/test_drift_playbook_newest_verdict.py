"""`drift playbook` checks a recorded match by its newest verdict, as adapt trains by: a match rated
good and then wrong was still checked (and could be reported as drifted)."""

from __future__ import annotations

import json

from tests.fixtures.cli import invoke_cli
from tests.fixtures.ratings import HYGIENIST, NURSE, rating_home  # noqa: F401 (fixture)


def test_a_match_rated_good_then_wrong_is_not_checked(rating_home):  # noqa: F811
    invoke_cli("rate", "ICU nurse", "--corpus", "health", "--good", NURSE)
    invoke_cli("rate", "ICU nurse", "--corpus", "health", "--bad", NURSE)
    invoke_cli("rate", "cleans teeth", "--corpus", "health", "--good", HYGIENIST)
    out = json.loads(invoke_cli("drift", "playbook", "--corpus", "health", "--json").stdout)
    assert [(e["query"], e["answer"]) for e in out["entries"]] == [("cleans teeth", HYGIENIST)]
    assert out["checked"] == 1
