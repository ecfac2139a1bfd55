"""`lift.run`: the playbook-lift quality test (verbatim replay or paraphrase pass) as a mode.

Paths follow `ingest`: from the CLI (a trusted caller) any file, relative paths from the working
directory; otherwise relative paths are under LH_HOME and every path (the query files and
`out_dir`) must lie under an allowed root (LH_HOME, LH_HOME/inbox, `allowed_roots`). Each run records into
its own fresh playbook store under its output directory; the lakehouse's playbooks are untouched.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lakehouse.learning.lift.harness import run_lift
from modes.context import ModeContext
from modes.registry import mode


class LiftRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corpora: list[str] = Field(min_length=1)
    queries_path: str | None = Field(default=None, description="JSONL of {query, expected?}: verbatim replay")
    train_path: str | None = Field(default=None, description="paraphrase pass: queries whose picks are recorded")
    test_path: str | None = Field(default=None, description="paraphrase pass: labelled queries never recorded")
    judge: str = Field(default="labels", description="`labels` or a model (tier or provider/model) with a rubric")
    top_k: int | None = Field(default=None, ge=1, le=1000, description="the judge picks among this many cold hits")
    out_dir: str | None = Field(default=None, description="where the reports go (default LH_HOME/lift/<run id>)")
    boost: float | None = Field(
        default=None, gt=0, le=5, description="the playbook vote's weight for this run (default 1.5)"
    )
    min_similarity: float | None = Field(
        default=None, ge=-1, lt=1, description="recorded queries less similar than this never vote (default 0.3)"
    )
    adapt: bool = Field(
        default=True, description="paraphrase pass: also train an adapter on the run's own train entries and measure it"
    )
    rerank: bool = Field(
        default=True, description="the adapted pass also trains the reranker (kept only when it helps)"
    )

    @model_validator(mode="after")
    def _one_form(self):
        paraphrase = self.train_path is not None or self.test_path is not None
        if (self.queries_path is not None) == paraphrase:
            raise ValueError(
                "give field 'queries_path' (verbatim replay)"
                " or field 'train_path' and field 'test_path' (paraphrase pass)"
            )
        if paraphrase and (self.train_path is None or self.test_path is None):
            raise ValueError("the paraphrase pass needs both field 'train_path' and field 'test_path'")
        return self


class LiftRunOut(BaseModel):
    kind: Literal["verbatim", "paraphrase"]
    report: dict[str, Any]
    meta: dict[str, Any]
    paths: dict[str, str]


@mode("lift.run")
def lift_run(inp: LiftRunIn, ctx: ModeContext) -> LiftRunOut:
    """Cold pass, judge, record playbooks, warm pass: how much do recorded judgements lift search?"""

    def checked(value: str | None, field: str, for_write: bool = False) -> str | None:
        return None if value is None else str(ctx.path(value, field=field, for_write=for_write, cwd_relative=True))

    # every path is checked before any file is read or any search runs
    queries, train, test = (
        checked(inp.queries_path, "queries_path"),
        checked(inp.train_path, "train_path"),
        checked(inp.test_path, "test_path"),
    )
    out_dir = checked(inp.out_dir, "out_dir", for_write=True)
    result, paths = run_lift(
        ctx.lakehouse,
        inp.corpora,
        queries=queries,
        train=train,
        test=test,
        judge=inp.judge,
        top_k=inp.top_k,
        out_dir=out_dir,
        boost=inp.boost,
        min_similarity=inp.min_similarity,
        adapt=inp.adapt,
        rerank=inp.rerank,
    )
    meta = {k: v for k, v in result.meta.items() if k != "train"}  # per-query picks stay in the files
    return LiftRunOut(kind=result.kind, report=result.report, meta=meta, paths=paths)
