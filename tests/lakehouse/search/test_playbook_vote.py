"""The playbook vote as a function: shares, the abstaining voter, wrong ratings, memory."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from lakehouse.config import Settings
from lakehouse.search.playbook_entries import Playbook, PlaybookMatch
from lakehouse.search.vote import VoteRule, vote


def match(answer: str, similarity: float, score: float = 1.0, query: str = "q") -> PlaybookMatch:
    entry = Playbook("pb-" + answer, datetime.now(UTC), query, answer, "jobs", score, "m", np.zeros(2, np.float32))
    return PlaybookMatch(entry, similarity, score)


def test_a_lone_far_neighbour_carries_less_than_a_lone_close_one():
    rule = VoteRule()  # the abstainer is as close as the very same question: weight exp(0) = 1
    far = vote([match("A", 0.6)], rule)[("jobs", "A")].vote
    close = vote([match("A", 0.95)], rule)[("jobs", "A")].vote
    assert far == pytest.approx(math.exp(-4) / (math.exp(-4) + 1))  # 0.018
    assert close == pytest.approx(math.exp(-0.5) / (math.exp(-0.5) + 1))  # 0.378
    assert far < 0.02 < 0.37 < close
    # the same two with the abstainer at 0.9: exp(-1) instead of 1
    assert vote([match("A", 0.95)], VoteRule(abstain_similarity=0.9))[("jobs", "A")].vote == pytest.approx(
        math.exp(-0.5) / (math.exp(-0.5) + math.exp(-1))
    )


def test_without_the_abstainer_the_vote_is_the_share_of_the_neighbours_alone():
    rule = VoteRule(abstain_similarity=0.0)
    votes = vote([match("A", 0.6), match("B", 0.5)], rule)
    assert votes[("jobs", "A")].vote + votes[("jobs", "B")].vote == pytest.approx(1.0)
    assert vote([match("A", 0.6)], rule)[("jobs", "A")].vote == pytest.approx(1.0)


def test_agreeing_neighbours_add_up_and_a_wrong_rating_votes_against():
    rule = VoteRule(abstain_similarity=0.9)
    votes = vote([match("A", 0.9), match("A", 0.9), match("B", 0.9, score=-1.0)], rule)
    # three voters of weight exp(-1) and the abstainer of the same weight: 2/4 for A, -1/4 for B
    assert votes[("jobs", "A")].vote == pytest.approx(0.5)
    assert votes[("jobs", "B")].vote == pytest.approx(-0.25)
    shares = [n.share for n in votes[("jobs", "A")].neighbours]
    assert shares == pytest.approx([0.25, 0.25])


def test_memory_is_untouched_by_the_abstainer():
    votes = vote([match("A", 0.99)], VoteRule())
    assert votes[("jobs", "A")].memory == 1.0
    assert votes[("jobs", "A")].net(1.5) == pytest.approx(1.0 + 1.5 * votes[("jobs", "A")].vote)


def test_the_rule_comes_from_the_settings():
    rule = VoteRule.from_settings(Settings(playbook_vote_abstain_similarity=0.8, playbook_neighbours=5))
    assert (rule.abstain_similarity, rule.neighbours) == (0.8, 5)
    assert rule.abstain_weight == pytest.approx(math.exp(-2))
    assert VoteRule(abstain_similarity=0).abstain_weight == 0.0


def test_an_abstain_similarity_outside_0_1_is_refused_by_name():
    with pytest.raises(ValueError, match="playbook_vote_abstain_similarity"):
        Settings(playbook_vote_abstain_similarity=1.5)
