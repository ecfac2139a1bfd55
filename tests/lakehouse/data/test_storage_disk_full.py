"""A `file://` object store out of space: a corpus rebuild or an adapt ended with a bare
"OSError: [Errno 28] No space left on device", naming neither the object nor the folder."""

from __future__ import annotations

import pytest

from lakehouse.config import Settings
from lakehouse.data.errors import StorageWriteFailed
from lakehouse.data.storage import open_store
from tests.fixtures.small_disk import SmallDisk


def test_a_put_out_of_space_names_the_key_and_the_folder_and_keeps_the_old_value(small_disk: SmallDisk):
    store = open_store((small_disk.path / "objects").as_uri(), Settings(home=small_disk.path / "home"))
    store.put("_vectors/c/index.hnsw", b"old")
    small_disk.fill(0)

    with pytest.raises(
        StorageWriteFailed,
        match=rf"^no space left on device while writing object '_vectors/c/index\.hnsw' under "
        rf"{small_disk.path}/objects/_vectors/c: nothing was written; free space there, then try again$",
    ):
        store.put("_vectors/c/index.hnsw", b"x" * (1 << 20))

    assert store.get("_vectors/c/index.hnsw") == b"old"
    assert sorted(p.name for p in (small_disk.path / "objects" / "_vectors" / "c").iterdir()) == ["index.hnsw"]
