"""`corpus.adapt`: learn a query adapter from a corpus's recorded matches, behind the lift gate.

The adapter becomes a new generation of the corpus; it is made live only when it beats the live
generation on the held-back matches (`lakehouse/learning/adapt.py`). The output says which gate
rule passed or failed, with the figures, and names the staged generation either way.
"""

from __future__ import annotations

from contextvars import ContextVar

from pydantic import BaseModel, ConfigDict, Field, RootModel

from lakehouse.common.progress import Progress
from lakehouse.learning.adapt import AdaptReport, adapt_corpus
from modes.context import ModeContext
from modes.registry import mode

# A caller that runs `corpus.adapt` through `invoke_mode` (the CLI) reports progress through this.
PROGRESS: ContextVar[Progress | None] = ContextVar("lakehouse_adapt_progress", default=None)


class AdaptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corpus: str = Field(min_length=1, description="the corpus whose recorded matches are learned from")
    holdout: float = Field(
        default=0.2, gt=0, lt=1, allow_inf_nan=False, description="share of the recorded queries held back for the gate"
    )
    seed: int = Field(default=0, ge=0, description="seeds the split and the training")
    promote: bool = Field(default=True, description="make the adapter live when it passes the gate")
    rerank: bool = Field(
        default=True, description="also train the reranker of the corpus's best hits (kept only when it helps)"
    )


class AdaptOut(RootModel[AdaptReport]):
    """`lakehouse.learning.adapt.AdaptReport` as a mode output: the gate's figures, rules and decision."""


@mode("corpus.adapt")
def corpus_adapt(inp: AdaptIn, ctx: ModeContext) -> AdaptOut:
    """Train a query adapter on the corpus's recorded matches; promote it only if it wins on the held-back ones."""
    report = adapt_corpus(
        ctx.lakehouse,
        inp.corpus,
        holdout=inp.holdout,
        seed=inp.seed,
        promote=inp.promote,
        rerank=inp.rerank,
        progress=PROGRESS.get(),
    )
    return AdaptOut(report)
