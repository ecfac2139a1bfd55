"""`lakehouse corpus generations|promote|rollback` and the generation in `corpus show`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.vectors import HEALTH_MODEL, health_table

BUILD = [
    "corpus",
    "build",
    "health",
    "--table",
    "health",
    "--text",
    "Title,Description",
    "--id",
    "O*NET-SOC Code",
    "--meta-cols",
    "group",
    "--model",
    HEALTH_MODEL,
]


@pytest.fixture
def cli(lakehouse, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("health", health_table(), mode="overwrite")
    invoke_cli(*BUILD)
    return invoke_cli


def search_ids(cli) -> list[str]:
    out = json.loads(cli("search", "nurse in an intensive care unit", "--corpus", "health", "--json").stdout)
    return [hit["id"] for hit in out["hits"]]


def test_generations_promote_rollback(cli, lakehouse):
    before = search_ids(cli)
    dims = lakehouse.corpora.manifest("health").dims
    rotation, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((dims, dims)))
    staged = lakehouse.corpora.stage("health", adapter=rotation, adapter_meta={"kind": "rotation"})

    listed = json.loads(cli("corpus", "generations", "health", "--json").stdout)
    assert listed["live"] == 1
    assert [(g["generation"], g["live"], g["adapter"], g["reason"]) for g in listed["generations"]] == [
        (2, False, {"kind": "rotation"}, "adapt"),
        (1, True, None, "build"),
    ]
    table = cli("corpus", "generations", "health").stdout
    assert "generations (live: 1)" in table and "rotation" in table

    assert "promote corpus health: generation 2 is live (was 1)" in cli("corpus", "promote", "health", "2").stdout
    shown = json.loads(cli("corpus", "show", "health", "--json").stdout)
    assert (shown["generation"], shown["adapter"]) == (staged, {"kind": "rotation"})
    assert "generation" in cli("corpus", "show", "health").stdout
    assert search_ids(cli) != before
    assert "already live; nothing changed" in cli("corpus", "promote", "health", "2").stdout

    out = json.loads(cli("corpus", "rollback", "health", "--json").stdout)
    assert (out["action"], out["live"], out["previous"], out["changed"]) == ("rollback", 1, 2, True)
    assert search_ids(cli) == before
    assert "rollback corpus health: generation 2 is live (was 1)" in cli("corpus", "rollback", "health", "2").stdout


def test_generation_errors_exit_1(cli):
    err = cli("corpus", "promote", "health", "7", code=1).stderr
    assert "corpus 'health' has no generation 7; its generations are [1]" in err
    assert "nothing to roll back to" in cli("corpus", "rollback", "health", code=1).stderr
    assert "corpus 'helth' not found; did you mean 'health'" in cli("corpus", "generations", "helth", code=1).stderr
    assert "generation" in cli("corpus", "promote", "--help").stdout
