"""`lakehouse api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import os

import typer

from flows.cli.common import console, err_console, exit_cleanly_on_sigterm, fail, refuse_port_in_use, serve_http
from flows.cli.flags import LogLevel


def register(app: typer.Typer) -> None:
    @app.command("api")
    def api(
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Address to bind. Anything but loopback needs LH_API_TOKEN."
        ),
        port: int = typer.Option(3110, "--port", min=0, max=65535, help="TCP port (0 picks a free one)."),
        log_level: LogLevel = typer.Option(
            LogLevel.info, "--log-level", case_sensitive=False, help="uvicorn log level."
        ),
    ) -> None:
        """Serve workflows, every mode, matrix, SQL, ingest, chat and pathway over HTTP (docs at /docs)."""
        from flows.http.auth import AccessConfigError, check_bind
        from lakehouse.config import get_settings
        from lakehouse.data.sql.workers import serve_untrusted

        settings = get_settings()
        try:
            warnings = check_bind(host, settings)
            from flows.http import create_app

            app_ = create_app(settings)
        except AccessConfigError as exc:
            fail(str(exc))
        for warning in warnings:
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        from flows.cli.remote import remove_state, write_state

        port = port or free_port(host)  # a known port: the CLI finds it in LH_HOME/api.json
        shown = f"[{host}]" if ":" in host else host
        refuse_port_in_use(host, port)
        exit_cleanly_on_sigterm()  # the `finally` below removes the state
        serve_untrusted()  # its callers' SQL runs in capped worker processes (sql_isolation)
        # Prefect's logging config, applied when the first workflow run imports Prefect, hands
        # uvicorn's loggers to its console handler, which our CLI setting keeps at CRITICAL: uvicorn's
        # warnings, errors and shutdown lines were dropped from then on. Its stderr handler instead.
        os.environ.setdefault("PREFECT_LOGGING_LOGGERS_UVICORN_HANDLERS", "debug")
        os.environ.setdefault("PREFECT_LOGGING_LOGGERS_UVICORN_LEVEL", log_level.value.upper())
        before = write_state(settings.home_dir, host, port)  # a home it cannot write is refused before the announcement
        try:
            locked = "token required" if settings.api_token else "no token (loopback only)"
            console.print(
                f"Lakehouse API on http://{shown}:{port} ({locked}); docs at /docs", markup=False, highlight=False
            )
            serve_http(
                app_,
                host=host,
                port=port,
                log_level=log_level.value,
                grace_s=settings.api_stop_grace_s,
                date_header=True,
            )
        finally:
            remove_state(settings.home_dir, before)


def free_port(host: str) -> int:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
