"""adapt-weekly's parameters are checked before any corpus (an out-of-range holdout crashed the first
corpus's task with a raw ValidationError, left no report, and passed on a home with nothing to
adapt); the report's headline counts adapters that passed but were not promoted, and says when
there is no corpus at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.jobs import adapt_markdown


@pytest.mark.prefect
@pytest.mark.parametrize("holdout", [-1.0, 0.0, 5.0])
def test_an_out_of_range_holdout_fails_the_run_naming_it_whatever_the_data(prefect_server, lh_home, holdout):
    from flows.jobs import adapt_weekly_flow

    state = adapt_weekly_flow(holdout=holdout, return_state=True)  # an empty home: nothing to adapt
    assert state.is_failed()
    assert "adapt-weekly parameters: field 'holdout': Input should be" in state.message, state.message


def test_the_headline_counts_what_passed_but_was_not_promoted():
    rows = [{"corpus": "onet", "status": "passed", "why": "passed the gate (...) but not promoted (--no-promote)"}]
    text = adapt_markdown(rows, None, Path("weekly.json"))
    assert "0 promoted, 1 passed, 0 refused, 0 skipped, 0 failed (passed: staged, not live; " in text
    assert "`lakehouse corpus promote CORPUS GENERATION` makes one live); JSON: `weekly.json`" in text


def test_a_home_without_corpora_says_so():
    assert "No corpus to adapt (none built yet); JSON: `weekly.json`" in adapt_markdown([], None, Path("weekly.json"))
