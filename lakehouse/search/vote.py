"""The playbook vote: what the recorded queries nearest to a new query say about each answer.

A later query q learns from the recorded queries nearest to it, not only from an identical one
(measured on 2,000 real job titles -> 500 others, BENCHMARKS.md "LEARNING"):

    neighbours = the `neighbours` recorded queries most similar to q, similarity >= min_similarity
    w_i        = exp((sim_i - 1) / temperature) * decay_i      decay = 0.5 ** (age_days / half_life_days)
    w_0        = exp((abstain_similarity - 1) / temperature)   one more voter that backs no answer
    vote(A)    = sum of w_i * S_i over neighbours that answered A  /  (w_0 + sum of all w_i)   (in [-1, 1])
    memory(A)  = clip(sum of S_i * decay_i over neighbours with sim_i >= memory_similarity, -1, 1)
    net(A)     = weight * vote(A) + memory(A)      the hit's score becomes cosine + net

The vote is a similarity-weighted kNN vote: neighbours that agree add up, a "wrong" rating votes
against, and the normalisation makes it a share of the evidence near q, so a crowded neighbourhood
does not outvote the vector ranking. The abstaining voter (as if a recorded query of similarity
`abstain_similarity`, by default 1.0: the very same question, backed nothing) makes that share
honest about distance: neighbours that are all far from q (a short history) carry less than close
ones (a long history), so one vote weight serves a store of 2,000 entries and one of 50,000 within
about 0.01-0.03 of the best weight for each (measured: BENCHMARKS.md "LEARNING"). Memory is
verbatim replay: the same question (up to case, punctuation and a typo) gets its recorded answer
back on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.search.playbook_entries import PlaybookMatch


@dataclass
class Neighbour:
    """One recorded query that voted for an answer (what `--explain` shows)."""

    playbook: str
    query: str
    similarity: float
    share: float  # its part of the vote: w_i * S_i / (w_0 + sum of w)
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "playbook": self.playbook,
            "query": self.query,
            "similarity": round(self.similarity, 6),
            "share": round(self.share, 6),
            "score": self.score,
        }


@dataclass
class Vote:
    """What the recorded neighbours say about one answer."""

    vote: float = 0.0  # in [-1, 1]
    memory: float = 0.0  # in [-1, 1]
    neighbours: list[Neighbour] = field(default_factory=list)

    def net(self, weight: float) -> float:
        return weight * self.vote + self.memory

    @property
    def playbook_ids(self) -> list[str]:
        return [n.playbook for n in self.neighbours]


@dataclass(frozen=True)
class VoteRule:
    """The knobs of the vote (settings `playbook_*`); the defaults are the measured best."""

    neighbours: int = 20
    temperature: float = 0.1
    memory_similarity: float = 0.97
    abstain_similarity: float = 1.0  # 0: no abstaining voter (the share of the neighbours alone)

    @classmethod
    def from_settings(cls, settings) -> VoteRule:
        return cls(
            settings.playbook_neighbours,
            settings.playbook_vote_temperature,
            settings.playbook_memory_similarity,
            settings.playbook_vote_abstain_similarity,
        )

    @property
    def abstain_weight(self) -> float:
        return math.exp((self.abstain_similarity - 1.0) / self.temperature) if self.abstain_similarity > 0 else 0.0


def vote(matches: list[PlaybookMatch], rule: VoteRule) -> dict[tuple[str, str], Vote]:
    """Per (corpus, answer id): the neighbours' vote and memory (see the module docstring)."""
    nearest = matches[: rule.neighbours]
    weights = [math.exp((m.similarity - 1.0) / rule.temperature) * m.decay for m in nearest]
    total = sum(weights)
    votes: dict[tuple[str, str], Vote] = {}
    if total <= 0:
        return votes
    total += rule.abstain_weight
    for match, weight in zip(nearest, weights, strict=True):
        entry = match.playbook
        item = votes.setdefault((entry.corpus, entry.answer), Vote())
        share = weight * entry.score / total
        item.vote += share
        if match.similarity >= rule.memory_similarity:
            item.memory += entry.score * match.decay
        item.neighbours.append(Neighbour(entry.id, entry.query, match.similarity, share, entry.score))
    for item in votes.values():
        item.vote = max(-1.0, min(1.0, item.vote))
        item.memory = max(-1.0, min(1.0, item.memory))
    return votes
