"""Object storage: one `ObjectStore` contract, a `file://` and an `s3://` backend.

`open_store(url, settings)` picks the backend by URL scheme; callers code against `ObjectStore`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from lakehouse.config import Settings, get_settings
from lakehouse.data.errors import ObjectChanged, ObjectExists
from lakehouse.data.storage.base import (
    InvalidKey,
    ObjectNotFound,
    ObjectStat,
    ObjectStore,
    ObjectTooLarge,
    PutCaps,
    StorageError,
    Sweep,
    check_key,
)

SUPPORTED_SCHEMES = ("file", "s3")

__all__ = [
    "InvalidKey",
    "ObjectChanged",
    "ObjectExists",
    "ObjectNotFound",
    "ObjectStat",
    "ObjectStore",
    "ObjectTooLarge",
    "PutCaps",
    "StorageError",
    "Sweep",
    "check_key",
    "open_store",
]


def open_store(url: str, settings: Settings | None = None) -> ObjectStore:
    """Open the store at `url` (`file:///abs/dir` or `s3://bucket/prefix`) with caps and S3 access from settings."""
    settings = settings or get_settings()
    caps = PutCaps(default=settings.put_cap_bytes, vectors=settings.put_cap_vectors_bytes)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        from lakehouse.data.storage.local import LocalStore

        return LocalStore(url, caps)
    if scheme == "s3":
        from lakehouse.data.storage.s3 import S3Store

        return S3Store(
            url,
            caps,
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
            secure=settings.s3_secure,
            # one machine's own store is made on first use; one shared through a catalog server must
            # be there (a typo made a private bucket: that machine's corpora went where no other looks)
            create_bucket=settings.catalog.startswith("sqlite"),
            timeout_s=settings.s3_timeout_s,
        )
    supported = ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
    raise StorageError(f"unsupported object store URL {url!r}: scheme {scheme or '(none)'!r}; supported: {supported}")
