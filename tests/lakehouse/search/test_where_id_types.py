"""The SQL pre-filter (`search --where`, `corpus build --where`) keeps every row it matches whatever
the id column's type (probe B, finding 3): its ids were DuckDB's text (`true`, `0.1`, `...+00`,
`...00.5`) and the corpus's Python's (`True`, `0.10000000149011612`, `...+00:00`, `...00.500000`),
so `--where "1=1"` dropped some or all rows, silently."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.fixtures.cli import invoke_cli

TEXTS = ["alpha nurse", "beta nurse"]
IDS = {
    "tsz": pa.array(
        [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, 12, 30, 0, 250000, tzinfo=UTC)],
        pa.timestamp("us", tz="UTC"),
    ),
    "tsus": pa.array([datetime(2024, 1, 1, 0, 0, 0, 500000), datetime(2024, 1, 2)], pa.timestamp("us")),
    "flag": pa.array([True, False], pa.bool_()),
    "f32": pa.array([0.1, 2.5], pa.float32()),
    "f64": pa.array([0.1, 1 / 3], pa.float64()),
}


@pytest.fixture
def cli(lakehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")  # a real model that loads in under a second
    monkeypatch.chdir(tmp_path)
    return invoke_cli


def _ids(cli, corpus: str, *where: str) -> list[str]:
    args = ["search", "nurse", "--corpus", corpus, "--no-relevance", "--json", *where]
    return sorted(h["id"] for h in json.loads(cli(*args).stdout)["hits"])


@pytest.mark.parametrize("kind", sorted(IDS))
def test_where_keeps_every_matching_row_whatever_the_id_type(cli, lakehouse, kind):
    lakehouse.tables.write_arrow(kind, pa.table({"id": IDS[kind], "text": TEXTS}), mode="overwrite")
    cli("corpus", "build", f"{kind}c", "--table", kind, "--text", "text", "--id-column", "id")
    every = _ids(cli, f"{kind}c")
    assert len(every) == 2
    assert _ids(cli, f"{kind}c", "--where", "1=1") == every
    assert _ids(cli, f"{kind}c", "--where", "text = 'beta nurse'") == [
        i for i in every if i in _ids(cli, f"{kind}c", "--where", "text LIKE 'beta%'")
    ]
    assert len(_ids(cli, f"{kind}c", "--where", "text = 'beta nurse'")) == 1
    out = json.loads(
        cli(
            "corpus",
            "build",
            f"{kind}w",
            "--table",
            kind,
            "--text",
            "text",
            "--id-column",
            "id",
            "--where",
            "1=1",
            "--json",
        ).stdout
    )
    assert out["count"] == 2
    assert _ids(cli, f"{kind}w") == every
