"""The matrix indexer: one query over several corpora, merged, filtered and ranked.

Pipeline (DESIGN "Embeddings, vectors, matrix"):
  downgrade gate -> SQL pre-filter (candidate ids, through hnswlib's filter) -> a selective
  metadata filter narrows them further -> top-k per corpus -> merge by score -> metadata filter ->
  playbook vote -> learned reranker (an adapted corpus's own best hits) -> relevance filter -> top N.
Each corpus contributes max(top k, top N) candidates (an adapted corpus with a reranker at least the
30 it reorders), so a caller who asks for N hits gets N when that many pass the filters; while the
filters leave fewer than N, the corpora that may hold more passing rows are asked for more
(bounded: `MAX_CANDIDATES_PER_CORPUS`).
With playbooks on, the recorded queries nearest to this one vote for their answers
(`lakehouse.search.vote`): a hit's score is its cosine similarity plus
`playbook_boost * vote + memory`, and an answer voted for joins the candidates even when the HNSW
walk did not reach it. `explain=True` puts the signals that moved each hit in `Hit.why`.

Freshness: a search takes each corpus once from `corpora.get` (which reloads a corpus another
process or handle changed) and finishes on those objects; the playbook lookup first reads any
entries appended to the log since the last search. A long-running API needs no restart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from lakehouse.common.suggest import did_you_mean
from lakehouse.config import Settings
from lakehouse.search.errors import FilterError, MatrixError
from lakehouse.search.filters import MetadataFilter, check_filter, filter_items
from lakehouse.search.playbook_entries import PlaybookMatch
from lakehouse.search.playbooks import PlaybookStore
from lakehouse.search.rerank import Candidate
from lakehouse.search.vectors.loaded import LoadedCorpus, RawHit
from lakehouse.search.vote import Vote, VoteRule, vote


@dataclass
class Hit:
    corpus: str
    id: str
    text: str
    score: float  # what ranks: cosine similarity + playbook net (== raw_score without playbooks)
    distance: float  # 1 - score: the cosine distance, moved by the playbook net (below 0: memory)
    metadata: dict[str, Any] = field(default_factory=dict)
    boosted_by: list[str] = field(default_factory=list)  # playbooks that voted on this hit
    raw_score: float | None = None  # cosine similarity before the playbook vote
    boost: float = 0.0  # playbook net (boost * vote + memory): >0 lifted, <0 demoted
    why: dict[str, Any] | None = None  # with explain: the signals that moved this hit

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.why is None:
            out.pop("why")
        return out


@dataclass
class _Gathered:
    """One query's candidates as they pass the steps of `MatrixSearcher.search_many`."""

    merged: list[RawHit]  # every candidate, nearest first
    kept: list[RawHit]  # those the metadata filter keeps
    hits: list[Hit]  # voted on, relevance-filtered, ranked
    dropped: int  # by the metadata filter
    relevance_dropped: int


@dataclass
class Decision:
    mode: str  # composed | isolation
    corpora: list[str]
    reason: str
    model: str | None = None
    forced: bool = False


@dataclass
class MatrixResult:
    query: str
    hits: list[Hit]
    # rows the metadata filter left out: candidates it dropped after the search, plus the rows a
    # selective filter kept out of the search (see LoadedCorpus.prefilter)
    metadata_filter_dropped: int
    relevance_dropped: int
    downgrade: Decision
    candidates: int
    playbook_matches: int
    generations: dict[str, int] = field(default_factory=dict)  # corpus -> generation searched

    @property
    def count(self) -> int:
        return len(self.hits)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "hits": [h.as_dict() for h in self.hits],
            "count": self.count,
            "metadata_filter_dropped": self.metadata_filter_dropped,
            "relevance_dropped": self.relevance_dropped,
            "downgrade": asdict(self.downgrade),
            "candidates": self.candidates,
            "playbook_matches": self.playbook_matches,
            "generations": dict(self.generations),
        }


# Over-fetching when the filters starve a result (see `MatrixSearcher._overfetch`): each retry asks
# a corpus for this many times more candidates, up to this many per corpus and query.
OVERFETCH_GROWTH = 4
MAX_CANDIDATES_PER_CORPUS = 1000


# rules -----------------------------------------------------------------------------------
def downgrade_gate(corpora: list[str], model: str | None, settings: Settings, force_mode: bool = False) -> Decision:
    """A model that is not listed as weak answers better from one focused corpus than from a
    blend: composed (multi-corpus) retrieval flips to the first corpus unless forced."""
    corpora = list(dict.fromkeys(corpora))
    if len(corpora) <= 1:
        return Decision("isolation", corpora, "a single corpus: nothing to compose", model)
    if force_mode:
        return Decision("composed", corpora, "force_mode set: the downgrade gate is bypassed", model, forced=True)
    if not model:
        return Decision("composed", corpora, "no model given: composed retrieval", model)
    weak = set(settings.models.weak_models)
    tier = settings.models.tiers.get(model)
    if model in weak or (tier is not None and tier.model in weak):
        return Decision("composed", corpora, f"model {model!r} is in weak_models: composed retrieval helps it", model)
    return Decision(
        "isolation",
        corpora[:1],
        f"model {model!r} is not in weak_models: composed retrieval downgraded to isolation on {corpora[0]!r}",
        model,
    )


def metadata_filter(hits: list, flt: MetadataFilter | None) -> tuple[list, int]:
    """The shared metadata filter (`lakehouse.search.filters`) over hits: (kept, dropped)."""
    return filter_items(hits, flt, lambda hit: hit.metadata)


def _refuse_keys_no_corpus_keeps(flt: MetadataFilter, loaded: dict[str, LoadedCorpus]) -> None:
    """A filter key that none of the searched corpora keeps matches nothing: the empty answer read
    as "no row matches" where the key was misspelt or never kept."""
    kept = {name: c.manifest.source.metadata_cols for name, c in loaded.items() if c.manifest is not None}
    known = {key for keys in kept.values() for key in keys}
    unknown = [key for key in flt if key not in known]
    if unknown and len(kept) == len(loaded):
        keeps = "; ".join(f"{name!r} keeps {', '.join(map(repr, keys)) or 'none'}" for name, keys in kept.items())
        raise FilterError(
            f"no corpus searched keeps the metadata {', '.join(map(repr, unknown))}{did_you_mean(unknown[0], known)} "
            f"({keeps}): a corpus keeps the columns it was built with as metadata (--meta-cols, metadata_cols)"
        )


def relevance_filter(
    hits: list[Hit], threshold: float, margin: float, placed: Mapping[tuple[str, str], Hit] | None = None
) -> tuple[list[Hit], int]:
    """Keep hits whose similarity is at least `threshold` and within `margin` of the best hit.

    Similar corpora leak near-duplicates of the right answer's neighbourhood into the results
    ("adjacency pollution"): a fixed floor alone keeps them on broad queries, the margin to the
    best hit removes them. Similarity is the raw cosine; a hit a playbook lifted was judged
    relevant and is kept. A hit a reranker moved is also kept when the hit whose place it took
    (`placed`, by corpus and id) passes: the reranker decides who takes the places the filter
    keeps. (Judged by their own cosine alone, the hits it lifted from far down were dropped: the
    dev set's adapted corpus, `search --top 10`, recall@10 0.766, and 0.780 judged so.)"""
    if not hits:
        return hits, 0
    placed = placed or {}

    def similarity(hit: Hit) -> float:
        return hit.raw_score if hit.raw_score is not None else hit.score

    best = max(similarity(h) for h in hits)

    def relevant(hit: Hit) -> bool:
        return hit.boost > 0 or (similarity(hit) >= threshold and similarity(hit) >= best - margin)

    kept = [h for h in hits if relevant(h) or relevant(placed.get((h.corpus, h.id), h))]
    return kept, len(hits) - len(kept)


def _vote_weight(corpus: LoadedCorpus, default: float) -> float:
    adapter = getattr(corpus, "adapter", None)
    value = adapter.meta.get("vote_weight") if adapter is not None else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


# search ----------------------------------------------------------------------------------
class CorpusSource(Protocol):
    def get(self, name: str) -> LoadedCorpus: ...

    def candidates(self, name: str, where: str) -> set[str]: ...


class MatrixSearcher:
    def __init__(
        self,
        corpora: CorpusSource,
        settings: Settings,
        embedder_for: Callable[[str], Any],
        playbooks: PlaybookStore | None = None,
    ) -> None:
        self.corpora = corpora
        self.settings = settings
        self.embedder_for = embedder_for  # model name -> embedder
        self.playbooks = playbooks

    def _model_of(self, corpus: LoadedCorpus) -> str:
        manifest = corpus.manifest
        return manifest.model if manifest is not None else self.settings.embed_model

    def search(self, query: str, corpora: list[str], **options: Any) -> MatrixResult:
        return self.search_many([query], corpora, **options)[0]

    def search_many(
        self,
        queries: list[str],
        corpora: list[str],
        top_k: int | None = None,
        top_n: int | None = None,
        filter: MetadataFilter | None = None,
        where: str | None = None,
        use_playbooks: bool = True,
        relevance: bool | None = None,
        model: str | None = None,
        force_mode: bool = False,
        query_vectors: dict[str, np.ndarray] | None = None,
        now: datetime | None = None,
        explain: bool = False,
    ) -> list[MatrixResult]:
        """Search every query; each distinct embedding model embeds all queries in one batch."""
        if not corpora:
            raise MatrixError("give at least one corpus to search")
        s = self.settings
        top_k = s.matrix_top_k if top_k is None else top_k
        top_n = s.matrix_top_n if top_n is None else top_n
        if top_k < 1 or top_n < 1:
            raise MatrixError(f"top_k and top_n must be at least 1 (got top_k={top_k}, top_n={top_n})")
        fetch = max(top_k, top_n)  # each corpus contributes at least the `top_n` the caller asked for
        decision = downgrade_gate(corpora, model, s, force_mode)
        loaded = {name: self.corpora.get(name) for name in decision.corpora}
        allowed = {name: self.corpora.candidates(name, where) for name in loaded} if where else {}
        # A metadata filter that admits few of a corpus's rows becomes its allowed set, searched
        # exactly: cutting the nearest candidates down to the few that pass would miss most of them.
        left_out = dict.fromkeys(loaded, 0)
        if filter:
            check_filter(filter)
            _refuse_keys_no_corpus_keeps(filter, loaded)
            for name, corpus in loaded.items():
                narrowed = corpus.prefilter(filter, allowed.get(name))
                if narrowed is not None:
                    allowed[name], left_out[name] = narrowed
        vectors = dict(query_vectors or {})
        for _name, corpus in loaded.items():
            model_name = self._model_of(corpus)
            if model_name not in vectors:
                vectors[model_name] = self.embedder_for(model_name).embed(queries)
        # Each corpus is searched with the query as its generation's adapter maps it (identity
        # without one); playbook lookups below keep the raw query vectors.
        adapted = {name: corpus.adapt_query(vectors[self._model_of(corpus)]) for name, corpus in loaded.items()}
        fetched = {
            name: corpus.search(adapted[name], max(fetch, _rerank_depth(corpus)), allowed.get(name))
            for name, corpus in loaded.items()
        }
        playbook_vectors = None
        if use_playbooks and self.playbooks is not None and self.playbooks.keeps(loaded):
            pb_model = self.playbooks.embedder.name
            if pb_model not in vectors:
                vectors[pb_model] = self.playbooks.embedder.embed(queries)
            playbook_vectors = vectors[pb_model]
        rule = VoteRule.from_settings(s)
        lookups: list[tuple[list[PlaybookMatch], dict[tuple[str, str], Vote]]] = [([], {}) for _ in queries]
        if self.playbooks is not None and playbook_vectors is not None:
            found = self.playbooks.lookup_many(playbook_vectors, list(loaded), now=now, limit=rule.neighbours)
            lookups = [(matches, vote(matches, rule)) for matches in found]

        use_relevance = s.relevance_filter if relevance is None else relevance
        # An adapted generation already learned from the recorded matches: its adapter says how much
        # the neighbours' vote should still add (measured when it was trained).
        weights = {name: _vote_weight(corpus, s.playbook_boost) for name, corpus in loaded.items()}

        def gather(position: int) -> _Gathered:
            """Merge one query's candidates and run the metadata, playbook and relevance steps."""
            candidates = [hit for name in loaded for hit in fetched[name][position]]
            boosts = lookups[position][1]
            if boosts:
                candidates += self._recorded_answers(boosts, candidates, loaded, allowed, adapted, position)
            merged = sorted(candidates, key=lambda h: (h.distance, h.corpus, h.id))
            kept, dropped = metadata_filter(merged, filter)
            hits = [self._voted(hit, boosts.get((hit.corpus, hit.id)), weights[hit.corpus], explain) for hit in kept]
            placed: dict[tuple[str, str], Hit] = {}
            for name, corpus in loaded.items():
                if _rerank_depth(corpus):
                    raw = vectors[self._model_of(corpus)][position]
                    own = [h for h in hits if h.corpus == name]
                    placed.update(_reranked(own, corpus, boosts, queries[position], raw))
            if explain:
                for hit in hits:
                    adapter = loaded[hit.corpus].adapter
                    if adapter is not None and hit.why is not None:
                        moved = adapter.has(hit.id)
                        hit.why["adapter"] = {"generation": loaded[hit.corpus].generation, "moved_row": moved}
            relevance_dropped = 0
            if use_relevance:
                hits, relevance_dropped = relevance_filter(hits, s.relevance_threshold, s.relevance_margin, placed)
            hits.sort(key=lambda h: (-h.score, h.distance, h.corpus, h.id))
            return _Gathered(merged, kept, hits, dropped, relevance_dropped)

        gathered = [gather(position) for position in range(len(queries))]
        self._overfetch(gathered, gather, fetched, loaded, allowed, adapted, fetch, top_n, use_relevance)
        generations = {name: g for name, c in loaded.items() if (g := getattr(c, "generation", None)) is not None}
        return [
            MatrixResult(
                query,
                g.hits[:top_n],
                g.dropped + sum(left_out.values()),
                g.relevance_dropped,
                decision,
                len(g.merged),
                len(lookups[position][0]),
                generations,
            )
            for position, (query, g) in enumerate(zip(queries, gathered, strict=True))
        ]

    def _overfetch(
        self, gathered, gather, fetched, loaded, allowed, adapted, fetch: int, top_n: int, use_relevance: bool
    ) -> None:
        """When the filters leave a query fewer than `top_n` hits, ask each corpus that may hold
        more passing rows for OVERFETCH_GROWTH times as many candidates, again until enough pass,
        the corpora run out, or a corpus has given MAX_CANDIDATES_PER_CORPUS (a filter that
        matches almost nothing costs a few bounded searches, never a scan). A corpus may hold more
        when it returned every candidate asked for and, with the relevance filter on, its farthest
        candidate still clears the filter's bar: rows it did not return are farther still."""
        s = self.settings
        k = fetch
        while k < MAX_CANDIDATES_PER_CORPUS:
            grow: dict[str, list[int]] = {name: [] for name in loaded}
            for position, g in enumerate(gathered):
                if len(g.hits) >= top_n or not (g.dropped or g.relevance_dropped):
                    continue
                best = max((hit.score for hit in g.kept), default=None)
                for name in loaded:
                    rows = fetched[name][position]
                    if len(rows) < k:
                        continue  # this corpus gave all it has
                    farthest = rows[-1].score
                    if use_relevance and (
                        farthest < s.relevance_threshold or (best is not None and farthest < best - s.relevance_margin)
                    ):
                        continue  # whatever else it holds is farther: the relevance filter would drop it
                    grow[name].append(position)
            if not any(grow.values()):
                return
            k = min(k * OVERFETCH_GROWTH, MAX_CANDIDATES_PER_CORPUS)
            for name, positions in grow.items():
                if positions:
                    more = loaded[name].search(adapted[name][positions], k, allowed.get(name))
                    for position, hits in zip(positions, more, strict=True):
                        fetched[name][position] = hits
            for position in {p for positions in grow.values() for p in positions}:
                gathered[position] = gather(position)

    def _recorded_answers(self, boosts, candidates, loaded, allowed, adapted, position) -> list[RawHit]:
        present = {(h.corpus, h.id) for h in candidates}
        extra = []
        for (corpus, answer), item in boosts.items():
            if corpus not in loaded or (corpus, answer) in present:
                continue
            if item.net(_vote_weight(loaded[corpus], self.settings.playbook_boost)) <= 0:
                continue
            if corpus in allowed and answer not in allowed[corpus]:
                continue
            hit = loaded[corpus].exact_hit(answer, adapted[corpus][position])
            if hit is not None:
                extra.append(hit)
        return extra

    def _voted(self, hit: RawHit, item: Vote | None, weight: float, explain: bool) -> Hit:
        net = item.net(weight) if item is not None else 0.0
        why = None
        if explain:
            why = {
                "cosine": round(hit.score, 6),
                "vote": round(weight * item.vote, 6) if item else 0.0,
                "vote_share": round(item.vote, 6) if item else 0.0,
                "memory": round(item.memory, 6) if item else 0.0,
                "neighbours": [n.as_dict() for n in item.neighbours[:5]] if item else [],
            }
        return Hit(
            corpus=hit.corpus,
            id=hit.id,
            text=hit.text,
            score=round(hit.score + net, 6),
            distance=round(1.0 - (hit.score + net), 6),
            metadata=hit.metadata,
            boosted_by=item.playbook_ids if item else [],
            raw_score=round(hit.score, 6),
            boost=round(net, 6),
            why=why,
        )


def _rerank_depth(corpus: LoadedCorpus) -> int:
    """How many candidates a corpus's reranker reorders (it was trained on that many): 0 without one."""
    adapter = getattr(corpus, "adapter", None)
    return adapter.reranker.top if adapter is not None and adapter.reranker is not None else 0


def _reranked(
    hits: list[Hit], corpus: LoadedCorpus, votes: dict[tuple[str, str], Vote], query: str, raw
) -> dict[tuple[str, str], Hit]:
    """Reorder one corpus's best hits by its reranker (`lakehouse.search.rerank`): the hits it
    moves trade scores, so the best score stays where it was and the merge across corpora holds.
    Returns, by (corpus, id), the hit whose place each reordered hit took (as it was before the
    trade), for the relevance filter; each hit keeps its own `raw_score` and `boost`."""
    assert corpus.adapter is not None and corpus.adapter.reranker is not None  # see _rerank_depth
    own = sorted(hits, key=lambda h: (-h.score, h.distance, h.id))
    candidates = []
    for hit in own[: corpus.adapter.reranker.top]:
        item = votes.get((hit.corpus, hit.id))
        share, memory = (item.vote, item.memory) if item is not None else (0.0, 0.0)
        candidates.append(Candidate.of(hit, share, memory))
    found = corpus.adapter.reranker.order(query, raw, candidates, corpus.row_vectors)
    if found is None:
        return {}
    order, logits = found
    before = [replace(h) for h in own[: len(order)]]
    placed = {}
    for new_rank, old_rank in enumerate(order):
        hit = own[old_rank]
        hit.score, hit.distance = before[new_rank].score, before[new_rank].distance
        placed[(hit.corpus, hit.id)] = before[new_rank]
        if hit.why is not None:
            hit.why["rerank"] = {
                "from_rank": old_rank + 1,
                "to_rank": new_rank + 1,
                "logit": round(float(logits[old_rank]), 4),
            }
    return placed


# wiring for the Lakehouse handle ---------------------------------------------------------
def open_playbooks(lakehouse) -> PlaybookStore:
    from lakehouse.data.shared_log import SharedLog
    from lakehouse.search.embed import get_embedder
    from lakehouse.search.playbooks import PlaybookError

    def answer_exists(corpus: str, answer: str) -> None:
        if not lakehouse.corpora.get(corpus).has(answer):
            raise PlaybookError(f"corpus {corpus!r} has no id {answer!r}")

    s = lakehouse.settings
    return PlaybookStore(
        s.playbook_log,
        lambda: get_embedder(s.embed_model, s),
        validate=answer_exists,
        half_life_days=s.playbook_half_life_days,
        min_similarity=s.playbook_min_similarity,
        shared=SharedLog.maybe(s, "playbooks", tables=lambda: lakehouse.tables),
    )


def open_matrix(lakehouse) -> MatrixSearcher:
    from lakehouse.search.embed import get_embedder

    s = lakehouse.settings
    return MatrixSearcher(lakehouse.corpora, s, lambda model: get_embedder(model, s), lakehouse.playbooks)
