"""Training the reranker of a corpus's best hits (`lakehouse.search.rerank`) beside its adapter.

Cross-fitted through the real search, so every training candidate carries the signals a new
query's candidates carry at search time: the recorded queries are cut into `FOLDS` folds (by query,
seeded); for each fold an adapter is trained on the other folds' pairs, and the fold's queries are
searched through it with the real `MatrixSearcher`, the playbooks holding only the other folds'
entries (as the adapt gate searches its held-back share). Each query's best `TOP` hits become
training rows, labelled by whether the row is a recorded answer of that query.

Kept only when it helps: an MLP fitted on all folds but one reorders that one, and unless recall@1
over the folds rises the reranker is dropped (a corpus whose rows' words say little, too few
pairs). Otherwise the MLP fitted on every fold is the reranker: 16 ReLU units trained listwise (a
softmax over each query's candidates, any of its recorded answers the target), in torch like the
adapter. Boosted trees, a logistic regression and scikit-learn's pointwise MLP did no better
(`bench.learning.rerank`, BENCHMARKS.md).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lakehouse.common.progress import Progress, no_progress
from lakehouse.common.text import fold
from lakehouse.learning.adapter_training import ADAPTED_VOTE_WEIGHT, train
from lakehouse.learning.adapter_training import EPOCHS as ADAPTER_EPOCHS
from lakehouse.learning.views import PinnedCorpora, adapted_view, temporary_playbooks
from lakehouse.search.adapter import Adapter
from lakehouse.search.rerank import FEATURES, TOP, Candidate, Lexicon, Reranker, features, head

MIN_QUERIES = 200  # fewer recorded queries: no reranker (too few right answers to learn from)
FOLDS = 3  # 5 did no better (BENCHMARKS.md)
MAX_QUERIES = 3_000  # searched for training rows at most: a long history needs no more
# a fold's adapter trains on at most this many pairs (a seeded sample; the vote and the recorded
# counts still see every pair): with 41,884 recorded titles, 10,000 cut the reranker's training
# from 581 to 246 CPU s and moved the lift's adapted recall@1 from 0.562 to 0.560 (BENCHMARKS.md)
MAX_FOLD_PAIRS = 10_000
LEXICON_ROWS = 20_000  # corpus rows the n-gram IDF is fitted on at most (a seeded sample)
HIDDEN_UNITS = 16
MEMBERS = 5  # the reranker kept averages this many seeded MLPs: one seed moved a split's recall@1 by +-0.004
L2 = 1e-3
LEARNING_RATE = 1e-2
EPOCHS = 300
Group = tuple[np.ndarray, np.ndarray]  # one query's candidates: features (n, len(FEATURES)), labels (n,)


def listwise_loss(logits: Any, present: Any, right: Any) -> Any:
    """The mean over queries of -log P(the first hit is one of the query's right answers), P a
    softmax over its candidates: a query rated good for several rows is answered by any of them
    (a single target would teach that the others are wrong)."""
    import torch

    every = torch.logsumexp(logits.masked_fill(~present, -1e9), dim=1)
    answered = torch.logsumexp(logits.masked_fill(~right, -1e9), dim=1)
    return (every - answered).mean()


def _mlp(groups: list[Group], seed: int, members: int = 1) -> tuple[np.ndarray, np.ndarray, list]:
    """(mean, scale, layers) of an MLP over standardised features, trained listwise (`listwise_loss`;
    queries whose candidates miss every recorded answer teach nothing and are left out), full batch,
    seeded; with `members`, the average of that many, seeded one after another."""
    import torch

    flat = np.concatenate([X for X, _ in groups])
    mean, scale = flat.mean(axis=0), flat.std(axis=0)
    scale[scale <= 1e-12] = 1.0
    answered = [(X, y) for X, y in groups if y.any()]
    width = max(len(y) for _, y in answered)
    X = np.zeros((len(answered), width, flat.shape[1]), np.float32)
    present, right = np.zeros((len(answered), width), bool), np.zeros((len(answered), width), bool)
    for i, (features_i, labels) in enumerate(answered):
        X[i, : len(labels)] = (features_i - mean) / scale
        present[i, : len(labels)], right[i, : len(labels)] = True, labels
    inputs, mask, target = torch.from_numpy(X), torch.from_numpy(present), torch.from_numpy(right)
    hidden, out = [], []
    for member in range(members):
        torch.manual_seed(seed + member)
        first, last = torch.nn.Linear(X.shape[2], HIDDEN_UNITS), torch.nn.Linear(HIDDEN_UNITS, 1)
        net = torch.nn.Sequential(first, torch.nn.ReLU(), last)
        optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=L2)
        for _ in range(EPOCHS):
            loss = listwise_loss(net(inputs).squeeze(-1), mask, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        hidden.append((first.weight.detach().numpy().T, first.bias.detach().numpy()))
        out.append((last.weight.detach().numpy().T, last.bias.detach().numpy()))
    # the members side by side are one wider layer; the mean of their outputs is one output layer
    layers = [
        (np.concatenate([w for w, _ in hidden], axis=1).astype(np.float64), np.concatenate([b for _, b in hidden])),
        (np.concatenate([w for w, _ in out]).astype(np.float64) / members, np.mean([b for _, b in out], axis=0)),
    ]
    return mean, scale, layers


def _candidate(hit: Any) -> Candidate:
    """A searched hit as the reranker sees it (explain=True put the vote's share in `why`)."""
    why = hit.why or {}
    return Candidate.of(hit, why.get("vote_share", 0.0), why.get("memory", 0.0))


def _hits_at_1(reranker: Reranker | None, groups: list[Group]) -> tuple[int, int]:
    """(before, after): queries whose first candidate is right, in the search's order and the
    reranker's (None: none was trained, the order stays)."""
    before = after = 0
    for X, y in groups:
        before += int(y[0])
        after += int(y[int(np.argmax(reranker.logits(X)))] if reranker is not None else y[0])
    return before, after


@dataclass
class Recorded:
    """What a corpus learns from: its recorded (query, answer, vector) `pairs`, the playbook `entries`
    its training searches may vote with (none of a query the caller holds back), its live rows, and
    how the adapters are trained (`start`: the adapter they go on from, as the caller's) and the
    playbook vote weight their searches use (the weight the reranker will be served with)."""

    lakehouse: Any
    corpus: str
    loaded: Any
    pairs: list[Any]
    entries: list[Any]
    ids: list[str]
    vectors: np.ndarray
    start: Adapter | None = None
    epochs: int | None = None
    seed: int = 0
    vote_weight: float = ADAPTED_VOTE_WEIGHT


@dataclass
class TrainingRows:
    """The cross-fitted rows: per fold, per query, its candidates' features and labels (`per_fold`),
    the n-gram lexicon they were computed with, and how many pairs each fold's adapter trained on."""

    lexicon: Lexicon
    per_fold: list[list[Group]]
    fold_pairs: list[int]


def training_rows(recorded: Recorded, progress: Progress | None = None) -> TrainingRows | None:
    """The cross-fitted training rows of the recorded pairs; None under `MIN_QUERIES` queries."""
    from lakehouse.search.embed import get_embedder
    from lakehouse.search.matrix import MatrixSearcher

    r = recorded
    lakehouse, corpus, loaded, seed = r.lakehouse, r.corpus, r.loaded, r.seed
    pairs, entries = r.pairs, r.entries
    progress = progress or no_progress
    keyed = [(fold(p.query), p) for p in pairs]  # folded once: every fold below splits on it
    known = [(fold(e.query), e) for e in entries if e.corpus == corpus]
    queries: dict[str, tuple[str, np.ndarray, set[str]]] = {}
    for key, p in keyed:
        queries.setdefault(key, (p.query, p.vector, set()))[2].add(p.answer)
    if len(queries) < MIN_QUERIES:
        return None
    rng = np.random.default_rng(seed)
    keys = sorted(queries)
    folds = np.array_split(rng.permutation(len(keys)), FOLDS)
    texts = loaded.texts()
    sample = list(texts.values())
    if len(sample) > LEXICON_ROWS:
        sample = [sample[i] for i in sorted(rng.choice(len(sample), LEXICON_ROWS, replace=False))]
    lexicon = Lexicon.fit([head(t) for t in sample] + sample)  # the corpus's text only: no query shapes it
    model, s = loaded.manifest.model, lakehouse.settings
    per_fold: list[list[Group]] = []
    fold_pairs: list[int] = []  # what each fold's adapter trained on
    for number, positions in enumerate(folds, start=1):
        held_set = {keys[i] for i in positions}
        held = [keys[i] for i in positions[: MAX_QUERIES // FOLDS]]
        rest = [p for key, p in keyed if key not in held_set]
        rest_counts = Counter(p.answer for p in rest)
        if len(rest) > MAX_FOLD_PAIRS:
            rest = [rest[i] for i in sorted(rng.choice(len(rest), MAX_FOLD_PAIRS, replace=False))]
        fold_pairs.append(len(rest))
        progress(f"reranker: fold {number} of {FOLDS}", 0, len(held))
        adapter = train(
            np.stack([p.vector for p in rest]),
            [p.answer for p in rest],
            r.ids,
            r.vectors,
            epochs=r.epochs or ADAPTER_EPOCHS,
            seed=seed,
            start=r.start,
        ).voting_at(r.vote_weight)
        with tempfile.TemporaryDirectory(prefix="lh-rerank-") as tmp:
            store = temporary_playbooks(
                lakehouse,
                Path(tmp),
                [e.record() for key, e in known if key not in held_set],
            )
            searcher = MatrixSearcher(
                PinnedCorpora(lakehouse.corpora, {corpus: adapted_view(loaded, adapter)}),
                s,
                lambda m: get_embedder(m, s),
                store,
            )
            results = searcher.search_many(
                [queries[k][0] for k in held],
                [corpus],
                top_k=TOP,
                top_n=TOP,
                relevance=False,
                query_vectors={model: np.stack([queries[k][1] for k in held])},
                explain=True,
            )
            store.close()
        groups = []
        for key, result in zip(held, results, strict=True):
            candidates = [_candidate(h) for h in result.hits]
            if len(candidates) < 2 or any(c.memory != 0 for c in candidates):
                continue  # searches leave such queries as they are: nothing to learn from them
            query, vector, answers = queries[key]
            X = features(lexicon, dict(rest_counts), query, vector, candidates, loaded.row_vectors)
            groups.append((X, np.array([c.id in answers for c in candidates])))
        per_fold.append(groups)
        progress(f"reranker: fold {number} of {FOLDS}", len(held), len(held))

    return TrainingRows(lexicon, per_fold, fold_pairs)


def train_reranker(recorded: Recorded, progress: Progress | None = None) -> tuple[Reranker | None, dict[str, Any]]:
    """A reranker from the recorded pairs (see `training_rows`) when it helps, else None; the meta
    says which and why."""
    cpu0 = time.process_time()
    found = training_rows(recorded, progress)
    if found is None:
        return None, {"kept": False, "why": f"fewer than {MIN_QUERIES} recorded queries"}
    lexicon, per_fold = found.lexicon, found.per_fold  # the fits below close over both

    def fit(groups: list[Group], members: int = 1) -> Reranker | None:
        if not any(y.any() for _, y in groups):
            return None  # no recorded answer among the candidates: nothing to rerank towards
        mean, scale, layers = _mlp(groups, recorded.seed, members)
        return Reranker(lexicon, mean, scale, layers, dict(Counter(p.answer for p in recorded.pairs)))

    before = after = 0
    for f, groups in enumerate(per_fold):
        b, a = _hits_at_1(fit([g for other, gs in enumerate(per_fold) if other != f for g in gs]), groups)
        before, after = before + b, after + a
    checked = sum(len(g) for g in per_fold)
    meta: dict[str, Any] = {
        "folds": FOLDS,
        "fold_pairs": found.fold_pairs,
        "queries": checked,
        "rows": sum(len(y) for g in per_fold for _, y in g),
        "features": list(FEATURES),
        "check": {
            "recall_at_1_before": round(before / max(1, checked), 6),
            "recall_at_1_after": round(after / max(1, checked), 6),
        },
        "ngrams": len(lexicon.vocabulary),
    }
    reranker = fit([g for gs in per_fold for g in gs], MEMBERS) if after > before else None
    meta["kept"] = reranker is not None
    if reranker is None:
        meta["why"] = (
            f"reordering did not lift recall@1 on the recorded queries it did not see "
            f"({before} right at top-1 before, {after} after)"
        )
    meta["cpu_s"] = round(time.process_time() - cpu0, 3)
    return reranker, meta
