"""The playbook-lift test: do recorded judgements make later searches better?

Verbatim replay (`LiftRun.verbatim`):
  1. cold pass, playbooks off: search every query; the judge picks the best of the top K hits
     (nothing acceptable: out-of-domain; the labels judge takes an expected id even when the cold
     hits miss it, so such a pick is a discovery);
  2. record every pick as a playbook (score = the judge's confidence);
  3. warm pass, playbooks on: the same queries again.
  Report: queries, discoveries (the pick was not top-1 cold), lifts (discoveries top-1 warm),
  lift_rate (lifts / discoveries), boosts (warm queries where a playbook lifted some hit),
  mean_delta_top1_distance (warm minus cold top-1 distance over the queries whose pick was among
  the cold hits; negative is closer), out_of_domain, recall_at_1_cold / recall_at_1_warm (top-1 in `expected`, over the
  queries that have labels).

Paraphrase pass (`LiftRun.paraphrase`): record picks for the train queries, then measure
recall@1 and recall@10 on different test queries (never recorded) cold vs warm, and (unless
`adapt=False`) adapted: a query adapter (`lakehouse.learning.adapter_training.train`) is trained on the run's
OWN recorded train entries (going on from the live generation's adapter when it has one, so what
the corpus already learned stays) and the test queries are searched warm + adapted through a view
of the corpus that commits nothing (no generation is staged, the live corpus is untouched). The `adapt`
meta gives the pairs, CPU and wall seconds, peak memory, and what the adapt gate would decide on
these test queries (adapted vs warm).

Every run writes to its own fresh playbook store (a new file; the lakehouse's own store at
`LH_HOME/playbooks.jsonl` is never read or written), so runs neither see nor leave behind each
other's judgements. The ranking is the matrix's own (same code, same settings); only the
relevance filter is off, because the question is where answers rank, not whether they clear a
threshold. The vote weight and the vote floor come from the `playbook_boost` and
`playbook_min_similarity` settings, or per-run overrides; an adapted corpus votes at its adapter's
weight, and in the run's store (only its train file) at the short-history weight of an adapted
generation (`ADAPTED_VOTE_WEIGHT`, 0.8) even when the gate chose more for the corpus's long live
history: the weight belongs to the store it votes over. Query files: `queries.py`.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC
from functools import cached_property
from pathlib import Path
from typing import Any

from lakehouse.common.progress import Progress, no_progress
from lakehouse.common.recordfile import InputFileError
from lakehouse.learning.errors import LiftError
from lakehouse.learning.lift.judge import Judge, LabelsJudge, Verdict, make_judge
from lakehouse.learning.lift.queries import QueryLine, check_disjoint, listed_problems, read_queries
from lakehouse.learning.lift.report import check_out_dir, write_reports
from lakehouse.learning.lift.types import LiftResult
from lakehouse.search.rerank import head

RECALL_DEPTH = 10  # recall@10 of the paraphrase pass
MAX_BOOST = 5.0  # the vote may outweigh the cosine (1.5 by default), never swamp it
# A caller that runs `lift.run` through `invoke_mode` (the CLI) reports progress through this.
PROGRESS: ContextVar[Progress | None] = ContextVar("lakehouse_lift_progress", default=None)


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def _top(hits, depth: int = 1) -> list[dict[str, Any]]:
    # the row's first line (its title in a corpus whose first text column is one) so the per-query
    # rows and the report read without a second look-up
    return [{"corpus": h.corpus, "id": h.id, "title": head(h.text), "distance": h.distance} for h in hits[:depth]]


def _rank(hits, expected: list[str] | None) -> int | None:
    wanted = set(expected or [])
    return next((r for r, h in enumerate(hits, start=1) if h.id in wanted), None)


class LiftRun:
    """One lift run over some corpora with its own playbook store at `store_path` (must be new)."""

    def __init__(
        self,
        lakehouse,
        corpora: list[str],
        judge: Judge,
        store_path: Path | str,
        top_k: int | None = None,
        boost: float | None = None,
        min_similarity: float | None = None,
        progress: Progress | None = None,
    ) -> None:
        corpora = list(dict.fromkeys(c.strip() for c in corpora if c.strip()))
        if not corpora:
            raise LiftError("give at least one corpus to search")
        top_k = top_k or lakehouse.settings.lift_top_k
        if not 1 <= top_k <= 1000:
            raise LiftError(f"top_k must be between 1 and 1000, got {top_k}")
        if boost is not None and not 0 < boost <= MAX_BOOST:
            raise LiftError(f"boost must be in (0, {MAX_BOOST:g}], got {boost}")
        if min_similarity is not None and not -1 <= min_similarity < 1:
            raise LiftError(f"min_similarity must be in [-1, 1), got {min_similarity}")
        self.loaded = {name: lakehouse.corpora.get(name) for name in corpora}  # unknown corpus: fails here
        self.store_path = Path(store_path)
        if self.store_path.exists() and self.store_path.stat().st_size:
            raise LiftError(f"{self.store_path} already holds playbooks; a lift run needs a fresh store")
        overrides = {
            k: v for k, v in (("playbook_boost", boost), ("playbook_min_similarity", min_similarity)) if v is not None
        }
        self.settings = lakehouse.settings.model_copy(update=overrides)
        self.lakehouse = lakehouse
        self.corpora, self.judge, self.top_k = corpora, judge, top_k
        if isinstance(judge, LabelsJudge) and judge.locate is None:
            judge.locate = self._locate  # a label the cold pass missed is still recorded, in its corpus
        self.progress = progress or no_progress

    @cached_property
    def store(self):
        """The run's own playbook store; opened (and its directory made) only once the inputs passed."""
        from lakehouse.search.embed import get_embedder
        from lakehouse.search.playbooks import PlaybookStore

        s = self.settings
        return PlaybookStore(
            self.store_path,
            lambda: get_embedder(s.embed_model, s),
            validate=self._answer_exists,
            half_life_days=s.playbook_half_life_days,
            min_similarity=s.playbook_min_similarity,
        )

    @cached_property
    def short_history_views(self) -> dict[str, Any]:
        """The adapted corpora whose vote weight was chosen for a longer history than the run's
        store, as views voting at the short-history weight (nothing committed)."""
        from lakehouse.learning.adapter_training import ADAPTED_VOTE_WEIGHT

        return {
            name: loaded.with_adapter(loaded.adapter.voting_at(ADAPTED_VOTE_WEIGHT))
            for name, loaded in self.loaded.items()
            if loaded.adapter is not None and loaded.adapter.meta.get("vote_weight") != ADAPTED_VOTE_WEIGHT
        }

    @cached_property
    def searcher(self):
        from lakehouse.learning.views import PinnedCorpora
        from lakehouse.search.embed import get_embedder
        from lakehouse.search.matrix import MatrixSearcher

        s = self.settings
        corpora = PinnedCorpora(self.lakehouse.corpora, self.short_history_views)
        return MatrixSearcher(corpora, s, lambda model: get_embedder(model, s), self.store)

    def _locate(self, answer: str) -> str | None:
        return next((name for name, corpus in self.loaded.items() if corpus.has(answer)), None)

    def _answer_exists(self, corpus: str, answer: str) -> None:
        if corpus not in self.loaded or not self.loaded[corpus].has(answer):
            raise LiftError(f"corpus {corpus!r} has no id {answer!r}")

    def meta(self) -> dict[str, Any]:
        s = self.settings
        return {
            "corpora": self.corpora,
            "judge": self.judge.name,
            "top_k": self.top_k,
            "playbook_store": str(self.store_path),
            "playbook_boost": s.playbook_boost,
            "playbook_min_similarity": s.playbook_min_similarity,
            "embed_model": s.embed_model,
            # an adapted corpus's vote weight in this run, where its live one (chosen for its
            # history) is another: {corpus: {"live": w, "run": w}}
            "vote_weights_changed": {
                name: {
                    "live": self.loaded[name].adapter.meta.get("vote_weight"),
                    "run": view.adapter.meta["vote_weight"],
                }
                for name, view in self.short_history_views.items()
            },
        }

    def check_labels(self, lines: list[QueryLine]) -> None:
        """An expected id that none of the corpora holds is a typo in the file, not a miss."""
        unknown = [
            f"{line.where}, field 'expected': id {answer!r} is in none of the corpora {', '.join(self.corpora)}"
            for line in lines
            for answer in line.item.expected or []
            if not any(corpus.has(answer) for corpus in self.loaded.values())
        ]
        if unknown:
            raise InputFileError(
                listed_problems(unknown, f"{len(unknown)} expected ids are in no corpus, nothing was run")
            )

    # passes ------------------------------------------------------------------------------
    def search(self, queries: list[str], warm: bool, depth: int, stage: str):
        self.progress(stage, 0, len(queries))
        results = self.searcher.search_many(
            queries, self.corpora, top_k=depth, top_n=depth, use_playbooks=warm, relevance=False
        )
        self.progress(stage, len(queries), len(queries))
        return results

    def judge_all(self, lines: list[QueryLine], cold) -> list[Verdict]:
        verdicts = []
        for done, (line, result) in enumerate(zip(lines, cold, strict=False), start=1):
            verdicts.append(self.judge.judge(line.item.query, line.item.expected, result.hits[: self.top_k]))
            self.progress("judging", done, len(lines))
        return verdicts

    def record(self, lines: list[QueryLine], verdicts: list[Verdict]) -> int:
        entries = [
            {"query": line.item.query, "answer": v.pick.id, "corpus": v.pick.corpus, "score": v.pick.score}
            for line, v in zip(lines, verdicts, strict=False)
            if v.pick is not None
        ]
        self.progress("recording playbooks", 0, len(entries))
        outcome: dict[str, Any] = (
            self.store.record_many(entries) if entries else {"recorded": 0, "failed": 0, "results": []}
        )
        if outcome["failed"]:
            first = next(r for r in outcome["results"] if "error" in r)
            raise LiftError(f"{outcome['failed']} playbook(s) could not be recorded: {first['error']}")
        self.progress("recording playbooks", len(entries), len(entries))
        return outcome["recorded"]

    def verbatim(self, lines: list[QueryLine]) -> LiftResult:
        self.check_labels(lines)
        queries = [line.item.query for line in lines]
        cold = self.search(queries, False, self.top_k, "cold pass")
        verdicts = self.judge_all(lines, cold)
        self.record(lines, verdicts)
        warm = self.search(queries, True, self.top_k, "warm pass")
        rows = [self._verbatim_row(line, v, c, w) for line, v, c, w in zip(lines, verdicts, cold, warm, strict=False)]
        return LiftResult("verbatim", verbatim_report(rows), rows, self.meta())

    def _verbatim_row(self, line: QueryLine, verdict: Verdict, cold, warm) -> dict[str, Any]:
        pick = verdict.pick
        key = (pick.corpus, pick.id) if pick else None
        cold_top = (cold.hits[0].corpus, cold.hits[0].id) if cold.hits else None
        warm_top = (warm.hits[0].corpus, warm.hits[0].id) if warm.hits else None
        expected = line.item.expected
        return {
            "line": line.line,
            "query": line.item.query,
            "expected": expected,
            "pick": pick.as_dict() if pick else None,
            "judge_error": verdict.error,
            "out_of_domain": pick is None and verdict.error is None,
            "cold_top1": _top(cold.hits)[0] if cold.hits else None,
            "warm_top1": _top(warm.hits)[0] if warm.hits else None,
            "discovery": pick is not None and cold_top != key,
            "pick_top1_cold": pick is not None and cold_top == key,
            "pick_top1_warm": pick is not None and warm_top == key,
            "boosted": any(h.boost > 0 for h in warm.hits),
            "hit_at_1_cold": None if not expected else _rank(cold.hits[:1], expected) is not None,
            "hit_at_1_warm": None if not expected else _rank(warm.hits[:1], expected) is not None,
        }

    def adapted_pass(self, queries: list[str], depth: int, rerank: bool = True) -> tuple[list[Any], dict[str, Any]]:
        """Train an adapter per corpus on this run's own recorded entries, then search `queries`
        warm + adapted through views of the corpora that commit nothing."""

        from lakehouse.learning.adapt import learn, recorded_pairs
        from lakehouse.learning.views import PinnedCorpora, adapted_view
        from lakehouse.search.embed import get_embedder
        from lakehouse.search.matrix import MatrixSearcher

        entries = self.store.entries()  # the run's own store: never the live one
        pinned: dict[str, Any] = {}
        per_corpus: dict[str, Any] = {}
        for name in self.corpora:
            loaded = self.loaded[name]
            pairs = recorded_pairs(self.lakehouse, name, loaded, entries, loaded.manifest.model)
            if not pairs:
                continue
            adapter = learn(
                self.lakehouse,
                name,
                loaded,
                pairs,
                entries,
                start=loaded.adapter,  # the live generation's learning stays; the run's pairs add to it
                rerank=rerank,
                progress=self.progress,
            )
            pinned[name] = adapted_view(loaded, adapter)
            per_corpus[name] = {
                k: adapter.meta[k]
                for k in ("pairs", "start_pairs", "adapted_rows", "softmax", "epochs", "cpu_s", "wall_s", "peak_rss_mb")
            }
            per_corpus[name]["rerank"] = adapter.meta["rerank"]
        s = self.settings
        searcher = MatrixSearcher(
            PinnedCorpora(self.lakehouse.corpora, pinned), s, lambda model: get_embedder(model, s), self.store
        )
        self.progress("adapted pass (test)", 0, len(queries))
        results = searcher.search_many(
            queries, self.corpora, top_k=depth, top_n=depth, use_playbooks=True, relevance=False
        )
        self.progress("adapted pass (test)", len(queries), len(queries))
        meta = {
            "pairs": sum(c["pairs"] for c in per_corpus.values()),
            "cpu_s": round(sum(c["cpu_s"] for c in per_corpus.values()), 3),
            "rerank_cpu_s": round(sum(c["rerank"].get("cpu_s", 0.0) for c in per_corpus.values()), 3),
            "wall_s": round(sum(c["wall_s"] for c in per_corpus.values()), 3),
            "peak_rss_mb": max((c["peak_rss_mb"] for c in per_corpus.values()), default=None),
            "corpora": per_corpus,
        }
        return results, meta

    def first_lines(self, ids: set[str]) -> dict[str, str]:
        """These rows' first lines (their titles), from the first of the run's corpora that holds each."""
        found: dict[str, str] = {}
        for loaded in self.loaded.values():
            found |= {i: head(text) for i, text in loaded.texts(ids - found.keys()).items()}
        return found

    def paraphrase(
        self, train: list[QueryLine], test: list[QueryLine], adapt: bool = True, rerank: bool = True
    ) -> LiftResult:
        check_disjoint(train, test)
        self.check_labels(train + test)
        depth = max(self.top_k, RECALL_DEPTH)
        cold_train = self.search([line.item.query for line in train], False, self.top_k, "cold pass (train)")
        verdicts = self.judge_all(train, cold_train)
        recorded = self.record(train, verdicts)
        test_queries = [line.item.query for line in test]
        cold = self.search(test_queries, False, depth, "cold pass (test)")
        warm = self.search(test_queries, True, depth, "warm pass (test)")
        adapted, adapt_meta = self.adapted_pass(test_queries, depth, rerank) if adapt else ([None] * len(test), None)
        titles = self.first_lines({e for line in test for e in line.item.expected or []})
        rows = [
            {
                "line": line.line,
                "query": line.item.query,
                "expected": line.item.expected,
                "expected_titles": [titles.get(e) for e in line.item.expected or []],
                "cold_rank": _rank(c.hits[:RECALL_DEPTH], line.item.expected),
                "warm_rank": _rank(w.hits[:RECALL_DEPTH], line.item.expected),
                "adapted_rank": _rank(a.hits[:RECALL_DEPTH], line.item.expected) if a is not None else None,
                "cold_top1": _top(c.hits)[0] if c.hits else None,
                "warm_top1": _top(w.hits)[0] if w.hits else None,
                "adapted_top1": _top(a.hits)[0] if a is not None and a.hits else None,
                "boosted": any(h.boost > 0 for h in w.hits),
            }
            for line, c, w, a in zip(test, cold, warm, adapted, strict=False)
        ]
        ood = sum(v.pick is None and v.error is None for v in verdicts)
        errors = sum(v.error is not None for v in verdicts)
        report = paraphrase_report(rows, len(train), recorded, ood, adapted=adapt)
        if adapt_meta is not None:
            adapt_meta["gate"] = _gate(report)
        meta = {
            **self.meta(),
            "adapt": adapt_meta,
            "judge_errors": errors,
            "train": [
                {
                    "line": item.line,
                    "query": item.item.query,
                    "pick": v.pick.as_dict() if v.pick else None,
                    "judge_error": v.error,
                }
                for item, v in zip(train, verdicts, strict=False)
            ],
        }
        return LiftResult("paraphrase", report, rows, meta)


def verbatim_report(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of issue 5, from per-query rows (exactly these keys, in this order)."""
    discoveries = [r for r in rows if r["discovery"]]
    lifts = [r for r in discoveries if r["pick_top1_warm"]]
    # a label taken as truth from outside the cold hits (rank None) is usually farther than any of
    # them: its distance says nothing about whether the playbook brought the answer closer
    judged = [
        r
        for r in rows
        if r["pick"] is not None and r["pick"].get("rank", 1) is not None and r["cold_top1"] and r["warm_top1"]
    ]
    deltas = [r["warm_top1"]["distance"] - r["cold_top1"]["distance"] for r in judged]
    labelled = [r for r in rows if r["hit_at_1_cold"] is not None]
    return {
        "queries": len(rows),
        "discoveries": len(discoveries),
        "lifts": len(lifts),
        "lift_rate": _ratio(len(lifts), len(discoveries)),
        "boosts": sum(r["boosted"] for r in rows),
        "mean_delta_top1_distance": round(sum(deltas) / len(deltas), 6) if deltas else None,
        "out_of_domain": sum(r["out_of_domain"] for r in rows),
        "recall_at_1_cold": _ratio(sum(r["hit_at_1_cold"] for r in labelled), len(labelled)),
        "recall_at_1_warm": _ratio(sum(r["hit_at_1_warm"] for r in labelled), len(labelled)),
    }


def _gate(report: dict[str, Any]) -> dict[str, Any]:
    """What `lakehouse adapt`'s gate would decide on these test queries, adapted vs warm."""
    from lakehouse.learning.adapt import gate_rules

    rules = gate_rules(
        {"recall_at_1": report["recall_at_1_warm"] or 0.0, "recall_at_10": report["recall_at_10_warm"] or 0.0},
        {"recall_at_1": report["recall_at_1_adapted"] or 0.0, "recall_at_10": report["recall_at_10_adapted"] or 0.0},
    )
    return {
        "passed": all(r.passed for r in rules),
        "against": "warm",
        "rules": [{"rule": r.rule, "passed": r.passed, "detail": r.detail} for r in rules],
    }


def paraphrase_report(
    rows: list[dict[str, Any]], train: int, recorded: int, ood: int, adapted: bool = False
) -> dict[str, Any]:
    def at(key: str, depth: int) -> float | None:
        if key == "adapted_rank" and not adapted:
            return None
        return _ratio(sum(r.get(key) is not None and r[key] <= depth for r in rows), len(rows))

    hit_cold = [r["cold_rank"] == 1 for r in rows]
    hit_warm = [r["warm_rank"] == 1 for r in rows]
    return {
        "train_queries": train,
        "recorded": recorded,
        "out_of_domain": ood,
        "test_queries": len(rows),
        "recall_at_1_cold": at("cold_rank", 1),
        "recall_at_1_warm": at("warm_rank", 1),
        "recall_at_10_cold": at("cold_rank", RECALL_DEPTH),
        "recall_at_10_warm": at("warm_rank", RECALL_DEPTH),
        "recall_at_1_adapted": at("adapted_rank", 1),
        "recall_at_10_adapted": at("adapted_rank", RECALL_DEPTH),
        "improved": sum(w and not c for c, w in zip(hit_cold, hit_warm, strict=False)),
        "worsened": sum(c and not w for c, w in zip(hit_cold, hit_warm, strict=False)),
        "boosts": sum(r["boosted"] for r in rows),
    }


# entry point -------------------------------------------------------------------------------
def new_run_id() -> str:
    import uuid
    from datetime import datetime

    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def run_lift(
    lakehouse,
    corpora: list[str],
    *,
    queries: Path | str | None = None,
    train: Path | str | None = None,
    test: Path | str | None = None,
    judge: str = "labels",
    top_k: int | None = None,
    out_dir: Path | str | None = None,
    boost: float | None = None,
    min_similarity: float | None = None,
    progress: Progress | None = None,
    adapt: bool = True,
    rerank: bool = True,
) -> tuple[LiftResult, dict[str, str]]:
    """Run the verbatim replay (`queries`) or the paraphrase pass (`train` + `test`) and write the
    reports under `out_dir` (default `LH_HOME/lift/<run id>/`). Files are checked first: a bad file
    stops the run before any search or any playbook is written."""
    if (queries is None) == (train is None and test is None):
        raise LiftError("give either a queries file (verbatim replay) or a train and a test file (paraphrase pass)")
    if queries is not None:
        lines = {"queries": read_queries(queries)}
    elif train is None or test is None:
        raise LiftError("the paraphrase pass needs both a train file and a test file")
    else:
        lines = {"train": read_queries(train), "test": read_queries(test, require_expected=True)}
        check_disjoint(lines["train"], lines["test"])
    run_id = new_run_id()
    out = Path(out_dir) if out_dir is not None else lakehouse.settings.home_dir / "lift" / run_id
    if out_dir is not None:  # the run's work is lost if its reports cannot be written at the end
        check_out_dir(out)
    run = LiftRun(
        lakehouse,
        corpora,
        make_judge(judge, lakehouse),
        out / f"playbooks-{run_id}.jsonl",
        top_k=top_k,
        boost=boost,
        min_similarity=min_similarity,
        progress=progress or PROGRESS.get(),
    )
    if queries is not None:
        result = run.verbatim(lines["queries"])
        result.meta["queries_file"] = str(queries)
    else:
        result = run.paraphrase(lines["train"], lines["test"], adapt=adapt, rerank=rerank)
        result.meta.update(train_file=str(train), test_file=str(test))
    result.meta["run_id"] = run_id
    paths = write_reports(result, out, stem="lift" if queries is not None else "paraphrase")
    return result, paths
