"""`file://` backend: one file per key under a root directory.

A PUT writes a temp file in the target's own directory (same filesystem, so the rename is atomic),
fsyncs it and `os.replace`s it over the old value: a reader sees the old bytes or the new ones,
never a prefix. A conditional replace renames under an exclusive `flock` of the file it replaces,
so two replacers of one version queue on one inode and the second finds the path moved on. Every
path is resolved and must stay under the root, so a symlink planted inside the store cannot
redirect reads or writes elsewhere.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from lakehouse.data.errors import StorageWriteFailed
from lakehouse.data.storage.base import (
    TEMP_MARKER,
    InvalidKey,
    ObjectNotFound,
    ObjectStat,
    ObjectStore,
    PutCaps,
    StorageError,
    Sweep,
    check_key,
    copy_stream,
    refused,
)

_MKDIR_ATTEMPTS = 5  # a concurrent delete may prune a parent directory between mkdir and mkstemp


def root_from_url(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise StorageError(f"not a file:// URL: {url!r}")
    if parts.netloc not in ("", "localhost"):
        raise StorageError(f"file:// URL {url!r} names host {parts.netloc!r}; use file:///absolute/path")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise StorageError(f"file:// URL {url!r} needs an absolute path (file:///absolute/path)")
    return Path(path)


def _stat_of(key: str, st: os.stat_result) -> ObjectStat:
    return ObjectStat(key, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))


def _version_of(st: os.stat_result) -> str:
    # Every write is a new file renamed or linked into place: a new inode, so a new version.
    return f"{st.st_dev}-{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


class LocalStore(ObjectStore):
    def __init__(self, url: str, caps: PutCaps) -> None:
        root = root_from_url(url)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create object store root {root}: {exc}") from exc
        super().__init__(url, caps)
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = self.root / key
        if not path.resolve().is_relative_to(self.root):
            raise InvalidKey(f"invalid key {key!r}: resolves outside the store root {self.root} (symlink)")
        return path

    def _parent_dir(self, key: str, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise StorageError(f"PUT {key!r} failed: a parent of it is an existing object ({exc.filename})") from exc
        if path.is_dir():
            try:
                path.rmdir()  # an empty directory is a leftover, not an object
            except OSError:
                raise StorageError(f"PUT {key!r} failed: it is a directory holding other keys") from None

    def _temp_beside(self, key: str, path: Path) -> tuple[int, str]:
        """A temp file in `path`'s directory, made first if need be."""
        for _ in range(_MKDIR_ATTEMPTS - 1):
            self._parent_dir(key, path)
            try:
                return tempfile.mkstemp(prefix=TEMP_MARKER, dir=path.parent)
            except FileNotFoundError:
                continue
        self._parent_dir(key, path)
        return tempfile.mkstemp(prefix=TEMP_MARKER, dir=path.parent)

    def _create(self, key: str, data: bytes) -> ObjectStat:
        def claim(tmp: str, path: Path) -> None:
            # link() fails on an existing name, atomically: of two creators exactly one gets the key
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise refused("CREATE", key) from None
            os.unlink(tmp)

        return self._publish(key, lambda dst: dst.write(data), claim)

    def _replace(self, key: str, data: bytes, version: str) -> ObjectStat:
        def swap(tmp: str, path: Path) -> None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO planted there must not hang us
            except (FileNotFoundError, NotADirectoryError):
                raise refused("REPLACE", key) from None
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # released with the descriptor, after the rename
                except OSError as exc:  # some network and FUSE filesystems have no flock
                    raise StorageError(
                        f"REPLACE {key!r} failed: cannot lock {path} ({exc.strerror}); a file:// store "
                        "needs a filesystem with flock for its conditional writes"
                    ) from None
                try:
                    current = os.stat(path)
                except FileNotFoundError:
                    raise refused("REPLACE", key) from None
                if _version_of(current) != version or _version_of(os.fstat(fd)) != version:
                    raise refused("REPLACE", key)
                os.replace(tmp, path)
            finally:
                os.close(fd)

        return self._publish(key, lambda dst: dst.write(data), swap)

    def _read_versioned(self, key: str) -> tuple[bytes, str]:
        with self._reader(key) as src:
            return src.read(), _version_of(os.fstat(src.fileno()))

    def _write(self, key: str, src: BinaryIO, length: int | None, cap: int) -> ObjectStat:
        return self._publish(key, lambda dst: copy_stream(src, dst, key=key, length=length, cap=cap), os.replace)

    def _publish(self, key: str, fill: Callable[[BinaryIO], object], place: Callable[[str, Path], None]) -> ObjectStat:
        """Fill a temp file beside the key's path, fsync it, then `place` it there (a rename, or a
        link that refuses a taken name): a reader never sees a partial object."""
        path = self._path(key)
        try:
            fd, tmp = self._temp_beside(key, path)
        except OSError as exc:
            _name_refusal(exc, key, path)
            raise
        try:
            with os.fdopen(fd, "wb") as dst:
                fill(dst)
                dst.flush()
                os.fsync(dst.fileno())
                written = _stat_of(key, os.fstat(dst.fileno()))
            place(tmp, path)
        except BaseException as exc:
            Path(tmp).unlink(missing_ok=True)
            self._prune_empty_parents(path.parent)
            if isinstance(exc, OSError):
                _name_refusal(exc, key, path)
            raise
        self._fsync_dir(path.parent)
        return written

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        # Makes the rename itself durable; not every filesystem allows fsync on a directory.
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    @contextmanager
    def _reader(self, key: str) -> Iterator[BinaryIO]:
        try:
            handle = open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r} in {self.url}") from exc
        with handle:
            yield handle

    def _stat(self, key: str) -> ObjectStat:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r} in {self.url}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(f"no object {key!r} in {self.url}")
        return _stat_of(key, st)

    def _list(self, prefix: str) -> list[str]:
        # Walk only the deepest directory the prefix names, then filter by the string prefix.
        start = self.root / prefix.rpartition("/")[0]
        if not start.resolve().is_relative_to(self.root):
            raise InvalidKey(f"invalid list prefix {prefix!r}: resolves outside the store root {self.root}")
        keys = []
        for directory, _dirs, files in os.walk(start):
            rel_dir = Path(directory).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(TEMP_MARKER):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix) and _is_valid_key(key):
                    keys.append(key)
        return keys

    def sweep_temp_files(self, older_than_s: float, dry_run: bool = False) -> Sweep:
        # A write fills its temp file as it goes (each write moves its mtime), so only a write that
        # died, or one stalled longer than the window, leaves one this old.
        now, swept = time.time(), Sweep()
        for directory, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(directory) / name
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue  # its write just finished
                age = now - st.st_mtime
                if not name.startswith(TEMP_MARKER) or not stat.S_ISREG(st.st_mode) or age < older_than_s:
                    continue
                if not dry_run:
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        continue
                    except OSError as exc:  # a read-only directory or filesystem
                        swept.errors.append(f"{path.as_uri()}: {exc.strerror}")
                        continue
                    self._prune_empty_parents(path.parent)
                swept.removed.append((path.as_uri(), st.st_size, round(age, 1)))
        return swept

    def _delete(self, key: str) -> None:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"no object {key!r} in {self.url}")
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"no object {key!r} in {self.url}") from exc
        self._prune_empty_parents(path.parent)

    def _prune_empty_parents(self, directory: Path) -> None:
        # S3 has no directories; removing empty ones keeps 'a' usable as a key after 'a/b' is gone.
        while directory != self.root:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _name_refusal(exc: OSError, key: str, path: Path) -> None:
    """A full disk, a quota or a read-only mount said by name, with the key and the folder: the bare
    "[Errno 28] No space left on device" of a corpus rebuild or an adapt named neither."""
    if StorageWriteFailed.names(exc):
        raise StorageWriteFailed(f"object {key!r}", str(path.parent), exc) from None


def _is_valid_key(key: str) -> bool:
    # Files placed in the root by hand may break the key rules; they are not objects.
    try:
        check_key(key)
    except InvalidKey:
        return False
    return True
