"""A corpus manifest written by a later release, read by this one (a downgrade after a bad upgrade):
a field the later release added to the manifest's `source` made the whole corpus unreadable, so every
corpus command failed, `corpus list` too (the 2026-12-03 release on a corpus written after its
`source.title_col` came: "unreadable corpus manifest (TypeError: SourceSpec.__init__() got an
unexpected keyword argument 'title_col')"). Fields it does not know are ignored, as the manifest's
own top-level fields already were."""

from __future__ import annotations

import json

from lakehouse.search.vectors.manifest import Manifest, SourceSpec


def test_a_source_field_of_a_later_release_is_ignored():
    source = {"table": "jobs", "id_col": "id", "text_cols": ["title"], "metadata_cols": [], "where": None}
    later = {"name": "jobs", "model": "minilm", "dims": 384, "params": {}, "corpus_table": "corpus_jobs"}
    later |= {"corpus_snapshot_id": 7, "count": 2, "next_label": 2, "version": 1, "index_key": "_vectors/jobs/i"}
    later |= {"source": source | {"tokenizer": "v9"}, "sharding": {"shards": 4}}

    manifest = Manifest.from_json(json.dumps(later).encode(), "_vectors/jobs/manifest.json")

    assert manifest.source == SourceSpec(**source)
    assert manifest.name == "jobs" and manifest.dims == 384
