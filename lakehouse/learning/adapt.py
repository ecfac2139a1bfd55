"""`lakehouse adapt`: learn a query adapter from a corpus's recorded matches, behind a gate.

What is learned: `lakehouse.learning.adapter_training` (a query map plus moved answer rows).

The gate (`adapt_corpus`): the recorded (query, answer) pairs are split by query, each query on
the side its seeded hash draws every time (a query held back now was never trained on by an
earlier adapt's adapter); the held-back share is searched with the real `MatrixSearcher`, with playbooks that hold
ONLY the entries of the train-share queries, negative ones included (else memory would answer the
held-back queries): the current state (the live generation), and the adapted state (the same
playbooks + the new adapter) once per vote weight in `VOTE_WEIGHTS`, keeping the best (recall@1,
then recall@10) as the adapted generation's `vote_weight`. Only then is the reranker trained
(`add_reranker`), its training searches voting at that weight as the generation will; it is
dropped if it makes the held-back top-1 worse beyond chance, or if the gate refuses the adapter
with it and passes the adapter alone (`gate`). The adapter is promoted only if it wins recall@1
and does not lose more than `RECALL10_SLACK` of recall@10. A refused adapter is still staged as a
generation (not live), so the report can name it.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lakehouse.common.progress import Progress, no_progress
from lakehouse.common.text import fold
from lakehouse.learning.adapter_training import ADAPTED_VOTE_WEIGHT, EPOCHS, train
from lakehouse.learning.errors import AdaptError
from lakehouse.learning.verdicts import newest_only, overruled_good, pair_key
from lakehouse.learning.views import PinnedCorpora, adapted_view, temporary_playbooks
from lakehouse.search.vectors.rows import read_rows, vectors_of

if TYPE_CHECKING:
    from lakehouse.learning.rerank_training import Recorded
    from lakehouse.search.adapter import Adapter

MIN_PAIRS = 20
RECALL_DEPTH = 10
RECALL10_SLACK = 0.01  # adapted recall@10 may trail the current one by at most this much
# The gate tries these vote weights on the held-back pairs and keeps the best: with 2,000 recorded
# titles the adapter has learned most of what the neighbours know (a small weight wins), with
# 42,000 the neighbours' vote carries more (BENCHMARKS.md "LEARNING", bench.learning.pairs).
VOTE_WEIGHTS = (ADAPTED_VOTE_WEIGHT, 1.5, 2.5)
GATE_ALPHA = 0.05  # a top-1 gain on the held-back pairs must be this unlikely under "no better"
Found = tuple[float, float, list[int | None]]  # recall@1, recall@10 and each query's rank (None: not in the top 10)


def corpus_rows(lakehouse, loaded) -> tuple[list[str], np.ndarray]:
    """(ids, vectors) of the live rows of a loaded corpus, read from its corpus table at the
    generation's snapshot (the vectors the index was built from)."""
    table = read_rows(lakehouse.tables, loaded.manifest, ["id", "vector", "deleted"])
    ids = table.column("id").to_pylist()
    deleted = table.column("deleted").to_pylist()
    vectors = vectors_of(table) if ids else np.zeros((0, loaded.manifest.dims), np.float32)
    keep = [i for i, (row_id, gone) in enumerate(zip(ids, deleted, strict=True)) if not gone and loaded.has(row_id)]
    return [ids[i] for i in keep], vectors[keep]


def recall(
    searcher, corpus: str, queries: list[str], vectors: np.ndarray, model: str, expected: list[set[str]]
) -> Found:
    """(recall@1, recall@10, per-query ranks) of `queries` through the matrix, playbooks on."""
    results = searcher.search_many(
        queries,
        [corpus],
        top_k=RECALL_DEPTH,
        top_n=RECALL_DEPTH,
        use_playbooks=True,
        relevance=False,
        query_vectors={model: vectors},
    )
    ranks = [
        next((r for r, h in enumerate(res.hits[:RECALL_DEPTH], start=1) if h.id in wanted), None)
        for res, wanted in zip(results, expected, strict=True)
    ]
    n = max(1, len(ranks))
    return (
        round(sum(r == 1 for r in ranks) / n, 6),
        round(sum(r is not None for r in ranks) / n, 6),
        ranks,
    )


# the gate ----------------------------------------------------------------------------------
@dataclass
class Rule:
    rule: str
    passed: bool
    detail: str


@dataclass
class AdaptReport:
    corpus: str
    model: str
    pairs: int
    train_pairs: int
    holdout_pairs: int
    holdout_queries: int
    current: dict[str, float]
    adapted: dict[str, float]
    rules: list[Rule]
    passed: bool
    promoted: bool
    decision: str
    generation: int | None  # the staged generation holding this adapter
    live_before: int | None
    live_after: int | None
    trained_until: str | None
    train: dict[str, Any] = field(default_factory=dict)  # the adapter's meta: cpu_s, wall_s, peak_rss_mb...
    answers_gone: int = 0  # recorded matches left out: the corpus no longer holds their answer (a deleted row)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pair:
    query: str
    answer: str
    vector: np.ndarray
    ts: datetime


def _good(entry: Any) -> bool:
    return entry.score > 0


def entries_seen(entries: list[Any], corpus: str) -> dict[str, Any]:
    """What an adapter was trained from, to tell later whether anything was recorded since: how
    many playbook entries the corpus had and a digest of their ids (a placement imported with an
    old date is new too, which its judgement time would not say)."""
    ids = sorted(e.id for e in entries if e.corpus == corpus)
    return {"count": len(ids), "digest": hashlib.sha256("\n".join(ids).encode()).hexdigest()}


def recorded_pairs(lakehouse, corpus: str, loaded, entries, model: str) -> list[_Pair]:
    """Entries of `corpus` whose answer the corpus holds, one per (folded query, answer): the newest,
    and only when it is positive (a match rated good, then wrong, is no match: it was trained as one),
    with their query vectors under the corpus's model."""
    held = [e for e in entries if e.corpus == corpus and loaded.has(e.answer)]
    newest, _ = newest_only(held, lambda e: pair_key(e.query, e.corpus, e.answer), lambda e: e.ts)
    # Ties in time (a batch of ratings shares one ts) go by content, not by id: an id hashes the ts,
    # so the same matches recorded again would train in another order, and the float sums differ.
    chosen = sorted((e for e in newest if e.score > 0), key=lambda e: (e.ts, fold(e.query), e.answer))
    vectors: list[np.ndarray | None] = [
        np.asarray(e.vector, np.float32) if e.model == model and np.asarray(e.vector).shape == (loaded.dims,) else None
        for e in chosen
    ]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        from lakehouse.search.embed import get_embedder

        embedded = get_embedder(model, lakehouse.settings).embed([chosen[i].query for i in missing])
        for i, vector in zip(missing, embedded, strict=True):
            vectors[i] = np.asarray(vector, np.float32)
    return [_Pair(e.query, e.answer, v, e.ts) for e, v in zip(chosen, vectors, strict=True) if v is not None]


NOT_ASKED = {"kept": False, "why": "not asked for (--no-rerank)"}


def learn(
    lakehouse,
    corpus: str,
    loaded,
    pairs: list[_Pair],
    entries: list[Any],
    *,
    start: Any = None,
    epochs: int | None = None,
    seed: int = 0,
    rerank: bool = True,
    progress: Progress | None = None,
):
    """The adapter `pairs` teach (going on from `start`), with the reranker of the corpus's best hits
    when it helps (`add_reranker`; `entries`: the playbook entries its training searches may vote
    with). Its meta says under `rerank` whether a reranker was kept, and why."""
    from lakehouse.learning.rerank_training import Recorded

    ids, vectors = corpus_rows(lakehouse, loaded)
    recorded = Recorded(lakehouse, corpus, loaded, pairs, entries, ids, vectors, start, epochs, seed)
    adapter = adapter_of(recorded, progress)
    if rerank:
        add_reranker(adapter, recorded, progress)
    else:
        adapter.meta["rerank"] = dict(NOT_ASKED)
    return adapter


def adapter_of(recorded: Recorded, progress: Progress | None = None) -> Adapter:
    """The adapter (no reranker) that `recorded`'s pairs teach."""
    r = recorded
    stacked = np.stack([p.vector for p in r.pairs])
    answers = [p.answer for p in r.pairs]
    return train(
        stacked, answers, r.ids, r.vectors, epochs=r.epochs or EPOCHS, seed=r.seed, start=r.start, progress=progress
    )


def add_reranker(adapter: Adapter, recorded: Recorded, progress: Progress | None = None) -> None:
    """Train the reranker of `recorded` (its training searches vote at `recorded.vote_weight`, the
    weight `adapter` serves with) onto `adapter`, with its meta under `rerank`."""
    from lakehouse.learning.rerank_training import train_reranker

    reranker, meta = train_reranker(recorded, progress)
    adapter.reranker = reranker
    adapter.meta["rerank"] = meta
    if reranker is not None:  # what `corpus generations` lists
        adapter.meta["kind"] = f"{adapter.meta['kind']}+reranker"


def _draw(query: str, seed: int) -> float:
    """A query's place in [0, 1), the same in every run and process: its side of the split."""
    digest = hashlib.blake2b(f"{seed}:{query}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _split(pairs: list[_Pair], holdout: float, seed: int) -> tuple[list[_Pair], list[_Pair]]:
    """By query (every pair of one query on the same side): a query is held back when its draw is
    below `holdout`, so it stays on its side as ratings are added. A seeded shuffle of all queries
    moved them each week, and the live adapter, trained on last week's train share, was gated on
    queries it had learned (its recall inflated, every later adapter refused)."""
    draws = {q: _draw(q, seed) for q in {fold(p.query) for p in pairs}}
    queries = sorted(draws, key=draws.__getitem__)
    if len(queries) < 2:
        raise AdaptError(f"adapt needs at least 2 distinct queries to split, got {len(queries)}")
    # a handful of queries may draw none, or all, below the share: one is held back, one trains
    held = min(max(1, sum(draw < holdout for draw in draws.values())), len(queries) - 1)
    held_back = set(queries[:held])
    train_share = [p for p in pairs if fold(p.query) not in held_back]
    return train_share, [p for p in pairs if fold(p.query) in held_back]


def significance(current_ranks: list[int | None], adapted_ranks: list[int | None]) -> tuple[int, int, float]:
    """(improved, worsened, p): held-back queries whose top-1 the adapter made right / wrong, and the
    one-sided exact McNemar p-value of "no better" (a binomial test on the queries that changed).
    A gain of a few queries on a small held-back set is chance (e.g. an adapter trained on
    shuffled answers); this rule tells it from learning."""
    from scipy.stats import binomtest

    improved = sum(a == 1 and c != 1 for c, a in zip(current_ranks, adapted_ranks, strict=True))
    worsened = sum(c == 1 and a != 1 for c, a in zip(current_ranks, adapted_ranks, strict=True))
    changed = improved + worsened
    p = binomtest(improved, changed, 0.5, alternative="greater").pvalue if changed else 1.0
    return improved, worsened, float(p)


def gate_rules(
    current: dict[str, float], adapted: dict[str, float], changes: tuple[int, int, float] | None = None
) -> list[Rule]:
    c1, a1, c10, a10 = current["recall_at_1"], adapted["recall_at_1"], current["recall_at_10"], adapted["recall_at_10"]
    significant = []
    if changes is not None:
        improved, worsened, p = changes
        significant = [
            Rule(
                f"the top-1 gain is not chance (McNemar p < {GATE_ALPHA})",
                p < GATE_ALPHA,
                f"{improved} held-back queries improved at top-1, {worsened} worsened: p = {p:.3g} "
                f"{'<' if p < GATE_ALPHA else '>='} {GATE_ALPHA}",
            )
        ]
    return [
        Rule(
            "recall@1 improves",
            a1 > c1,
            f"adapted recall@1 {a1:.3f} {'>' if a1 > c1 else '<='} current {c1:.3f}",
        ),
        Rule(
            f"recall@10 does not drop by more than {RECALL10_SLACK}",
            a10 >= c10 - RECALL10_SLACK,
            f"adapted recall@10 {a10:.3f} {'>=' if a10 >= c10 - RECALL10_SLACK else '<'} "
            f"current {c10:.3f} - {RECALL10_SLACK}",
        ),
        *significant,
    ]


def keep_reranker(adapter: Adapter, without: Found, reranked: Found) -> Found:
    """The held-back figures (recall@1, recall@10, ranks) the adapter is gated on: with its reranker,
    unless the held-back queries, which it never saw, say it makes top-1 worse beyond chance (then
    it is dropped). A loss of a query or two on a few hundred held-back ones is noise, and the
    reranker helps new queries on average (BENCHMARKS.md, "The reranker in the product")."""
    meta = adapter.meta["rerank"]
    worsened, improved, p = significance(reranked[2], without[2])  # "better without it", one-sided
    meta["held_back"] = {
        "without": {"recall_at_1": without[0], "recall_at_10": without[1]},
        "with": {"recall_at_1": reranked[0], "recall_at_10": reranked[1]},
        "top1_worse": worsened,
        "top1_better": improved,
        "p_worse": round(p, 6),
    }
    if p >= GATE_ALPHA:
        return reranked
    _drop_reranker(
        adapter,
        f"it lowered the held-back pairs' recall@1 from {without[0]:.3f} to {reranked[0]:.3f} "
        f"({worsened} queries worse at top-1, {improved} better: p = {p:.3g} < {GATE_ALPHA})",
    )
    return without


def gate(adapter: Adapter, current: Found, adapted: Found, without: Found) -> tuple[list[Rule], Found]:
    """The gate's rules and the figures they judged: `adapted` (with the reranker, when kept) against
    `current`. A reranker kept as noise on the held-back pairs must not cost the adapter its
    promotion: when the gate refuses the adapter with it and passes the adapter alone (`without`),
    the reranker is dropped and the adapter alone is gated."""
    rules = gate_rules(_figures(current), _figures(adapted), significance(current[2], adapted[2]))
    if all(r.passed for r in rules) or adapter.reranker is None:
        return rules, adapted
    alone = gate_rules(_figures(current), _figures(without), significance(current[2], without[2]))
    if not all(r.passed for r in alone):
        return rules, adapted
    _drop_reranker(
        adapter,
        f"the gate refused the adapter with it (held-back recall@1 {adapted[0]:.3f}) and passes it alone "
        f"({without[0]:.3f} against the live {current[0]:.3f})",
    )
    return alone, without


def _drop_reranker(adapter: Adapter, why: str) -> None:
    adapter.reranker = None
    adapter.meta["kind"] = adapter.meta["kind"].removesuffix("+reranker")
    adapter.meta["rerank"].update(kept=False, why=why)


def _figures(found: Found) -> dict[str, float]:
    return {"recall_at_1": found[0], "recall_at_10": found[1]}


def adapt_corpus(
    lakehouse,
    corpus: str,
    *,
    holdout: float = 0.2,
    seed: int = 0,
    promote: bool = True,
    playbooks: Any = None,
    progress: Progress | None = None,
    epochs: int | None = None,
    rerank: bool = True,
) -> AdaptReport:
    """Train an adapter on `corpus`'s recorded matches, gate it on the held-back share, stage it
    as a generation and promote it when it passes (and `promote`)."""
    from lakehouse.learning.rerank_training import Recorded
    from lakehouse.search.embed import get_embedder
    from lakehouse.search.matrix import MatrixSearcher

    progress = progress or no_progress
    if not 0 < holdout < 1:
        raise AdaptError(f"holdout must be a share between 0 and 1 (exclusive), got {holdout}")
    loaded = lakehouse.corpora.get(corpus)  # an unknown corpus raises CorpusNotFound here
    manifest = loaded.manifest
    model = manifest.model
    entries = (playbooks if playbooks is not None else lakehouse.playbooks).entries()
    progress("reading recorded matches", 0, 1)
    pairs = recorded_pairs(lakehouse, corpus, loaded, entries, model)
    answers_gone = sum(e.corpus == corpus and not loaded.has(e.answer) for e in entries)
    progress("reading recorded matches", 1, 1)
    if len(pairs) < MIN_PAIRS:
        gone = f" ({answers_gone} more name rows the corpus no longer holds)" if answers_gone else ""
        mine = [e for e in entries if e.corpus == corpus]
        overruled = overruled_good(mine, lambda e: pair_key(e.query, e.corpus, e.answer), lambda e: e.ts, _good)
        if overruled:
            gone += f" ({overruled} more were rated good, then not: their newest rating is bad)"
        raise AdaptError(
            f"corpus {corpus!r} has {len(pairs)} recorded match{'' if len(pairs) == 1 else 'es'}{gone}; "
            f"adapt needs at least {MIN_PAIRS}: "
            "rate matches with `lakehouse rate` or import placements"
        )
    if len({fold(p.query) for p in pairs}) < 2:
        raise AdaptError(
            f"corpus {corpus!r}: its {len(pairs)} recorded matches are all on one query ({pairs[0].query!r}); "
            "adapt needs matches on at least 2 distinct queries (some train the adapter, others are held back "
            "to test it): rate matches for other queries with `lakehouse rate` or import placements"
        )
    train_share, held = _split(pairs, holdout, seed)
    held_queries: dict[str, tuple[str, np.ndarray, set[str]]] = {}
    for p in held:
        key = fold(p.query)
        held_queries.setdefault(key, (p.query, p.vector, set()))[2].add(p.answer)
    # every entry of the corpus (negative ones too) except those of a held-back query
    known = [e for e in entries if e.corpus == corpus and fold(e.query) not in held_queries]
    ids, vectors = corpus_rows(lakehouse, loaded)
    recorded = Recorded(lakehouse, corpus, loaded, train_share, known, ids, vectors, epochs=epochs, seed=seed)
    adapter = adapter_of(recorded, progress)  # its reranker is trained at the vote weight chosen below
    queries = [q for q, _, _ in held_queries.values()]
    query_vectors = np.stack([v for _, v, _ in held_queries.values()])
    expected = [answers for _, _, answers in held_queries.values()]
    s = lakehouse.settings
    with tempfile.TemporaryDirectory(prefix="lh-adapt-") as tmp:
        store = temporary_playbooks(lakehouse, Path(tmp), [e.record() for e in known])

        def held_back_recall(view: Any, label: str) -> Found:
            progress(f"gate: {label}", 0, len(queries))
            searcher = MatrixSearcher(
                PinnedCorpora(lakehouse.corpora, {corpus: view}), s, lambda m: get_embedder(m, s), store
            )
            found = recall(searcher, corpus, queries, query_vectors, model, expected)
            progress(f"gate: {label}", len(queries), len(queries))
            return found

        current = held_back_recall(loaded, "current state")
        view = adapted_view(loaded, adapter)
        tried = {}
        for weight in VOTE_WEIGHTS:
            adapter.meta["vote_weight"] = weight  # read by every search of the adapted view
            tried[weight] = held_back_recall(view, f"adapted state (vote weight {weight})")
        chosen = max(VOTE_WEIGHTS, key=lambda w: tried[w][:2])  # best recall@1, then recall@10; first on ties
        adapted = without = tried[chosen]
        adapter.meta["vote_weight"] = chosen
        adapter.meta["vote_weights_tried"] = {
            str(w): {"recall_at_1": r1, "recall_at_10": r10} for w, (r1, r10, _) in tried.items()
        }
        if rerank:
            # trained after the weight is chosen, so its candidates' ranks and votes are the served ones
            add_reranker(adapter, replace(recorded, vote_weight=chosen), progress)
            if adapter.reranker is not None:
                reranked = held_back_recall(view, f"adapted state and its reranker (vote weight {chosen})")
                adapted = keep_reranker(adapter, adapted, reranked)
        else:
            adapter.meta["rerank"] = dict(NOT_ASKED)
        store.close()
    rules, gated = gate(adapter, current, adapted, without)
    passed = all(r.passed for r in rules)
    figures = {"current": _figures(current), "adapted": _figures(gated)}
    trained_until = max(p.ts for p in pairs).astimezone(UTC).isoformat()
    adapter.meta.update(
        trained_until=trained_until,
        entries_seen=entries_seen(entries, corpus),
        trained_on=corpus,
        model=model,
        holdout=holdout,
        gate={"current": figures["current"], "adapted": figures["adapted"], "passed": passed},
        created_at=datetime.now(UTC).isoformat(),
    )
    promoted = False
    with lakehouse.corpora.writing(corpus):  # a row added between stage and promote stays live
        live = lakehouse.corpora.manifest(corpus)
        # another adapt, a promote or a rollback while this one trained: the gate compared with an
        # adapter that is no longer live, so it cannot say this one is better than the live one
        moved = live.adapter_key != manifest.adapter_key
        generation = lakehouse.corpora.stage(corpus, adapter=adapter, adapter_meta=dict(adapter.meta), reason="adapt")
        if passed and promote and not moved:
            lakehouse.corpora.promote(corpus, generation)
            promoted = True
    live_before = live.generation
    failed = [r.detail for r in rules if not r.passed]
    if not passed:
        decision = f"refused: {'; '.join(failed)}; generation {generation} staged, not live"
    elif promote and moved:
        decision = (
            f"passed the gate against generation {manifest.generation}, but generation {live.generation} went "
            f"live while this adapt trained (another adapt, a promote or a rollback): generation {generation} "
            f"staged, not live; run adapt again to gate against the live one, or `lakehouse corpus promote "
            f"{corpus} {generation}` to take it anyway"
        )
    elif promoted:
        decision = f"promoted generation {generation}: {'; '.join(r.detail for r in rules)}"
    else:
        decision = f"passed the gate ({'; '.join(r.detail for r in rules)}) but not promoted (--no-promote)"
    return AdaptReport(
        corpus=corpus,
        model=model,
        pairs=len(pairs),
        train_pairs=len(train_share),
        holdout_pairs=len(held),
        holdout_queries=len(queries),
        current=figures["current"],
        adapted=figures["adapted"],
        rules=rules,
        passed=passed,
        promoted=promoted,
        decision=decision,
        generation=generation,
        live_before=live_before,
        live_after=generation if promoted else live_before,
        trained_until=trained_until,
        train={k: v for k, v in adapter.meta.items() if k not in ("gate",)},
        answers_gone=answers_gone,
    )
