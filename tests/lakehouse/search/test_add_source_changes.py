"""`corpus add` brings a corpus up to date with its source table: a row whose text changed is embedded
again, a row whose metadata alone changed keeps its vector with the new metadata, a row that left
the table is taken out. It used to index only ids it had never seen and said "up to date" while
search answered with the old text. Each change is a generation: rollback gives the old rows back."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from tests.fixtures.vectors import HEALTH_MODEL, health_table

ID = "O*NET-SOC Code"
RENAMED, RETAGGED, REMOVED = "29-1011.00", "29-1021.00", "29-1022.00"


def changed_source(table: pa.Table) -> pa.Table:
    rows = [row for row in table.to_pylist() if row[ID] != REMOVED]
    for row in rows:
        if row[ID] == RENAMED:
            row["Title"], row["Description"] = "Underwater basket weavers", "Weave baskets under water from reeds."
        if row[ID] == RETAGGED:
            row["group"] = "99-9"
    rows.append({ID: "29-9999.00", "Title": "Hospital clowns", "Description": "Cheer up patients.", "group": "29-9"})
    return pa.Table.from_pylist(rows, schema=table.schema)


def test_add_embeds_changed_rows_again_and_takes_out_rows_that_left(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model=HEALTH_MODEL, hnsw_threads=1))
    source = health_table().slice(0, 20)
    lh.tables.write_arrow("health", source, mode="overwrite")
    lh.corpora.build("health", "health", ["Title", "Description"], ID, ["group"])
    built = lh.corpora.get("health")
    before_vector = built.row_vectors([RETAGGED])
    before_texts = built.texts()
    before_hits = [h.id for h in lh.matrix.search("basket weaving under water", ["health"], top_n=5).hits]

    lh.tables.write_arrow("health", changed_source(source), mode="overwrite")
    result = lh.corpora.add("health")

    assert (result.status, result.added, result.count) == ("updated", 1, 20)
    assert result.manifest["changes"] == {"new": 1, "text_changed": 1, "metadata_changed": 1, "gone": 1}
    hits = lh.matrix.search("basket weaving under water", ["health"], top_n=5).hits
    assert hits[0].id == RENAMED and "Underwater basket weavers" in hits[0].text
    current = lh.corpora.get("health")
    assert not current.has(REMOVED) and current.has("29-9999.00")
    assert np.allclose(current.row_vectors([RETAGGED]), before_vector)  # metadata alone: not embedded again
    dentists = lh.matrix.search("dentist", ["health"], top_n=20).hits
    assert [h.metadata["group"] for h in dentists if h.id == RETAGGED] == ["99-9"]
    assert lh.corpora.add("health").status == "up_to_date"

    lh.corpora.forget()  # as another process loads it
    assert lh.corpora.get("health").texts() == current.texts()
    lh.corpora.rollback("health")  # the generation before the add: exactly its rows
    assert lh.corpora.get("health").texts() == before_texts
    assert [h.id for h in lh.matrix.search("basket weaving under water", ["health"], top_n=5).hits] == before_hits
    lh.close()


def test_a_metadata_change_alone_embeds_nothing(tmp_path):
    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model=HEALTH_MODEL, hnsw_threads=1))
    source = health_table().slice(0, 5)
    lh.tables.write_arrow("health", source, mode="overwrite")
    lh.corpora.build("health", "health", ["Title", "Description"], ID, ["group"])
    regrouped = source.set_column(source.schema.get_field_index("group"), "group", pa.array(["29-X"] * 5))
    lh.tables.write_arrow("health", regrouped, mode="overwrite")
    result = lh.corpora.add("health")
    assert result.manifest["changes"] == {"new": 0, "text_changed": 0, "metadata_changed": 5, "gone": 0}
    assert {metadata for _, _, metadata in lh.corpora.get("health").held().values()} == {'{"group": "29-X"}'}
    lh.close()


def test_a_changed_row_loses_its_moved_vector_in_the_adapter(tmp_path):
    """A moved vector was learned from the row's old text: after the text changed it would keep
    scoring the row as the old one. The add's generation has an adapter without it."""
    from lakehouse.search.adapter import Adapter

    lh = Lakehouse(Settings(home=tmp_path / "home", embed_model=HEALTH_MODEL, hnsw_threads=1))
    source = health_table().slice(0, 20)
    lh.tables.write_arrow("health", source, mode="overwrite")
    lh.corpora.build("health", "health", ["Title", "Description"], ID, ["group"])
    loaded = lh.corpora.get("health")
    moved = loaded.row_vectors([RENAMED, RETAGGED])
    adapter = Adapter(np.eye(loaded.dims, dtype=np.float32), [RENAMED, RETAGGED], moved)
    lh.corpora.promote("health", lh.corpora.stage("health", adapter=adapter))
    lh.tables.write_arrow("health", changed_source(source), mode="overwrite")
    lh.corpora.add("health")
    lh.corpora.forget()
    assert lh.corpora.get("health").adapter.ids == [RETAGGED]  # metadata alone: its moved vector stays
    lh.corpora.rollback("health")
    assert lh.corpora.get("health").adapter.ids == [RENAMED, RETAGGED]
    lh.close()
