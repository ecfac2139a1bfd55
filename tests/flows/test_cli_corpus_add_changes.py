"""`lakehouse corpus add` after source rows changed or left the table says what it did; it said
"up to date: +0 rows" and kept the old text searchable."""

from __future__ import annotations

import pyarrow as pa

from tests.fixtures.cli import invoke_cli
from tests.fixtures.vectors import jobs_table


def test_corpus_add_reports_changed_and_removed_rows(lakehouse, minilm, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    jobs = jobs_table()
    lakehouse.tables.write_arrow("jobs", jobs, mode="overwrite")
    invoke_cli("corpus", "build", "jobs", "--table", "jobs", "--text", "title,description", "--id-column", "job_id")
    rows = jobs.to_pylist()
    first, second = rows[0]["job_id"], rows[1]["job_id"]
    rows = [row for row in rows if row["job_id"] != second]
    rows[0]["description"] = "Now about underwater basket weaving."
    lakehouse.tables.write_arrow("jobs", pa.Table.from_pylist(rows, schema=jobs.schema), mode="overwrite")

    out = invoke_cli("corpus", "add", "jobs").stdout
    assert (
        f"corpus jobs updated: +0 rows, 1 changed rows embedded again, 1 rows no longer in the source taken out, "
        f"{len(rows)} searchable" in " ".join(out.split())
    )
    assert "up to date" in invoke_cli("corpus", "add", "jobs").stdout
    assert first in invoke_cli("search", "basket weaving", "--corpus", "jobs", "--top", "1", "--json").stdout
