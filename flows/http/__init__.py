"""The HTTP service (FastAPI): workflows, every mode, matrix, SQL, ingest, chat and pathway."""

from flows.http.app import create_app

__all__ = ["create_app"]
