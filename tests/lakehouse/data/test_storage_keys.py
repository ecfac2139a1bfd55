"""Key rules, caps by prefix and backend choice: the parts of the store that need no backend."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.storage import (
    InvalidKey,
    PutCaps,
    StorageError,
    check_key,
    open_store,
)
from lakehouse.data.storage.base import TEMP_MARKER, check_prefix
from lakehouse.data.storage.local import LocalStore


@given(st.text(max_size=40))
def test_check_key_accepts_or_raises_invalid_key_only(text):
    try:
        assert check_key(text) == text
    except InvalidKey as exc:
        assert repr(text) in str(exc)  # the message names the key


@given(st.text(), st.sampled_from(["\x00", "\\", "//", "/../", "\x7f"]), st.text())
def test_forbidden_fragments_are_always_refused(head, fragment, tail):
    with pytest.raises(InvalidKey):
        check_key(f"x{head}{fragment}{tail}x")


@given(
    st.lists(st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=8), min_size=1, max_size=5)
)
def test_plain_segments_joined_by_slash_are_valid(segments):
    key = "/".join(segments)
    assert check_key(key) == key
    assert check_prefix(key + "/") == key + "/"


def test_non_string_key():
    with pytest.raises(InvalidKey, match=r"invalid key b'x': must be a string, got bytes"):
        check_key(b"x")


def test_temp_marker_is_only_reserved_at_segment_start():
    assert check_key(f"a/b{TEMP_MARKER}") == f"a/b{TEMP_MARKER}"


def test_caps_by_prefix():
    caps = PutCaps(default=1, vectors=2)
    assert caps.for_key("_vectors/occupations/index.bin") == 2
    assert caps.for_key("_vectors_not/x") == 1
    assert caps.for_key("tables/x") == 1


def test_default_caps_come_from_settings(tmp_path):
    store = open_store((tmp_path / "o").as_uri(), Settings(home=tmp_path))
    assert store.caps == PutCaps(default=256 * 1024**2, vectors=4 * 1024**3)


@pytest.mark.parametrize("url", ["gs://bucket/x", "/plain/path", "http://host/x"])
def test_unknown_scheme_lists_supported_ones(tmp_path, url):
    with pytest.raises(StorageError, match=r"unsupported object store URL .*supported: file://, s3://"):
        open_store(url, Settings(home=tmp_path))


def test_lakehouse_store_defaults_to_files_under_home(lakehouse, lh_home):
    store = lakehouse.store
    assert isinstance(store, LocalStore)
    assert store.root == (lh_home / "objects").resolve()
    assert store.url == (lh_home / "objects").resolve().as_uri()
    store.put("hello", b"world")
    assert (lh_home / "objects" / "hello").read_bytes() == b"world"
    assert lakehouse.store is store


def test_lakehouse_store_on_s3_from_environment(moto_s3, monkeypatch, lh_home):
    url = moto_s3.new_bucket_url("lh")
    for name, value in {**moto_s3.env(), "LH_OBJECTS_URL": url}.items():
        monkeypatch.setenv(name, value)
    lh = Lakehouse(Settings())
    try:
        lh.store.put("k", b"v")
        assert lh.store.url == url
        assert lh.store.get("k") == b"v"
    finally:
        lh.close()
