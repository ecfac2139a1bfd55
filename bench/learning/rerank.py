"""Would a learned reranker over the adapted top 30 lift recall@1? Paired over re-splits.

    .venv/bin/python -m bench.learning.rerank [--splits 5] [--seed 123] [--home DIR]

The only lever measured above noise at 2,000 recorded titles once the adapter and the vote were
tuned (BENCHMARKS.md, "The adapter's W decay"). This numpy harness chose the reranker's features
and model; the product's own reranker (`lakehouse.learning.rerank_training`) is measured through
the product's lift run by `bench.learning.rerank_lift`.

Each split of the dev set's 2,500 alternate titles (the published one first, then `--splits`
random ones) records 2,000 and searches 500. Baselines, from the product's own adapter
(`lakehouse.learning.adapter_training.train` on the 2,000): the adapter alone, and the adapter with
a playbook-style vote (the 20 nearest recorded queries in the adapted space, weights
`exp((sim - 1) / 0.1)`, an abstaining voter of weight 1, their share added at 0.8). The reranker
scores each query's 30 best adapted rows with a model over a set of `FEATURES` (`FEATURE_SETS`,
boosted trees, a logistic regression, a 16-unit MLP); its training rows come from `--folds` (5) cross-fitting
on the recorded titles (an adapter and a recorded store per fold without that fold), so no
recorded title is scored by an adapter that saw it, and the test titles are scored with the
adapter and store of all 2,000. Reported: recall@1 / recall@10 per split and the paired mean change
against the adapter + vote; the adapter time per split shows what the extra fits cost.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.learning.lift import TESTS, _items, alternate_titles, resplits
from bench.playbook_lift import REPO, ensure_onet
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.adapt import corpus_rows
from lakehouse.learning.adapter_training import ADAPTED_VOTE_WEIGHT, train
from lakehouse.search.vote import VoteRule

TOP = 30
RULE = VoteRule()  # the product's vote: 20 neighbours, temperature 0.1, the abstaining voter
FOLDS = 5
FEATURES = (
    "adapted cosine",
    "cold cosine",
    "rank",
    "gap to the best",
    "vote share (adapted space)",
    "vote share (cold space)",
    "lexical vote share",
    "char n-gram similarity to the title",
    "char n-gram similarity to the description",
    "recorded count",
)


def _vote(sims: np.ndarray, answers: np.ndarray, rows: int, temperature: float = RULE.temperature) -> np.ndarray:
    """(queries, rows) share of the nearest recorded queries' weights per answer row, the
    abstaining voter counted as `lakehouse.search.vote` counts it (numpy over every query at once)."""
    out = np.zeros((sims.shape[0], rows), np.float32)
    k = min(RULE.neighbours, sims.shape[1])
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    abstain = float(np.exp((RULE.abstain_similarity - 1.0) / temperature)) if RULE.abstain_similarity > 0 else 0.0
    for q, neighbours in enumerate(near):
        weights = np.exp((sims[q, neighbours] - 1.0) / temperature)
        np.add.at(out[q], answers[neighbours], weights / (weights.sum() + abstain))
    return out


class Scorer:
    """Adapter, votes and lexical signals of one recorded store, for candidates of new queries."""

    def __init__(self, store: dict, recorded: np.ndarray, corpus: np.ndarray, lexical: dict) -> None:
        answers = store["answer_rows"][recorded]
        self.adapter = train(store["queries"][recorded], [store["ids"][a] for a in answers], store["ids"], corpus)
        self.moved = corpus.copy()
        for i, row_id in enumerate(self.adapter.ids):
            self.moved[store["position"][row_id]] = self.adapter.vectors[i]
        self.corpus, self.store, self.lexical = corpus, store, lexical
        self.recorded, self.answers = recorded, answers
        self.mapped_recorded = self.adapter.adapt_query(store["queries"][recorded])
        self.counts = np.bincount(answers, minlength=len(corpus)).astype(np.float32)

    def features(self, searched: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(candidates (q, TOP), features (q, TOP, F), adapter scores and adapter + vote scores
        (q, rows))."""
        q_cold = self.store["queries"][searched]
        q_mapped = self.adapter.adapt_query(q_cold)
        adapted, cold = q_mapped @ self.moved.T, q_cold @ self.corpus.T
        rows = len(self.corpus)
        vote_adapted = _vote(q_mapped @ self.mapped_recorded.T, self.answers, rows)
        vote_cold = _vote(q_cold @ self.store["queries"][self.recorded].T, self.answers, rows)
        tfidf = self.lexical["queries"]
        lexical_sims = (tfidf[searched] @ tfidf[self.recorded].T).toarray()
        vote_lexical = _vote(lexical_sims, self.answers, rows, temperature=1.0)
        fused = adapted + ADAPTED_VOTE_WEIGHT * vote_adapted
        candidates = np.argsort(-adapted, axis=1, kind="stable")[:, :TOP]
        take = np.take_along_axis
        best = adapted.max(axis=1, keepdims=True)
        title_sim = (tfidf[searched] @ self.lexical["titles"].T).toarray()
        description_sim = (tfidf[searched] @ self.lexical["descriptions"].T).toarray()
        columns = [
            take(adapted, candidates, 1),
            take(cold, candidates, 1),
            np.broadcast_to(np.arange(TOP, dtype=np.float32), candidates.shape),
            best - take(adapted, candidates, 1),
            take(vote_adapted, candidates, 1),
            take(vote_cold, candidates, 1),
            take(vote_lexical, candidates, 1),
            take(title_sim, candidates, 1),
            take(description_sim, candidates, 1),
            np.log1p(self.counts[candidates]),
        ]
        return candidates, np.stack(columns, axis=2), adapted, fused


def _recall(ranked: np.ndarray, expected: list[set[int]]) -> tuple[float, float]:
    at1 = np.mean([row[0] in want for row, want in zip(ranked, expected, strict=True)])
    at10 = np.mean([bool(want & set(row[:10].tolist())) for row, want in zip(ranked, expected, strict=True)])
    return float(at1), float(at10)


# feature sets (indices into FEATURES): what each one would need at search time differs a lot
FEATURE_SETS = {
    "scores the product has": (0, 1, 2, 3, 4, 5, 9),
    "+ title similarity": (0, 1, 2, 3, 4, 5, 9, 7),
    "+ title and description similarity": (0, 1, 2, 3, 4, 5, 9, 7, 8),
    "+ lexical vote": (0, 1, 2, 3, 4, 5, 9, 6),
    "every feature": tuple(range(len(FEATURES))),
    "adapted cosine, rank, gap, vote, title and description similarity": (0, 2, 3, 5, 7, 8),
}


def _models(seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "boosted trees": lambda: HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=seed
        ),
        "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)),
        "MLP": lambda: make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), alpha=1e-3, max_iter=300, random_state=seed)
        ),
    }


def one_split(store: dict, corpus: np.ndarray, lexical: dict, recorded, searched, seed: int, folds: int) -> dict:
    expected = [store["expected"][i] for i in searched]
    started = time.process_time()
    final = Scorer(store, recorded, corpus, lexical)
    adapter_cpu = time.process_time() - started
    rng = np.random.default_rng(seed)
    parts = np.array_split(rng.permutation(recorded), folds)
    X, y = [], []
    for f, held in enumerate(parts):
        rest = np.concatenate([part for g, part in enumerate(parts) if g != f])
        candidates, features, _, _ = Scorer(store, rest, corpus, lexical).features(held)
        labels = np.array([[c in store["expected"][i] for c in row] for i, row in zip(held, candidates, strict=True)])
        X.append(features.reshape(-1, features.shape[2]))
        y.append(labels.reshape(-1))
    fit_cpu = time.process_time() - started - adapter_cpu
    train_X, train_y = np.concatenate(X), np.concatenate(y)
    candidates, features, adapted, fused = final.features(searched)
    test_X = features.reshape(-1, features.shape[2])
    out = {
        "adapter": _recall(np.argsort(-adapted, axis=1, kind="stable")[:, :10], expected),
        "adapter + vote": _recall(np.argsort(-fused, axis=1, kind="stable")[:, :10], expected),
        "candidates hold an answer": float(
            np.mean([bool(w & set(r.tolist())) for r, w in zip(candidates, expected, strict=True)])
        ),
        "adapter cpu s": adapter_cpu,
        "fold adapters cpu s": fit_cpu,
    }
    for model_name, make in _models(seed).items():
        for set_name, columns in FEATURE_SETS.items():
            model = make().fit(train_X[:, columns], train_y)
            scores = model.predict_proba(test_X[:, columns])[:, 1].reshape(candidates.shape)
            ranked = np.take_along_axis(candidates, np.argsort(-scores, axis=1, kind="stable"), 1)
            out[f"{model_name}: {set_name}"] = _recall(ranked, expected)
    return out


def _lexical(titles: list[dict], ids: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    with open(REPO / "examples" / "data" / "occupations.tsv", newline="", encoding="utf-8") as f:
        text = {row["O*NET-SOC Code"]: row for row in csv.DictReader(f, delimiter="\t")}
    row_titles = [text[i]["Title"] for i in ids]
    descriptions = [text[i]["Description"] for i in ids]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, lowercase=True)
    vectorizer.fit(row_titles + descriptions)  # the corpus only: no recorded or searched title shapes it
    return {
        "queries": vectorizer.transform([t["query"] for t in titles]),
        "titles": vectorizer.transform(row_titles),
        "descriptions": vectorizer.transform(descriptions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5, help="random re-splits after the published one")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--folds", type=int, default=FOLDS, help="cross-fitting folds (an adapter each)")
    parser.add_argument("--home", type=Path, help="LH_HOME to build (or reuse) the onet corpus in")
    args = parser.parse_args()
    lh = Lakehouse(Settings(home=args.home or Path(tempfile.mkdtemp(prefix="bench-rerank-"))))
    ensure_onet(lh)
    loaded = lh.corpora.get("onet")
    ids, corpus = corpus_rows(lh, loaded)
    alternate = alternate_titles()
    titles = alternate + _items(TESTS["reported titles"])  # the latter searched once, never re-split
    position = {row_id: i for i, row_id in enumerate(ids)}
    store = {
        "ids": ids,
        "position": position,
        "queries": lh.corpora.embedder(loaded.manifest.model).embed([t["query"] for t in titles]),
        "answer_rows": np.array([position[t["expected"][0]] for t in titles]),
        "expected": [{position[c] for c in t["expected"] if c in position} for t in titles],
    }
    lh.close()
    lexical = _lexical(titles, ids)
    splits = resplits(args.splits, args.seed)
    reported = (np.arange(2000), np.arange(len(alternate), len(titles)))
    print(
        f"{len(splits)} splits of the alternate titles (the published one + {args.splits} of seed {args.seed}), "
        f"2,000 recorded, 500 searched; {args.folds} folds"
    )
    print("features:", ", ".join(FEATURES), "\n")
    results = []
    for n, (recorded, searched) in enumerate(splits):
        r = one_split(store, corpus, lexical, recorded, searched, seed=n, folds=args.folds)
        results.append(r)
        print(
            f"split {'published' if n == 0 else n}: adapter + vote {r['adapter + vote'][0]:.3f}, "
            f"boosted trees on every feature {r['boosted trees: every feature'][0]:.3f}, top {TOP} hold an answer "
            f"{r['candidates hold an answer']:.3f}, adapter {r['adapter cpu s']:.1f} CPU s, "
            f"{args.folds} fold adapters {r['fold adapters cpu s']:.1f} CPU s",
            flush=True,
        )
    base = np.array([r["adapter + vote"] for r in results])
    print("\n| ranking | recall@1 / recall@10 (mean) | change vs adapter + vote, paired (sd) |\n|---|---|---|")
    for key in [k for k in results[0] if isinstance(results[0][k], tuple)]:
        values = np.array([r[key] for r in results])
        change = values - base
        print(
            f"| {key} | {values[:, 0].mean():.3f} / {values[:, 1].mean():.3f} | "
            f"{change[:, 0].mean():+.4f} ({change[:, 0].std():.4f}) / "
            f"{change[:, 1].mean():+.4f} ({change[:, 1].std():.4f}) |"
        )

    r = one_split(store, corpus, lexical, *reported, seed=0, folds=args.folds)
    print(f"\nreported titles ({len(reported[1])}, another source), the published 2,000 recorded:")
    for key in [k for k in r if isinstance(r[k], tuple)]:
        print(f"- {key}: {r[key][0]:.3f} / {r[key][1]:.3f}")


if __name__ == "__main__":
    main()
