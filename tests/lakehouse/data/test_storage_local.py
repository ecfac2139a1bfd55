"""What only the file:// backend can get wrong: temp files, symlink escapes, URL paths, dir clashes."""

from __future__ import annotations

import io
import os
import time
from typing import cast

import pytest

from lakehouse.config import Settings
from lakehouse.data.storage import InvalidKey, ObjectChanged, StorageError, open_store
from lakehouse.data.storage.base import TEMP_MARKER
from lakehouse.data.storage.local import LocalStore


@pytest.fixture
def store(tmp_path) -> LocalStore:
    # a file:// URL opens the local backend
    return cast(LocalStore, open_store((tmp_path / "objects").as_uri(), Settings(home=tmp_path / "home")))


def all_files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def test_put_is_temp_then_rename_and_no_partial_value_is_ever_visible(store):
    """Watch the target while a slow stream is written: only the old value may ever be there."""
    store.put("t/obj", b"old")
    seen: list[bytes] = []

    class Watching(io.RawIOBase):
        chunks = [b"n" * 1000] * 5

        def readable(self):
            return True

        def read(self, size=-1):
            seen.append((store.root / "t" / "obj").read_bytes())
            temps = [n for n in os.listdir(store.root / "t") if n.startswith(TEMP_MARKER)]
            assert len(temps) == 1  # the in-flight value lives beside the target
            assert store.list("t/") == ["t/obj"]  # and is never listed
            return self.chunks.pop() if self.chunks else b""

    store.put("t/obj", Watching())
    assert set(seen) == {b"old"}
    assert store.get("t/obj") == b"n" * 5000
    assert all_files(store.root) == ["t/obj"]


def test_failed_put_of_a_new_key_leaves_no_file(store):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def read(self, size=-1):
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        store.put("new/key", Broken())
    assert store.list() == []
    assert all_files(store.root) == []
    store.put("new", b"the failed put left no directory in the way")
    assert store.list() == ["new"]


def test_stray_temp_files_are_not_listed(store):
    store.put("d/real", b"1")
    (store.root / "d" / f"{TEMP_MARKER}abc").write_bytes(b"half written")
    assert store.list() == ["d/real"]


def test_a_replace_over_a_planted_fifo_is_refused_without_waiting_for_a_writer(store):
    store.put("corpus/manifest.json", b"generation 1")
    _, version = store.read_versioned("corpus/manifest.json")
    fifo = store.root / "corpus" / "manifest.json"
    fifo.unlink()
    os.mkfifo(fifo)  # opening a FIFO to read blocks until a writer comes, unless told not to
    with pytest.raises(ObjectChanged, match="REPLACE 'corpus/manifest.json' refused"):
        store.replace("corpus/manifest.json", b"generation 2", version)
    assert fifo.is_fifo() and all_files(store.root) == ["corpus/manifest.json"]


def test_a_filesystem_without_flock_is_named_and_the_value_kept(store, monkeypatch):
    import errno
    import fcntl

    store.put("corpus/manifest.json", b"generation 1")
    _, version = store.read_versioned("corpus/manifest.json")

    def no_flock(fd, operation):
        raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))

    monkeypatch.setattr(fcntl, "flock", no_flock)  # as on a FUSE mount that has none
    with pytest.raises(
        StorageError,
        match=r"REPLACE 'corpus/manifest.json' failed: cannot lock .*manifest.json \(Operation not supported\); "
        "a file:// store needs a filesystem with flock",
    ):
        store.replace("corpus/manifest.json", b"generation 2", version)
    assert store.get("corpus/manifest.json") == b"generation 1"
    assert all_files(store.root) == ["corpus/manifest.json"]


def test_sweep_takes_only_old_temp_files(store):
    store.put("d/real", b"1")
    old, young = store.root / "d" / f"{TEMP_MARKER}old", store.root / f"{TEMP_MARKER}young"
    old.write_bytes(b"killed upload")
    young.write_bytes(b"in flight")
    os.utime(old, (0, 0))
    (store.root / "d" / "notes.lhtmp").write_bytes(b"not a temp file")
    os.utime(store.root / "d" / "notes.lhtmp", (0, 0))

    assert [path for path, _, _ in store.sweep_temp_files(3600, dry_run=True).removed] == [old.as_uri()]
    assert old.exists()
    swept = store.sweep_temp_files(3600)
    assert swept.removed == [(old.as_uri(), 13, pytest.approx(time.time(), abs=60))] and swept.errors == []  # mtime 0
    assert all_files(store.root) == [f"{TEMP_MARKER}young", "d/notes.lhtmp", "d/real"]


def test_symlink_escape_is_refused_for_every_operation(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not read")
    os.symlink(outside, store.root / "link")
    message = r"invalid key 'link/secret': resolves outside the store root"
    with pytest.raises(InvalidKey, match=message):
        store.get("link/secret")
    with pytest.raises(InvalidKey, match=message):
        store.put("link/secret", b"overwrite")
    with pytest.raises(InvalidKey, match=message):
        store.delete("link/secret")
    with pytest.raises(InvalidKey, match=r"invalid list prefix 'link/': resolves outside the store root"):
        store.list("link/")
    assert (outside / "secret").read_bytes() == b"do not read"
    assert os.listdir(outside) == ["secret"]


def test_symlink_inside_the_root_is_followed(store):
    store.put("real/value", b"v")
    os.symlink(store.root / "real", store.root / "alias")
    assert store.get("alias/value") == b"v"


def test_key_under_an_existing_object_is_a_clear_error(store):
    store.put("a", b"leaf")
    with pytest.raises(StorageError, match=r"PUT 'a/b' failed: a parent of it is an existing object"):
        store.put("a/b", b"child")
    store.delete("a")
    store.put("x/y", b"child")
    with pytest.raises(StorageError, match=r"PUT 'x' failed: it is a directory holding other keys"):
        store.put("x", b"leaf")
    assert store.list() == ["x/y"]


def test_files_that_are_not_valid_keys_are_not_objects(store):
    (store.root / "back\\slash").write_bytes(b"made by hand")
    store.put("ok", b"1")
    assert store.list() == ["ok"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file://somehost/data", r"names host 'somehost'; use file:///absolute/path"),
        ("file:relative/dir", r"needs an absolute path"),
    ],
)
def test_bad_file_urls(tmp_path, url, message):
    with pytest.raises(StorageError, match=message):
        open_store(url, Settings(home=tmp_path))


def test_percent_encoded_root_path(tmp_path):
    root = tmp_path / "with space"
    store = open_store(root.as_uri(), Settings(home=tmp_path))
    store.put("k", b"v")
    assert (root / "k").read_bytes() == b"v"
