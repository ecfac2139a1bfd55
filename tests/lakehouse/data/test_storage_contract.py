"""One contract for every ObjectStore backend: the same tests run on file:// and on S3 (moto server)."""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from lakehouse.config import Settings
from lakehouse.data.errors import InvalidPut
from lakehouse.data.storage import (
    InvalidKey,
    ObjectChanged,
    ObjectExists,
    ObjectNotFound,
    ObjectStore,
    ObjectTooLarge,
    StorageError,
    open_store,
)
from lakehouse.data.storage.base import TEMP_MARKER

MB = 1024 * 1024


@pytest.fixture(params=["file", "s3"])
def make_store(request, tmp_path):
    """make_store(**settings_overrides) -> a store; every call in one test opens the same location."""
    if request.param == "file":
        url = (tmp_path / "objects").as_uri()

        def settings_for(**overrides):
            return Settings(home=tmp_path / "home", **overrides)
    else:
        moto = request.getfixturevalue("moto_s3")
        url = moto.new_bucket_url("lake/objects")

        def settings_for(**overrides):
            return moto.settings(tmp_path / "home", objects_url=url, **overrides)

    opened: list[ObjectStore] = []

    def make(**overrides) -> ObjectStore:
        store = open_store(url, settings_for(**overrides))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store) -> ObjectStore:
    return make_store()


class FailingStream(io.RawIOBase):
    """Yields `good` bytes, then fails like a dropped connection."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("source connection dropped")
        size = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= size
        return b"z" * size


class UnreadableStream(io.RawIOBase):
    """Fails the test if anything reads it: a refused PUT must not consume its input."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the store read a stream it should have refused up front")


def temp_files(store: ObjectStore) -> list[str]:
    root = getattr(store, "root", None)
    if root is None:
        return []
    return [name for _, _, files in os.walk(root) for name in files if name.startswith(TEMP_MARKER)]


# round trips ------------------------------------------------------------------------------------


def test_put_get_bytes_and_stat(store):
    stat = store.put("docs/hello.txt", b"hello world")
    assert (stat.key, stat.size) == ("docs/hello.txt", 11)
    assert stat.modified.utcoffset().total_seconds() == 0
    assert store.get("docs/hello.txt") == b"hello world"
    assert store.exists("docs/hello.txt")
    again = store.stat("docs/hello.txt")
    assert (again.key, again.size) == ("docs/hello.txt", 11)


def test_put_streams_with_and_without_length(store):
    store.put("s/known", io.BytesIO(b"abc" * 1000), 3000)
    store.put("s/unknown", io.BytesIO(b"xyz" * 1000))
    store.put("s/empty", b"")
    assert store.get("s/known") == b"abc" * 1000
    assert store.get("s/unknown") == b"xyz" * 1000
    assert store.get("s/empty") == b""
    assert store.stat("s/empty").size == 0


def test_list_by_prefix_is_sorted_string_prefix(store):
    for key in ["b/c", "a/2", "ab", "a/1", "a/sub/3"]:
        store.put(key, key.encode())
    assert store.list() == ["a/1", "a/2", "a/sub/3", "ab", "b/c"]
    assert store.list("a/") == ["a/1", "a/2", "a/sub/3"]
    assert store.list("a") == ["a/1", "a/2", "a/sub/3", "ab"]
    assert store.list("a/s") == ["a/sub/3"]
    assert store.list("zzz") == []
    assert store.list("nothing/here/") == []


def test_overwrite_replaces_value_and_size(store):
    store.put("k", b"first value")
    stat = store.put("k", b"2nd")
    assert stat.size == 3
    assert store.get("k") == b"2nd"
    assert store.stat("k").size == 3
    assert store.list() == ["k"]


def test_delete_then_missing_everywhere(store, tmp_path):
    store.put("t/x", b"1")
    store.put("t/y", b"2")
    store.delete("t/x")
    assert not store.exists("t/x")
    assert store.list() == ["t/y"]
    with pytest.raises(ObjectNotFound, match=r"no object 't/x'"):
        store.get("t/x")
    with pytest.raises(ObjectNotFound, match=r"no object 't/x'"):
        store.stat("t/x")
    with pytest.raises(ObjectNotFound, match=r"no object 't/x'"):
        store.delete("t/x")
    with pytest.raises(ObjectNotFound, match=r"no object 'never'"):
        store.get_file("never", tmp_path / "unused")
    assert not (tmp_path / "unused").exists()


def test_a_key_can_become_a_prefix_and_back(store):
    store.put("a/b", b"child")
    store.delete("a/b")
    store.put("a", b"leaf")
    assert store.list() == ["a"]
    store.delete("a")
    store.put("a/b", b"child again")
    assert store.get("a/b") == b"child again"


def test_prefix_is_not_a_key(store):
    store.put("dir/file", b"x")
    assert not store.exists("dir")
    with pytest.raises(ObjectNotFound, match=r"no object 'dir'"):
        store.get("dir")


def test_put_file_and_get_file_5mb(store, tmp_path):
    payload = os.urandom(5 * MB + 123)
    source = tmp_path / "source.bin"
    source.write_bytes(payload)
    stat = store.put_file("blobs/big.bin", source)
    assert stat.size == len(payload)
    target_dir = tmp_path / "download"
    target_dir.mkdir()
    store.get_file("blobs/big.bin", target_dir / "big.bin")
    assert (target_dir / "big.bin").read_bytes() == payload
    assert sorted(p.name for p in target_dir.iterdir()) == ["big.bin"]  # no temp left behind
    assert store.get("blobs/big.bin") == payload


# key rules --------------------------------------------------------------------------------------

BAD_KEYS = [
    ("", r"invalid key '': empty key"),
    ("../x", r"invalid key '\.\./x': '\.\.' path segment"),
    ("a/../../x", r"invalid key 'a/\.\./\.\./x': '\.\.' path segment"),
    ("/abs", r"invalid key '/abs': leading '/'"),
    ("a//b", r"invalid key 'a//b': empty path segment"),
    ("a\\b", r"invalid key 'a\\\\b': backslash"),
    ("a\x00b", r"invalid key 'a\\x00b': NUL byte"),
    ("trailing/", r"invalid key 'trailing/': empty path segment"),
    ("./x", r"invalid key '\./x': '\.' path segment"),
    ("a\nb", r"invalid key 'a\\nb': control character"),
    (f"a/{TEMP_MARKER}x", r"reserved temp marker"),
    ("x" * 256, r"path segment longer than 255 bytes"),
    ("a/" * 600 + "b", r"longer than 1024 bytes"),
    ("\udc80", r"not encodable as UTF-8"),
]


@pytest.mark.parametrize(("key", "message"), BAD_KEYS, ids=[repr(k)[:20] for k, _ in BAD_KEYS])
def test_bad_keys_refused_before_any_io(store, tmp_path, key, message):
    store.put("keep", b"existing")
    source = tmp_path / "payload"
    source.write_bytes(b"payload")
    with pytest.raises(InvalidKey, match=message):
        store.put(key, b"payload")
    with pytest.raises(InvalidKey, match=message):
        store.put(key, UnreadableStream(), 7)
    with pytest.raises(InvalidKey, match=message):
        store.put_file(key, source)
    for read_op in (store.get, store.exists, store.stat, store.delete):
        with pytest.raises(InvalidKey, match=message):
            read_op(key)
    with pytest.raises(InvalidKey, match=message):
        store.get_file(key, tmp_path / "out")
    assert store.list() == ["keep"]
    assert store.get("keep") == b"existing"
    assert not (tmp_path / "out").exists()
    assert temp_files(store) == []


def test_invalid_key_is_a_value_error(store):
    with pytest.raises(ValueError, match=r"invalid key '\.\./x'"):
        store.get("../x")


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("../", r"invalid list prefix '\.\./': '\.\.' path segment"),
        ("/abs", r"invalid list prefix '/abs': leading '/'"),
        ("a\\", r"invalid list prefix 'a\\\\': backslash"),
        ("a//", r"invalid list prefix 'a//': empty path segment"),
        ("a\x00", r"invalid list prefix 'a\\x00': NUL byte"),
    ],
)
def test_bad_list_prefix_refused(store, prefix, message):
    with pytest.raises(InvalidKey, match=message):
        store.list(prefix)


# caps -------------------------------------------------------------------------------------------


@pytest.fixture
def capped(make_store):
    """(tiny-capped store, normal store) over the same location."""
    return make_store(put_cap_bytes=10, put_cap_vectors_bytes=20), make_store()


def test_put_over_cap_with_known_length_refused_unread(capped, tmp_path):
    tiny, plain = capped
    with pytest.raises(ObjectTooLarge, match=r"PUT 'x' refused: 11 bytes is over the 10-byte cap"):
        tiny.put("x", b"y" * 11)
    with pytest.raises(ObjectTooLarge, match=r"PUT 'x' refused: 11 bytes is over the 10-byte cap"):
        tiny.put("x", UnreadableStream(), 11)
    source = tmp_path / "eleven"
    source.write_bytes(b"y" * 11)
    with pytest.raises(ObjectTooLarge, match=r"PUT 'x' refused: 11 bytes is over the 10-byte cap"):
        tiny.put_file("x", source)
    assert plain.list() == []
    assert temp_files(plain) == []


def test_put_over_cap_of_unknown_length_stores_nothing(capped):
    tiny, plain = capped
    with pytest.raises(ObjectTooLarge, match=r"PUT 'x' refused: the stream is over the 10-byte cap"):
        tiny.put("x", io.BytesIO(b"y" * 11))
    assert plain.list() == []
    assert temp_files(plain) == []


def test_vectors_prefix_has_its_own_cap(capped):
    tiny, plain = capped
    tiny.put("_vectors/idx", b"v" * 20)
    tiny.put("exactly", b"e" * 10)
    with pytest.raises(ObjectTooLarge, match=r"PUT '_vectors/idx' refused: 21 bytes is over the 20-byte cap"):
        tiny.put("_vectors/idx", b"v" * 21)
    with pytest.raises(ObjectTooLarge, match=r"over the 10-byte cap"):
        tiny.put("vectors/not-the-prefix", b"v" * 11)
    assert plain.list() == ["_vectors/idx", "exactly"]
    assert plain.get("_vectors/idx") == b"v" * 20  # the refused overwrite left the old value


# atomicity --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64 * 1024, 11 * MB], ids=["single-part", "multipart"])
def test_stream_failing_midway_keeps_old_value(store, size):
    store.put("obj", b"old value")
    with pytest.raises(ConnectionResetError, match="source connection dropped"):
        store.put("obj", FailingStream(good=size // 2), size)
    assert store.get("obj") == b"old value"
    assert store.list() == ["obj"]
    assert temp_files(store) == []


def test_short_stream_is_an_error_and_keeps_old_value(store):
    store.put("obj", b"old value")
    with pytest.raises(StorageError, match=r"PUT 'obj' failed: the stream ended after 50 of 100 bytes"):
        store.put("obj", io.BytesIO(b"s" * 50), 100)
    assert store.get("obj") == b"old value"
    assert temp_files(store) == []


def _race(writes: list) -> tuple[list, list]:
    """Run the writes at once (a barrier lines them up); (what the winners returned, what the
    others raised)."""
    barrier = threading.Barrier(len(writes))

    def run(write) -> object:
        barrier.wait()
        try:
            return write()
        except BaseException as exc:  # returned: the caller's assertions say which writer got what
            return exc

    with ThreadPoolExecutor(len(writes)) as pool:
        outcomes = list(pool.map(run, writes))
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    return [o for o in outcomes if not isinstance(o, BaseException)], refused


def test_concurrent_puts_to_one_key_leave_one_complete_value(store):
    values = [bytes([ord("a") + i]) * (256 * 1024 + i) for i in range(6)]
    won, failed = _race([lambda v=v: store.put("shared", v) and v for v in values])
    assert failed == [] and len(won) == len(values)
    assert store.get("shared") in values
    assert store.stat("shared").size == len(store.get("shared"))
    assert store.list() == ["shared"]
    assert temp_files(store) == []


def test_create_stores_once_and_refuses_a_taken_key(store):
    assert store.create("claims/000002.json", b"first").size == 5
    with pytest.raises(ObjectExists, match=r"CREATE 'claims/000002.json' refused: another writer created it first"):
        store.create("claims/000002.json", b"second")
    assert store.get("claims/000002.json") == b"first"
    store.put("claims/000002.json", b"put replaces")  # a plain put still overwrites
    with pytest.raises(ObjectExists):
        store.create("claims/000002.json", b"third")
    assert store.get("claims/000002.json") == b"put replaces"
    assert store.list() == ["claims/000002.json"]
    assert temp_files(store) == []


CONDITIONAL_WRITES = {
    "CREATE": lambda store, key, data: store.create(key, data),
    "REPLACE": lambda store, key, data: store.replace(key, data, "any-version"),
}


@pytest.mark.parametrize("verb", list(CONDITIONAL_WRITES))
def test_conditional_writes_check_like_put(capped, verb):
    tiny, plain = capped
    write = CONDITIONAL_WRITES[verb]
    with pytest.raises(InvalidKey, match=r"invalid key 'a//b'"):
        write(tiny, "a//b", b"x")
    with pytest.raises(ObjectTooLarge, match=rf"{verb} 'big' refused: 11 bytes is over the 10-byte cap"):
        write(tiny, "big", b"x" * 11)
    with pytest.raises(InvalidPut, match=rf"{verb} 'text': data must be bytes, got str"):
        write(tiny, "text", "not bytes")
    assert plain.list() == []


@pytest.mark.parametrize("version", ["", '"abc"\r\nX-Amz-Acl: public-read', 7], ids=["empty", "header", "int"])
def test_replace_refuses_a_version_it_did_not_hand_out(store, version):
    store.put("manifest.json", b"generation 1")
    with pytest.raises(InvalidPut, match=r"REPLACE 'manifest.json': the version must be what read_versioned returned"):
        store.replace("manifest.json", b"generation 2", version)
    assert store.get("manifest.json") == b"generation 1"
    assert temp_files(store) == []


def test_concurrent_creates_of_one_key_have_one_winner(store):
    values = [bytes([ord("a") + i]) * 4096 for i in range(6)]
    won, refused = _race([lambda v=v: store.create("claim", v) and v for v in values])
    assert len(won) == 1 and store.get("claim") == won[0]
    assert len(refused) == len(values) - 1 and all(isinstance(e, ObjectExists) for e in refused)
    assert temp_files(store) == []


def test_replace_swaps_only_the_version_it_read(store):
    key = "corpus/manifest.json"
    with pytest.raises(ObjectNotFound):
        store.read_versioned(key)
    store.put(key, b"generation 1")
    data, version = store.read_versioned(key)
    assert data == b"generation 1"
    assert store.replace(key, b"generation 2", version).size == 12
    stale = r"REPLACE 'corpus/manifest.json' refused: another writer changed or removed it since it was read"
    with pytest.raises(ObjectChanged, match=stale):
        store.replace(key, b"generation 2 again", version)
    assert store.get(key) == b"generation 2"
    data, newer = store.read_versioned(key)
    assert data == b"generation 2" and newer != version
    store.put(key, b"a plain put")  # any write moves the version on
    with pytest.raises(ObjectChanged, match=stale):
        store.replace(key, b"generation 3", newer)
    _, latest = store.read_versioned(key)
    store.delete(key)
    with pytest.raises(ObjectChanged, match=stale):
        store.replace(key, b"generation 3", latest)  # a removed key is not brought back
    assert store.list() == [] and temp_files(store) == []


def test_concurrent_replaces_of_one_version_have_one_winner(store):
    store.put("manifest.json", b"generation 1")
    _, version = store.read_versioned("manifest.json")
    values = [b"generation 2 by writer %d" % i for i in range(6)]
    won, refused = _race([lambda v=v: store.replace("manifest.json", v, version) and v for v in values])
    assert len(won) == 1 and store.get("manifest.json") == won[0]
    assert len(refused) == len(values) - 1 and all(isinstance(e, ObjectChanged) for e in refused)
    assert temp_files(store) == []


# properties -------------------------------------------------------------------------------------

segment = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=12
).filter(lambda s: s not in (".", "..") and not s.startswith(TEMP_MARKER))
valid_key = st.lists(segment, min_size=1, max_size=4).map("/".join)


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=valid_key, data=st.binary(max_size=2048))
def test_round_trip_any_valid_key_and_bytes(store, key, data):
    store.put(key, data)
    assert store.get(key) == data
    assert store.stat(key).size == len(data)
    assert key in store.list(key)
    store.delete(key)
    assert not store.exists(key)
