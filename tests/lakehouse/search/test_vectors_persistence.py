"""Persistence round trip: build here, then search and add in a NEW Python process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fixtures.vectors import jobs_table, stored_files

QUERIES = [
    "forklift operator night shift",
    "registered nurse intensive care",
    "stainless steel welding",
    "react web developer",
]

CHILD = textwrap.dedent(
    """
    import json, sys
    import pyarrow as pa
    from lakehouse.core import Lakehouse

    queries = json.loads(sys.argv[1])
    lh = Lakehouse()
    corpus = lh.corpora.get("jobs")  # loaded from the object store and the corpus table
    vectors = lh.corpora.embedder().embed(queries)
    before = [[h.id for h in hits] for hits in corpus.search(vectors, 5)]
    new = pa.table({"job_id": ["J-990"], "title": ["Glassblower"],
                    "description": ["Shape molten glass into vases and art pieces with a blowpipe."],
                    "city": ["Evanston"], "state": ["IL"], "shift": ["day"]})
    lh.tables.write_arrow("jobs", new, mode="append")
    added = lh.corpora.add("jobs")
    probe = lh.corpora.embedder().embed(["artisan who blows molten glass"])
    after = [h.id for h in lh.corpora.get("jobs").search(probe, 1)[0]]
    print(json.dumps({"before": before, "added": added.added, "count": added.count, "after": after}))
    lh.close()
    """
)


def test_search_gives_the_same_ids_after_a_restart_and_add_works(lakehouse, minilm, tmp_path):
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.corpora.build("jobs", "jobs", ["title", "description"], "job_id", ["state"])
    lakehouse.corpora.delete("jobs", ["J-113"])  # deletions must survive the restart too
    vectors = lakehouse.corpora.embedder().embed(QUERIES)
    expected = [[h.id for h in hits] for hits in lakehouse.corpora.get("jobs").search(vectors, 5)]
    lakehouse.close()

    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, LH_HOME=str(lakehouse.settings.home_dir), HF_HUB_OFFLINE="1")
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(QUERIES)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    child = json.loads(done.stdout.strip().splitlines()[-1])
    assert child["before"] == expected
    assert all("J-113" not in ids for ids in child["before"])
    assert (child["added"], child["count"], child["after"]) == (1, 16, ["J-990"])

    # ...and this process sees the child's add once it reloads from storage.
    lakehouse.corpora.forget("jobs")
    assert lakehouse.corpora.get("jobs").has("J-990") and lakehouse.corpora.show("jobs")["version"] == 3


def test_index_files_live_in_an_s3_store_and_reload_from_it(moto_s3, minilm, tmp_path):
    from lakehouse.core import Lakehouse

    lh = Lakehouse(moto_s3.settings(tmp_path / "s3-home", objects_url=moto_s3.new_bucket_url("lake")))
    lh.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lh.corpora.build("jobs", "jobs", ["title", "description"], "job_id", ["state"])
    assert lh.store.url.startswith("s3://")
    assert stored_files(lh, "_vectors/jobs/") == [
        "_vectors/jobs/generations/000001.json",
        "_vectors/jobs/index-000001.hnsw",
        "_vectors/jobs/manifest.json",
    ]
    vectors = lh.corpora.embedder().embed(QUERIES)
    expected = [[h.id for h in hits] for hits in lh.corpora.get("jobs").search(vectors, 5)]
    lh.corpora.forget()
    assert [[h.id for h in hits] for hits in lh.corpora.get("jobs").search(vectors, 5)] == expected
    lh.close()
