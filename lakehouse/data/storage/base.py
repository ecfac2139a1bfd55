"""The `ObjectStore` contract shared by every backend: errors, key rules, PUT caps.

Backends implement a handful of primitives (`_write`, `_create`, `_replace`, `_reader`,
`_read_versioned`, `_stat`, `_delete`, `_list`); everything a caller can get wrong (a bad key, an
object over its cap, a short stream) is checked here once, before any backend I/O, so both backends
refuse exactly the same things.
"""

from __future__ import annotations

import builtins
import io
import os
import tempfile
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from lakehouse.data.errors import (
    InvalidKey,
    InvalidPut,
    ObjectChanged,
    ObjectExists,
    ObjectNotFound,
    ObjectTooLarge,
    StorageError,
)

CHUNK = 1024 * 1024
MAX_KEY_BYTES = 1024  # S3's limit, applied to both backends so keys stay portable
MAX_SEGMENT_BYTES = 255  # NAME_MAX of common filesystems
TEMP_MARKER = ".lhtmp-"  # prefix of in-flight files; reserved so they never look like keys
VECTORS_PREFIX = "_vectors/"


@dataclass(frozen=True)
class ObjectStat:
    key: str
    size: int
    modified: datetime  # timezone-aware, UTC


@dataclass
class Sweep:
    """What `sweep_temp_files` removed (with dry_run: would remove), as (location, bytes, age in s),
    and each leftover it could not remove, with why; one failure does not stop the others."""

    removed: list[tuple[str, int, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PutCaps:
    """Largest object a PUT may store: vector index files may be big, everything else less so."""

    default: int
    vectors: int

    def for_key(self, key: str) -> int:
        return self.vectors if key.startswith(VECTORS_PREFIX) else self.default


def _segment_problem(segment: str) -> str | None:
    if segment == "":
        return "empty path segment (e.g. 'a//b', or a trailing '/')"
    if segment in (".", ".."):
        return f"'{segment}' path segment"
    if segment.startswith(TEMP_MARKER):
        return f"segment starting with the reserved temp marker '{TEMP_MARKER}'"
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
        return f"path segment longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL byte"
    if "\\" in text:
        return "backslash (use '/' to separate segments)"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return "control character"
    if text.startswith("/"):
        return "leading '/' (keys are relative to the store)"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "not encodable as UTF-8"
    if size > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    return None


def check_key(key: str) -> str:
    """Return `key` unchanged if it is a valid object key, else raise `InvalidKey` naming the rule."""
    if not isinstance(key, str):
        raise InvalidKey(f"invalid key {key!r}: must be a string, got {type(key).__name__}")
    if key == "":
        raise InvalidKey("invalid key '': empty key")
    problem = _text_problem(key)
    if problem is None:
        problem = next(filter(None, map(_segment_problem, key.split("/"))), None)
    if problem is not None:
        raise InvalidKey(f"invalid key {key!r}: {problem}")
    return key


def check_prefix(prefix: str) -> str:
    """A list prefix follows the key rules, except that it may be empty, partial or end in '/'."""
    if prefix == "":
        return prefix
    problem = _text_problem(prefix)
    if problem is None:
        segments = prefix.split("/")
        if segments[-1] == "":
            segments.pop()  # 'a/' names everything under a
        problem = next(filter(None, map(_segment_problem, segments)), None)
    if problem is not None:
        raise InvalidKey(f"invalid list prefix {prefix!r}: {problem}")
    return prefix


def refused(verb: str, key: str) -> StorageError:
    """Why a conditional write stored nothing, in the same words on every backend: a CREATE of a
    taken key, or a REPLACE of a version that is no longer there."""
    if verb == "CREATE":
        return ObjectExists(f"CREATE {key!r} refused: another writer created it first")
    return ObjectChanged(f"REPLACE {key!r} refused: another writer changed or removed it since it was read")


class Readable(Protocol):
    """The part of a binary stream a store reads from: files, spools, HTTP responses."""

    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


def copy_stream(src: Readable, dst: Writable, *, key: str, length: int | None, cap: int) -> int:
    """Copy `src` to `dst`: exactly `length` bytes, or (length unknown) at most `cap` bytes.

    Raises `ObjectTooLarge` as soon as an unknown-length stream passes the cap and `StorageError`
    if a stream ends before its announced length; the caller discards `dst` in both cases.
    """
    limit = cap if length is None else length
    copied = 0
    while copied < limit:
        chunk = src.read(min(CHUNK, limit - copied))
        if not chunk:
            break
        dst.write(chunk)
        copied += len(chunk)
    if length is None:
        if src.read(1):
            raise ObjectTooLarge(f"PUT {key!r} refused: the stream is over the {cap}-byte cap")
    elif copied < length:
        raise StorageError(f"PUT {key!r} failed: the stream ended after {copied} of {length} bytes")
    return copied


class ObjectStore(ABC):
    """Flat key -> bytes storage. Keys are '/'-separated relative paths (see `check_key`)."""

    url: str

    def __init__(self, url: str, caps: PutCaps) -> None:
        self.url = url
        self.caps = caps

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # public contract ---------------------------------------------------------------------
    def put(self, key: str, data: bytes | BinaryIO, length: int | None = None) -> ObjectStat:
        """Store `data` under `key`, replacing any old value; readers see the old or the new one."""
        check_key(key)
        if isinstance(data, (bytes, bytearray, memoryview)):
            if length is not None and length != len(data):
                raise InvalidPut(f"PUT {key!r}: length={length} but the data has {len(data)} bytes")
            length = len(data)
            data = io.BytesIO(data)
        elif not callable(getattr(data, "read", None)):
            raise InvalidPut(f"PUT {key!r}: data must be bytes or a binary stream, got {type(data).__name__}")
        if length is not None and length < 0:
            raise InvalidPut(f"PUT {key!r}: length must be >= 0, got {length}")
        return self._write(key, data, length, self._cap("PUT", key, length))

    def create(self, key: str, data: bytes) -> ObjectStat:
        """Store `data` under `key` only if no object is there. Of writers creating one key at once,
        one succeeds; the others get `ObjectExists` and store nothing (a claim, where `put` would
        let the last writer win)."""
        return self._create(key, self._whole("CREATE", key, data))

    def replace(self, key: str, data: bytes, version: str) -> ObjectStat:
        """Store `data` under `key` only if the object is still at `version`, as `read_versioned`
        gave it (compare-and-swap). Of writers replacing one version at once, one succeeds; the
        others, and a writer whose version is stale or whose key is gone, get `ObjectChanged` and
        store nothing. A plain `put` of the same key is not held back by it."""
        data = self._whole("REPLACE", key, data)
        if not isinstance(version, str) or not version.isprintable() or not version:
            # it travels as an HTTP header on S3: no line breaks or other control characters
            raise InvalidPut(f"REPLACE {key!r}: the version must be what read_versioned returned, got {version!r}")
        return self._replace(key, data, version)

    def _whole(self, verb: str, key: str, data: bytes) -> bytes:
        """`data` for a conditional write, which sends it in one piece: bytes within the key's cap."""
        check_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidPut(f"{verb} {key!r}: data must be bytes, got {type(data).__name__}")
        self._cap(verb, key, len(data))
        return bytes(data)

    def _cap(self, verb: str, key: str, length: int | None) -> int:
        """The cap of `key`'s prefix; `ObjectTooLarge` before any I/O when a known length is over it."""
        cap = self.caps.for_key(key)
        if length is not None and length > cap:
            raise ObjectTooLarge(f"{verb} {key!r} refused: {length} bytes is over the {cap}-byte cap")
        return cap

    def put_file(self, key: str, path: str | os.PathLike[str]) -> ObjectStat:
        check_key(key)
        with open(path, "rb") as src:
            return self.put(key, src, os.fstat(src.fileno()).st_size)

    def get(self, key: str) -> bytes:
        with self._reader(check_key(key)) as src:
            return src.read()

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and its version (an ETag on S3): a token that changes whenever the
        key is written, for a later `replace`."""
        return self._read_versioned(check_key(key))

    def get_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Write the object to `path` atomically (temp file beside it, then rename)."""
        target = Path(path)
        with self._reader(check_key(key)) as src:
            fd, tmp = tempfile.mkstemp(prefix=TEMP_MARKER, dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def exists(self, key: str) -> bool:
        try:
            self._stat(check_key(key))
        except ObjectNotFound:
            return False
        return True

    def stat(self, key: str) -> ObjectStat:
        return self._stat(check_key(key))

    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys that start with `prefix` (plain string prefix, as in S3)."""
        return sorted(self._list(check_prefix(prefix)))

    def delete(self, key: str) -> None:
        self._delete(check_key(key))

    def sweep_temp_files(self, older_than_s: float, dry_run: bool = False) -> Sweep:
        """Remove what killed writes left in the store itself and no listing shows (a `file://`
        store's temp files, an S3 bucket's incomplete multipart uploads), older than `older_than_s`
        (younger ones may belong to a write in flight). A backend whose writes leave nothing behind
        has none. `StorageError` only when the leftovers cannot even be listed."""
        return Sweep()

    def close(self) -> None:  # noqa: B027 - optional hook: most backends hold nothing to close
        """Release client resources; the default backend holds none."""

    # backend primitives: keys are already checked ----------------------------------------
    @abstractmethod
    def _write(self, key: str, src: BinaryIO, length: int | None, cap: int) -> ObjectStat: ...

    @abstractmethod
    def _create(self, key: str, data: bytes) -> ObjectStat:
        """Store `data` unless `key` exists (then raise `ObjectExists`), atomically."""

    @abstractmethod
    def _replace(self, key: str, data: bytes, version: str) -> ObjectStat:
        """Store `data` if `key` is still at `version` (else raise `ObjectChanged`), atomically."""

    @abstractmethod
    def _read_versioned(self, key: str) -> tuple[bytes, str]: ...

    @abstractmethod
    def _reader(self, key: str) -> AbstractContextManager[Readable]: ...

    @abstractmethod
    def _stat(self, key: str) -> ObjectStat: ...

    @abstractmethod
    def _list(self, prefix: str) -> builtins.list[str]: ...

    @abstractmethod
    def _delete(self, key: str) -> None: ...
