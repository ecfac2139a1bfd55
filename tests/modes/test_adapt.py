"""`corpus.adapt` called directly: its input model, the errors it passes on (one audit row each),
and a refused adaptation's output."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.learning.errors import AdaptError
from lakehouse.search.errors import CorpusNotFound
from modes.context import ModeContext
from modes.invoke import invoke_mode
from tests.fixtures.adapt import entries, onet_lakehouse, titles


@pytest.mark.parametrize(
    "payload, message",
    [
        ({}, "corpus"),
        ({"corpus": "onet", "holdout": 0}, "holdout"),
        ({"corpus": "onet", "holdout": 1}, "holdout"),
        ({"corpus": "onet", "epochs": 3}, "epochs"),
    ],
)
def test_bad_inputs_are_refused(tmp_path, payload, message):
    ctx = ModeContext.standalone(Lakehouse(Settings(home=tmp_path)))
    with pytest.raises(ValidationError, match=message):
        invoke_mode("corpus.adapt", payload, ctx)


def test_errors_and_a_refused_adaptation(tmp_path, monkeypatch):
    import lakehouse.learning.adapt as adapt_module

    monkeypatch.setattr(adapt_module, "EPOCHS", 30)  # quick: the answers are wrong anyway
    lh = onet_lakehouse(tmp_path / "home")
    ctx = ModeContext.standalone(lh)
    with pytest.raises(CorpusNotFound, match="nope"):
        invoke_mode("corpus.adapt", {"corpus": "nope"}, ctx)
    with pytest.raises(AdaptError, match="has 0 recorded matches; adapt needs at least 20"):
        invoke_mode("corpus.adapt", {"corpus": "onet"}, ctx)
    lh.playbooks.record_many(entries(titles("titles_train", 200), shuffled=True))
    out = invoke_mode("corpus.adapt", {"corpus": "onet", "promote": True}, ctx)
    assert not out["passed"] and not out["promoted"] and out["live_after"] == out["live_before"]
    assert out["decision"].startswith("refused") and [r["rule"] for r in out["rules"]] == [
        "recall@1 improves",
        "recall@10 does not drop by more than 0.01",
        "the top-1 gain is not chance (McNemar p < 0.05)",
    ]
    ops = [op["status"] for op in lh.observer.ops() if op["mode"] == "corpus.adapt"]
    assert ops == ["failed", "failed", "completed"]
    lh.close()
