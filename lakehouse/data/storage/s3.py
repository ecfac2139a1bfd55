"""`s3://bucket/optional/prefix` backend on the `minio` client (any S3 endpoint: MinIO, AWS, moto).

An S3 PUT is atomic by itself: a single-part PUT or a completed multipart upload becomes visible
at once, and minio aborts a multipart upload whose stream fails. A stream of unknown length is
spooled to a local temp file first, so the cap is enforced before the first byte is sent. A create
and a replace are conditional PUTs (`If-None-Match: *`, `If-Match: <ETag>`), which AWS S3, MinIO
and moto check on the server. What a killed upload leaves (the parts of a multipart upload that was
never completed: stored, billed, never listed) `sweep_temp_files` aborts once it is older than gc's
window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.datatypes import Upload
from minio.error import S3Error
from urllib3 import BaseHTTPResponse
from urllib3.exceptions import HTTPError

from lakehouse.data.storage.base import (
    CHUNK,
    ObjectNotFound,
    ObjectStat,
    ObjectStore,
    PutCaps,
    Readable,
    StorageError,
    Sweep,
    check_prefix,
    copy_stream,
    refused,
)

_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "ResourceNotFound"}
_TAKEN_CODES = {"PreconditionFailed", "ConditionalRequestConflict"}  # 412; 409 while another write is in flight
_CHANGED_CODES = _TAKEN_CODES | _MISSING_CODES  # an If-Match PUT of a removed key answers 404
_SPOOL_IN_MEMORY = 8 * CHUNK


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b/"); the key prefix follows the key rules."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StorageError(f"not an s3://bucket[/prefix] URL: {url!r}")
    if parts.query or parts.fragment:
        raise StorageError(f"s3 URL {url!r}: query strings and fragments are not supported")
    prefix = parts.path.strip("/")
    if prefix:
        check_prefix(prefix)
        prefix += "/"
    return parts.netloc, prefix


def parse_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """`host:port` keeps `secure`; `http://host:port` / `https://host:port` decide it."""
    if "://" not in endpoint:
        return endpoint, secure
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or parts.path.strip("/") or not parts.netloc:
        raise StorageError(f"S3 endpoint {endpoint!r} must be host:port or http(s)://host:port (no path)")
    return parts.netloc, parts.scheme == "https"


class _ExactReader:
    """Hands minio at most `length` bytes and fails loudly if the stream ends early."""

    def __init__(self, src: BinaryIO, key: str, length: int) -> None:
        self.src, self.key, self.length, self.seen = src, key, length, 0

    def read(self, size: int = -1) -> bytes:
        left = self.length - self.seen
        chunk = self.src.read(left if size is None or size < 0 else min(size, left))
        self.seen += len(chunk)
        if not chunk and left > 0:
            raise StorageError(f"PUT {self.key!r} failed: the stream ended after {self.seen} of {self.length} bytes")
        return chunk


def _http_client(timeout_s: float) -> urllib3.PoolManager:
    """minio's own client but for its waits: 5 minutes to connect or for an answer, 5 retries, so
    a frozen endpoint held a corpus command for half an hour (the tables' reads give up in ~30 s)."""
    import os

    import certifi

    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(10.0, timeout_s), read=timeout_s),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=3, connect=1, read=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


class S3Store(ObjectStore):
    def __init__(
        self,
        url: str,
        caps: PutCaps,
        *,
        endpoint: str | None,
        access_key: str | None,
        secret_key: str | None,
        region: str,
        secure: bool,
        create_bucket: bool = True,
        timeout_s: float = 30.0,
    ) -> None:
        super().__init__(url, caps)
        self.bucket, self.prefix = parse_s3_url(url)
        host, secure = parse_endpoint(endpoint or "s3.amazonaws.com", secure)
        self.endpoint = host
        try:
            self.client = Minio(
                host,
                access_key=access_key,
                secret_key=secret_key,
                region=region,
                secure=secure,
                http_client=_http_client(timeout_s),
            )
        except ValueError as exc:
            raise StorageError(f"S3 endpoint {endpoint!r}: {exc}") from exc
        self._ensure_bucket(region, create_bucket)

    def _ensure_bucket(self, region: str, create: bool) -> None:
        try:
            if not self.client.bucket_exists(self.bucket):
                if not create:
                    raise StorageError(
                        f"bucket {self.bucket!r} of {self.url} does not exist at {self.endpoint}: machines that "
                        "share a catalog server share one object store, so a missing bucket is taken for a typo in "
                        "its URL (objects_url, warehouse_url); create the bucket first if it is meant"
                    )
                self.client.make_bucket(self.bucket, location=region)
        except ValueError as exc:  # minio's bucket-name check
            raise StorageError(f"s3 URL {self.url!r}: {exc}") from exc
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"cannot open bucket {self.bucket!r} at {self.endpoint}: {exc}") from exc
        except HTTPError as exc:
            raise StorageError(f"cannot reach S3 endpoint {self.endpoint}: {exc}") from exc

    def _name(self, key: str) -> str:
        return self.prefix + key

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        try:
            yield
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise ObjectNotFound(f"no object {key!r} in {self.url}") from exc
            raise StorageError(f"S3 error on {key!r} in {self.url}: {exc.code}: {exc.message}") from exc
        except HTTPError as exc:
            raise StorageError(f"S3 endpoint {self.endpoint} failed on {key!r}: {exc}") from exc

    def _write(self, key: str, src: BinaryIO, length: int | None, cap: int) -> ObjectStat:
        if length is None:
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
                length = copy_stream(src, spool, key=key, length=None, cap=cap)
                spool.seek(0)
                return self._upload(key, spool, length)
        return self._upload(key, _ExactReader(src, key, length), length)

    def _upload(self, key: str, src: Readable, length: int) -> ObjectStat:
        with self._errors(key):
            # minio only calls src.read(); its `BinaryIO` hint is stricter than that
            self.client.put_object(self.bucket, self._name(key), src, length)  # type: ignore[arg-type]
        return self._stat(key)

    def _create(self, key: str, data: bytes) -> ObjectStat:
        return self._conditional_put("CREATE", key, data, {"If-None-Match": "*"}, _TAKEN_CODES)

    def _replace(self, key: str, data: bytes, version: str) -> ObjectStat:
        return self._conditional_put("REPLACE", key, data, {"If-Match": version}, _CHANGED_CODES)

    def _conditional_put(
        self, verb: str, key: str, data: bytes, condition: dict[str, str], codes: set[str]
    ) -> ObjectStat:
        # minio-py 7.2's put_object turns extra headers into x-amz-meta-* user metadata, so the
        # condition goes through its single-request PUT, which sends headers as given.
        headers: dict[str, str | list[str] | tuple[str]] = {**condition, "Content-Type": "application/octet-stream"}
        with self._errors(key):
            try:
                self.client._put_object(self.bucket, self._name(key), data, headers)
            except S3Error as exc:
                if exc.code in codes:
                    raise refused(verb, key) from None
                if exc.code == "NotImplemented" or exc.response.status == 501:
                    raise StorageError(
                        f"{verb} {key!r} failed: the S3 endpoint {self.endpoint} does not implement conditional "
                        f"writes ({', '.join(condition)}: {exc.code}); corpus writes need them so that two "
                        "writers never overwrite each other's generations (AWS S3 and MinIO have them)"
                    ) from None
                raise
        return self._stat(key)

    def _read_versioned(self, key: str) -> tuple[bytes, str]:
        with self._reader(key) as response:
            data, etag = response.read(), response.headers.get("ETag")
        if not etag:
            raise StorageError(f"S3 GET of {key!r} in {self.url} returned no ETag, so it cannot be replaced safely")
        return data, etag

    @contextmanager
    def _reader(self, key: str) -> Iterator[BaseHTTPResponse]:
        with self._errors(key):
            response = self.client.get_object(self.bucket, self._name(key))
        try:
            with self._errors(key):
                yield response
        finally:
            response.close()
            response.release_conn()

    def _stat(self, key: str) -> ObjectStat:
        with self._errors(key):
            info = self.client.stat_object(self.bucket, self._name(key))
        if info.size is None or info.last_modified is None:
            raise StorageError(f"S3 stat of {key!r} in {self.url} returned no size or modification time")
        return ObjectStat(key, info.size, info.last_modified)

    def _list(self, prefix: str) -> list[str]:
        start = len(self.prefix)
        with self._errors(prefix):
            return [
                obj.object_name[start:]
                for obj in self.client.list_objects(self.bucket, prefix=self.prefix + prefix, recursive=True)
                if not obj.is_dir
            ]

    def sweep_temp_files(self, older_than_s: float, dry_run: bool = False) -> Sweep:
        # minio sends an object over 5 MiB (an index) in parts; a writer killed before the last one
        # leaves an incomplete upload. Its age counts from its start, so an upload still sending
        # after the whole window is taken for a dead one (the window is an hour by default).
        now, swept = datetime.now(UTC), Sweep()
        for upload in self._incomplete_uploads():
            if upload.upload_id is None or upload.initiated_time is None:
                continue
            age = (now - upload.initiated_time).total_seconds()
            if age < older_than_s:
                continue
            location = f"s3://{self.bucket}/{upload.object_name} (incomplete upload {upload.upload_id})"
            try:
                size = self._uploaded_bytes(upload.object_name, upload.upload_id)
                if not dry_run:
                    self.client._abort_multipart_upload(self.bucket, upload.object_name, upload.upload_id)
            except S3Error as exc:
                if exc.code != "NoSuchUpload":  # else completed or aborted meanwhile
                    swept.errors.append(f"{location}: {exc.code}" + (f": {exc.message}" if exc.message else ""))
                continue
            except HTTPError as exc:
                swept.errors.append(f"{location}: S3 endpoint {self.endpoint} failed: {exc}")
                continue
            swept.removed.append((location, size, round(age, 1)))
        return swept

    def _incomplete_uploads(self) -> Iterator[Upload]:
        # minio-py 7.2 drops NextUploadIdMarker while parsing, so the next page starts after the
        # last upload seen, which is what that marker names.
        key_marker: str | None = None
        upload_id_marker: str | None = None
        while True:
            with self._errors("incomplete uploads"):
                page = self.client._list_multipart_uploads(
                    self.bucket, prefix=self.prefix or None, key_marker=key_marker, upload_id_marker=upload_id_marker
                )
            yield from page.uploads
            if not page.is_truncated or not page.uploads:
                return
            key_marker, upload_id_marker = page.uploads[-1].object_name, page.uploads[-1].upload_id

    def _uploaded_bytes(self, name: str, upload_id: str) -> int:
        size, marker = 0, None
        while True:
            page = self.client._list_parts(self.bucket, name, upload_id, part_number_marker=marker)
            size += sum(part.size or 0 for part in page.parts)
            if not page.is_truncated or not page.parts:
                return size
            marker = str(page.parts[-1].part_number)

    def _delete(self, key: str) -> None:
        self._stat(key)  # S3 deletes of missing keys succeed silently; the contract says otherwise
        with self._errors(key):
            self.client.remove_object(self.bucket, self._name(key))
