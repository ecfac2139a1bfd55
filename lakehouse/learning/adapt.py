"""`lakehouse adapt`: learn a query adapter from a corpus's recorded matches, behind a gate.

What is learned (chosen by measurement, issue 11; see BENCHMARKS.md): a query-side linear map W
(d x d, starting at the identity) together with offsets P for the corpus rows that were recorded as
answers ("prototypes"; the other rows keep their vectors), trained jointly with a softmax
cross-entropy of `normalize(q W) . normalize(d + P_d) / 0.05` against every corpus row vector as
stored in the corpus table (no re-embedding), plus 0.1 ||W - I||^2 + 0.03 ||P||^2; Adam, lr 1e-2,
100 full-batch epochs, seeded. On 2,000 real titles -> 500 others (MiniLM) this took recall@1 from
0.308 to 0.416 and recall@10 from 0.630 to 0.772 in 15-40 CPU seconds. Above `FULL_SOFTMAX_ROWS`
corpus rows the softmax runs over a candidate set (the answers plus each query's nearest rows), so
memory stays bounded.

The gate (`adapt_corpus`): the recorded (query, answer) pairs are split by query with a seeded
RNG; the held-back share is searched with the real `MatrixSearcher`, with playbooks that hold
ONLY the entries of the train-share queries, negative ones included (else memory would answer the
held-back queries): the current state (the live generation), and the adapted state (the same
playbooks + the new adapter) once per vote weight in `VOTE_WEIGHTS`, keeping the best (recall@1,
then recall@10) as the adapted generation's `vote_weight`. The adapter is
promoted only if it wins recall@1 and does not lose more than `RECALL10_SLACK` of recall@10. A
refused adapter is still staged as a generation (not live), so the report can name it.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lakehouse.common.progress import Progress, no_progress
from lakehouse.common.text import fold
from lakehouse.learning.errors import AdaptError
from lakehouse.search.adapter import Adapter
from lakehouse.search.embed.base import normalise
from lakehouse.search.vectors.rows import read_rows, vectors_of

MIN_PAIRS = 20
RECALL_DEPTH = 10
RECALL10_SLACK = 0.01  # adapted recall@10 may trail the current one by at most this much
FULL_SOFTMAX_ROWS = 50_000
CANDIDATES_PER_QUERY = 200
TEMPERATURE = 0.05
ADAPTED_VOTE_WEIGHT = 0.3  # playbook vote weight of an adapted generation (plain searches: 1.0)
# The gate tries these vote weights on the held-back pairs and keeps the best: with 2,000 recorded
# titles the adapter has learned most of what the neighbours know (a small weight wins), with
# 42,000 the neighbours' vote carries more (BENCHMARKS.md "LEARNING", bench.learning.pairs).
VOTE_WEIGHTS = (ADAPTED_VOTE_WEIGHT, 0.8, 1.5, 2.5)
GATE_ALPHA = 0.05  # a top-1 gain on the held-back pairs must be this unlikely under "no better"
W_DECAY = 0.1
P_DECAY = 0.03
LEARNING_RATE = 1e-2
EPOCHS = 100
MAX_THREADS = 8


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the process's peak, training included
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _candidate_rows(queries: np.ndarray, corpus: np.ndarray, labels: list[int], per_query: int) -> np.ndarray:
    """The answers plus each query's `per_query` nearest rows, in chunks so memory stays bounded."""
    rows = set(labels)
    for start in range(0, len(queries), 256):
        sims = queries[start : start + 256] @ corpus.T
        k = min(per_query, corpus.shape[0])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        rows.update(int(i) for i in top.ravel())
    return np.array(sorted(rows), dtype=np.int64)


# training ----------------------------------------------------------------------------------
def train(
    query_vectors: np.ndarray,
    answers: list[str],
    corpus_ids: list[str],
    corpus_vectors: np.ndarray,
    *,
    epochs: int = EPOCHS,
    seed: int = 0,
    start: Adapter | None = None,
    progress: Progress | None = None,
) -> Adapter:
    """An `Adapter` trained on (query vector, answer id) pairs against the corpus row vectors.

    With `start` (the live generation's adapter) training goes on from it instead of from the
    identity: its W is the starting point the decay pulls towards and its moved rows are the rows'
    vectors, so what it learned from the corpus's history stays and these pairs add to it (the lift
    test's adapted pass: the live state plus the run's own recordings)."""
    import torch  # heavy: only the trainer needs it

    progress = progress or no_progress
    queries = normalise(np.atleast_2d(query_vectors))
    if len(queries) != len(answers):
        raise AdaptError(f"{len(queries)} query vectors but {len(answers)} answers")
    if not answers:
        raise AdaptError("nothing to train on: no (query, answer) pairs")
    corpus = normalise(corpus_vectors)
    if queries.shape[1] != corpus.shape[1]:
        raise AdaptError(f"query vectors are {queries.shape[1]}-dim, the corpus rows {corpus.shape[1]}-dim")
    position = {row_id: i for i, row_id in enumerate(corpus_ids)}
    unknown = sorted({a for a in answers if a not in position})
    if unknown:
        raise AdaptError(f"answers not in the corpus: {', '.join(unknown[:5])}")
    labels = [position[a] for a in answers]
    softmax = "full"
    rows = np.arange(len(corpus))
    if start is not None:
        if start.dims != corpus.shape[1]:
            raise AdaptError(f"the starting adapter is {start.dims}-dim, the corpus rows {corpus.shape[1]}-dim")
        corpus = corpus.copy()
        for row_id, vector in zip(start.ids, start.vectors, strict=True):
            if row_id in position:
                corpus[position[row_id]] = vector
    if len(corpus) > FULL_SOFTMAX_ROWS:
        softmax = "candidates"
        rows = _candidate_rows(queries, corpus, labels, CANDIDATES_PER_QUERY)
        local = {int(r): i for i, r in enumerate(rows)}
        labels = [local[label] for label in labels]
    adapted = sorted(set(labels))
    dims = corpus.shape[1]

    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(MAX_THREADS, os.cpu_count() or 1)))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        torch.manual_seed(seed)
        X = torch.from_numpy(queries)
        Y = torch.tensor(labels, dtype=torch.long)
        D = torch.from_numpy(np.ascontiguousarray(corpus[rows]))
        moved = torch.tensor(adapted, dtype=torch.long)
        anchor = torch.eye(dims) if start is None else torch.from_numpy(start.W.copy())  # what W decays to
        W = torch.nn.Parameter(anchor.clone())
        P = torch.nn.Parameter(torch.zeros(len(adapted), dims))
        optimizer = torch.optim.Adam([W, P], lr=LEARNING_RATE)
        loss_value = float("nan")
        for epoch in range(epochs):
            Z = torch.nn.functional.normalize(X @ W, dim=1)
            C = torch.nn.functional.normalize(D.index_add(0, moved, P), dim=1)
            loss = (
                torch.nn.functional.cross_entropy(Z @ C.T / TEMPERATURE, Y)
                + W_DECAY * ((W - anchor) ** 2).sum()
                + P_DECAY * (P**2).sum()
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())
            progress("training", epoch + 1, epochs)
        with torch.no_grad():
            C = torch.nn.functional.normalize(D.index_add(0, moved, P), dim=1)
            vectors = C[moved].numpy().astype(np.float32)
            matrix = W.detach().numpy().astype(np.float32)
    finally:
        torch.set_num_threads(threads_before)
    meta = {
        "kind": "query-map+prototypes",
        # The adapter already learned from the recorded matches; measured on real titles, the
        # neighbours' vote adds least noise to it at a small weight (BENCHMARKS.md "LEARNING").
        # (also when going on from a live adapter whose gate chose more for the corpus's whole history:
        # the lift's own store is as small as its train file)
        "vote_weight": ADAPTED_VOTE_WEIGHT,
        "start_pairs": start.meta.get("pairs") if start else None,  # went on from an adapter of that many
        "pairs": len(answers),
        "adapted_rows": len(adapted),
        "corpus_rows": len(corpus_ids),
        "softmax": softmax,
        "softmax_rows": int(len(rows)),
        "epochs": epochs,
        "seed": seed,
        "temperature": TEMPERATURE,
        "w_decay": W_DECAY,
        "p_decay": P_DECAY,
        "learning_rate": LEARNING_RATE,
        "final_loss": round(loss_value, 6),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "wall_s": round(time.perf_counter() - wall0, 3),
        "peak_rss_mb": _peak_rss_mb(),
    }
    ids = [corpus_ids[int(rows[i])] for i in adapted]
    if start is not None:  # the rows the start had moved and these pairs did not move again
        moved_now = set(ids)
        kept = [i for i, row_id in enumerate(start.ids) if row_id not in moved_now]
        ids += [start.ids[i] for i in kept]
        vectors = np.concatenate([vectors, start.vectors[kept]])
    return Adapter(matrix, ids, vectors, meta)


# searching with an adapter, committing nothing ---------------------------------------------------
def adapted_view(loaded: Any, adapter: Adapter | None) -> Any:
    """The live corpus as it would search with `adapter` instead of its own (None: with none):
    its index and rows are shared, nothing is committed or changed."""
    return loaded.with_adapter(adapter)


class PinnedCorpora:
    """A corpus source for `MatrixSearcher` that hands out given copies (a pinned generation, an
    adapted view) and asks the real source for everything else."""

    def __init__(self, corpora: Any, pinned: dict[str, Any]) -> None:
        self.corpora = corpora
        self.pinned = pinned

    def get(self, name: str) -> Any:
        return self.pinned[name] if name in self.pinned else self.corpora.get(name)

    def candidates(self, name: str, where: str) -> set[str]:
        return self.corpora.candidates(name, where)


def corpus_rows(lakehouse, loaded) -> tuple[list[str], np.ndarray]:
    """(ids, vectors) of the live rows of a loaded corpus, read from its corpus table at the
    generation's snapshot (the vectors the index was built from)."""
    table = read_rows(lakehouse.tables, loaded.manifest, ["id", "vector", "deleted"])
    ids = table.column("id").to_pylist()
    deleted = table.column("deleted").to_pylist()
    vectors = vectors_of(table) if ids else np.zeros((0, loaded.manifest.dims), np.float32)
    keep = [i for i, (row_id, gone) in enumerate(zip(ids, deleted, strict=True)) if not gone and loaded.has(row_id)]
    return [ids[i] for i in keep], vectors[keep]


def recall(searcher, corpus: str, queries: list[str], vectors: np.ndarray, model: str, expected: list[set[str]]):
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pair:
    query: str
    answer: str
    vector: np.ndarray
    ts: datetime


def recorded_pairs(lakehouse, corpus: str, loaded, entries, model: str) -> list[_Pair]:
    """Positive entries of `corpus` whose answer the corpus holds, one per (folded query, answer)
    (the newest wins), with their query vectors under the corpus's model."""
    newest: dict[tuple[str, str], Any] = {}
    for entry in entries:
        if entry.corpus != corpus or entry.score <= 0 or not loaded.has(entry.answer):
            continue
        key = (fold(entry.query), entry.answer)
        if key not in newest or entry.ts > newest[key].ts:
            newest[key] = entry
    chosen = sorted(newest.values(), key=lambda e: (e.ts, e.id))
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


def _split(pairs: list[_Pair], holdout: float, seed: int) -> tuple[list[_Pair], list[_Pair]]:
    """By query (every pair of one query on the same side), seeded."""
    queries = sorted({fold(p.query) for p in pairs})
    order = np.random.default_rng(seed).permutation(len(queries))
    held = max(1, int(round(len(queries) * holdout)))
    if held >= len(queries):
        raise AdaptError(f"holdout {holdout} leaves no query to train on ({len(queries)} distinct queries)")
    held_back = {queries[i] for i in order[:held]}
    train_share = [p for p in pairs if fold(p.query) not in held_back]
    return train_share, [p for p in pairs if fold(p.query) in held_back]


def _temporary_playbooks(lakehouse, directory: Path, records: list[dict[str, Any]]):
    """A playbook store in `directory` holding just these entries (their stored vectors kept)."""
    from lakehouse.search.embed import get_embedder
    from lakehouse.search.playbooks import PlaybookStore

    s = lakehouse.settings
    store = PlaybookStore(
        directory / "playbooks.jsonl",
        lambda: get_embedder(s.embed_model, s),
        half_life_days=s.playbook_half_life_days,
        min_similarity=s.playbook_min_similarity,
    )
    with store.log.exclusive():
        for record in records:
            store.log.append(record)
    return store


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
) -> AdaptReport:
    """Train an adapter on `corpus`'s recorded matches, gate it on the held-back share, stage it
    as a generation and promote it when it passes (and `promote`)."""
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
    progress("reading recorded matches", 1, 1)
    if len(pairs) < MIN_PAIRS:
        raise AdaptError(
            f"corpus {corpus!r} has {len(pairs)} recorded matches; adapt needs at least {MIN_PAIRS}: "
            "rate matches with `lakehouse rate` or import placements"
        )
    train_share, held = _split(pairs, holdout, seed)
    ids, vectors = corpus_rows(lakehouse, loaded)
    adapter = train(
        np.stack([p.vector for p in train_share]),
        [p.answer for p in train_share],
        ids,
        vectors,
        epochs=epochs or EPOCHS,
        seed=seed,
        progress=progress,
    )

    held_queries: dict[str, tuple[str, np.ndarray, set[str]]] = {}
    for p in held:
        key = fold(p.query)
        held_queries.setdefault(key, (p.query, p.vector, set()))[2].add(p.answer)
    queries = [q for q, _, _ in held_queries.values()]
    query_vectors = np.stack([v for _, v, _ in held_queries.values()])
    expected = [answers for _, _, answers in held_queries.values()]
    s = lakehouse.settings
    with tempfile.TemporaryDirectory(prefix="lh-adapt-") as tmp:
        # every entry of the corpus (negative ones too) except those of a held-back query
        held_back = {fold(p.query) for p in held}
        records = [e.record() for e in entries if e.corpus == corpus and fold(e.query) not in held_back]
        store = _temporary_playbooks(lakehouse, Path(tmp), records)

        def held_back_recall(view: Any, label: str) -> tuple[float, float, list[int | None]]:
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
        adapted = tried[chosen]
        adapter.meta["vote_weight"] = chosen
        adapter.meta["vote_weights_tried"] = {
            str(w): {"recall_at_1": r1, "recall_at_10": r10} for w, (r1, r10, _) in tried.items()
        }
        figures = {
            state: {"recall_at_1": found[0], "recall_at_10": found[1]}
            for state, found in (("current", current), ("adapted", adapted))
        }
        ranks = {"current": current[2], "adapted": adapted[2]}
        store.close()
    rules = gate_rules(figures["current"], figures["adapted"], significance(ranks["current"], ranks["adapted"]))
    passed = all(r.passed for r in rules)
    trained_until = max(p.ts for p in pairs).astimezone(UTC).isoformat()
    adapter.meta.update(
        trained_until=trained_until,
        trained_on=corpus,
        model=model,
        holdout=holdout,
        gate={"current": figures["current"], "adapted": figures["adapted"], "passed": passed},
        created_at=datetime.now(UTC).isoformat(),
    )
    generation = lakehouse.corpora.stage(corpus, adapter=adapter, adapter_meta=dict(adapter.meta), reason="adapt")
    live_before = manifest.generation
    promoted = False
    if passed and promote:
        lakehouse.corpora.promote(corpus, generation)
        promoted = True
    failed = [r.detail for r in rules if not r.passed]
    if not passed:
        decision = f"refused: {'; '.join(failed)}; generation {generation} staged, not live"
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
    )
