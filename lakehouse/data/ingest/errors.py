"""The one error type of ingest (defined with the data wing's errors in `lakehouse.data.errors`)."""

from __future__ import annotations

from lakehouse.data.errors import IngestError

__all__ = ["IngestError"]
