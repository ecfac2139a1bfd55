"""`flush --log bogus` printed a Python list (`unknown shared log(s) ['bogus']`). The unknown names are
said in words, each with the known logs it is close to, and the known ones listed."""

from __future__ import annotations

from tests.fixtures.cli import invoke_cli


def test_unknown_logs_are_named_in_words_with_a_did_you_mean(lh_home):
    result = invoke_cli("flush", "--log", "audit", "--log", "playbook", "--log", "ops", code=1)
    said = " ".join(result.stderr.split())
    assert said == (
        "error: unknown shared logs 'audit' and 'playbook' (did you mean 'playbooks'?); "
        "the shared logs are ops, playbooks, pathway, evidence"
    )
