"""The HTTP service: `create_app(settings)` builds the FastAPI app; `lakehouse api` serves it.

Request path, outermost first: access control (allowlist, token) -> body cap -> error guard ->
FastAPI (validation, routers). Rejections happen before any body byte is read.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from flows.http import approvals, ask, catalog, chat, data, docs, feedback, matrix, observer, openai_compat, pathway, ui
from flows.http.auth import AccessControl, NoFraming, parse_networks
from flows.http.errors import (
    CatchAll,
    Redactor,
    declare_error_responses,
    install_error_handlers,
)
from flows.http.limits import BodyLimit, check_body
from flows.http.runs import RunTracker
from flows.outputs import RunStore
from flows.version import installed_version
from lakehouse.config import Settings, get_settings
from lakehouse.core import Lakehouse
from lakehouse.data.shared_log import FlushTimer
from lakehouse.data.sql.workers import close_all as close_sql_workers
from modes.registry import load_modes


class _ServerLogHandler(logging.StreamHandler):
    """Our warnings and errors on the server's stderr (see `keep_our_log_lines`) when no handler of
    the root logger takes them (one configured by the user, or a test's capture, still does, alone);
    the stderr of the moment, as Python's own last-resort handler, not the one at start."""

    def filter(self, record: logging.LogRecord) -> bool:
        taken = any(record.levelno >= handler.level for handler in logging.getLogger().handlers)
        return not taken and bool(super().filter(record))

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def keep_our_log_lines() -> None:
    """Warnings and errors of our loggers reach stderr whatever Prefect does to the root logger: its
    logging config, applied when a first workflow run imports Prefect, gives the root a console
    handler at CRITICAL, after which a 500's traceback ("the server log has the details") was dropped."""
    for name in ("lakehouse", "flows"):
        logger = logging.getLogger(name)
        if not any(isinstance(handler, _ServerLogHandler) for handler in logger.handlers):
            handler = _ServerLogHandler()
            handler.setLevel(logging.WARNING)
            logger.addHandler(handler)
    # logging configs replace handlers, not filters; addFilter adds one filter once
    logging.getLogger("uvicorn.error").addFilter(_not_a_cancelled_request)


def _not_a_cancelled_request(record: logging.LogRecord) -> bool:
    """uvicorn cancels the requests still running when a stop's grace ends and logs each as
    "Exception in ASGI application" with the CancelledError's traceback: a stop going as planned (it
    has just said "Cancel N running task(s), timeout graceful shutdown exceeded")."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    keep_our_log_lines()
    # Bad access settings fail here, at start-up, not on the first request.
    parse_networks(settings.api_allow, "LH_API_ALLOW")
    parse_networks(settings.api_trusted_proxies, "LH_API_TRUSTED_PROXIES")
    load_modes()
    lakehouse = Lakehouse(settings)
    runs = RunTracker(records=RunStore(lakehouse.store))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        flusher = FlushTimer(settings).start()  # shared state reaches the _lh_* tables while serving
        yield
        flusher.stop()
        runs.close(settings.api_stop_grace_s)
        lakehouse.close()
        close_sql_workers()

    app = FastAPI(
        title="Lakehouse",
        version=installed_version(),
        description="Workflows, modes, matrix search, SQL, ingest, chat and pathway memory over HTTP. "
        'Every error answers `{"error": {"type", "message", "details"}}`. Text must be valid '
        "Unicode (a lone surrogate is a 422 naming the field); strings are capped (a search `query` at "
        "4,096 characters, names and ids at 1,024, other text at 1,000,000; see `maxLength`); JSON types "
        "are strict (`false` is not a number, `0` is not a timestamp).",
        lifespan=lifespan,
        dependencies=[Depends(check_body)],
        docs_url=None,  # flows/http/docs.py serves both from vendored assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.lakehouse = lakehouse
    app.state.runs = runs
    app.state.redact = Redactor(settings.secret_values)
    install_error_handlers(app)
    app.include_router(observer.router)
    app.include_router(approvals.router)
    app.include_router(matrix.build_router())
    app.include_router(feedback.build_router())
    app.include_router(data.build_router())
    app.include_router(chat.build_router())
    app.include_router(openai_compat.build_router())
    app.include_router(ask.build_router())
    app.include_router(pathway.build_router())
    app.include_router(catalog.router)
    ui.mount(app)
    declare_error_responses(app, token=bool(settings.api_token), allowlist=bool(settings.api_allow))
    docs.install(app, token=bool(settings.api_token))
    # add_middleware wraps what is already there: the last added is the outermost.
    app.add_middleware(CatchAll, redact=app.state.redact)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(AccessControl, settings=settings)
    app.add_middleware(NoFraming)
    return app
