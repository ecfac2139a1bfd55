"""A write lock in a home on a read-only file system (a backup mounted read-only): `corpus build`
and `corpus rebuild` there ended with a bare "OSError: [Errno 30] Read-only file system: …lock"."""

from __future__ import annotations

import pytest

from lakehouse.common.errors import FolderUnusable
from lakehouse.common.hostlock import HostLocks
from tests.fixtures.small_disk import SmallDisk


def test_a_lock_in_a_read_only_home_is_refused_by_name(small_disk: SmallDisk):
    locks = HostLocks(small_disk.path / "locks")
    with locks.hold("corpus-occupations"):  # its lock file exists, as in a home that was written before
        pass
    small_disk.read_only()
    try:
        with pytest.raises(
            FolderUnusable,
            match=rf"^the lock of corpus-occupations: cannot open '{small_disk.path}/locks/corpus-occupations\.lock' "
            r"to write \(Read-only file system\): nothing was written; a home on a read-only file system serves "
            r"reads only$",
        ):
            with locks.hold("corpus-occupations"):
                pass
    finally:
        small_disk.read_only(False)
