"""The HTTP service: `create_app(settings)` builds the FastAPI app; `lakehouse api` serves it.

Request path, outermost first: access control (allowlist, token) -> body cap -> error guard ->
FastAPI (validation, routers). Rejections happen before any body byte is read.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from flows.http import catalog, chat, data, matrix, observer, pathway
from flows.http.auth import AccessControl, parse_networks
from flows.http.errors import CatchAll, Redactor, install_error_handlers
from flows.http.limits import BodyLimit
from flows.http.runs import RunTracker
from lakehouse.config import Settings, get_settings
from lakehouse.core import Lakehouse
from modes.registry import load_modes


def _version() -> str:
    try:
        return version("lakehouse")
    except PackageNotFoundError:
        return "0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Bad access settings fail here, at start-up, not on the first request.
    parse_networks(settings.api_allow, "LH_API_ALLOW")
    parse_networks(settings.api_trusted_proxies, "LH_API_TRUSTED_PROXIES")
    load_modes()
    lakehouse = Lakehouse(settings)
    runs = RunTracker()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        runs.close()
        lakehouse.close()

    app = FastAPI(
        title="Lakehouse",
        version=_version(),
        description="Workflows, modes, matrix search, SQL, ingest, chat and pathway memory over HTTP. "
        "Every error answers `{\"error\": {\"type\", \"message\", \"details\"}}`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.lakehouse = lakehouse
    app.state.runs = runs
    app.state.redact = Redactor(settings.secret_values)
    install_error_handlers(app)
    app.include_router(observer.router)
    app.include_router(matrix.build_router())
    app.include_router(data.build_router())
    app.include_router(chat.build_router())
    app.include_router(pathway.build_router())
    app.include_router(catalog.router)
    # add_middleware wraps what is already there: the last added is the outermost.
    app.add_middleware(CatchAll, redact=app.state.redact)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(AccessControl, settings=settings)
    return app
