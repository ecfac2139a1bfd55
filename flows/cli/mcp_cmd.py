"""`lakehouse mcp`: serve the lakehouse to MCP clients (stdio, or streamable HTTP with --http)."""

from __future__ import annotations

import typer

from flows.cli.common import err_console, exit_cleanly_on_sigterm, fail, refuse_port_in_use, serve_http
from flows.cli.flags import LogLevel


def register(app: typer.Typer) -> None:
    @app.command("mcp")
    def mcp(
        http: bool = typer.Option(
            False, "--http", help="Serve streamable HTTP at /mcp instead of stdio (default: stdio, for one client)."
        ),
        host: str = typer.Option(
            "127.0.0.1", "--host", help="--http: address to bind. Anything but loopback needs LH_API_TOKEN."
        ),
        port: int = typer.Option(3111, "--port", min=0, max=65535, help="--http: TCP port (0 picks a free one)."),
        log_level: LogLevel = typer.Option(
            LogLevel.warning, "--log-level", case_sensitive=False, help="--http: uvicorn log level."
        ),
    ) -> None:
        """Serve tools (search, ask, sql, tables, corpora, workflows, ratings, pathway memory, ops), the
        workflows as prompts and the mode schemas as resources to MCP clients.

        Every tool call is recorded as an op with source `mcp`; file paths must stay under LH_HOME, its
        inbox or an allowed root (as over HTTP). With --http the same LH_API_TOKEN (Bearer) and
        LH_API_ALLOW rules as `lakehouse api` apply. Logs go to stderr: stdout is the protocol."""
        from lakehouse.config import get_settings
        from lakehouse.data.sql.workers import serve_untrusted

        settings = get_settings()
        exit_cleanly_on_sigterm()
        if not http:
            serve_untrusted()  # its client's SQL runs in capped worker processes (sql_isolation)
            from flows.mcp.server import build_server
            from flows.mcp.stdio import run_stdio

            run_stdio(build_server(settings))
            return
        from flows.http.auth import AccessConfigError, check_bind
        from flows.mcp.server import MCP_PATH, http_app

        try:
            warnings = check_bind(host, settings)
            app_ = http_app(settings)
        except AccessConfigError as exc:
            fail(str(exc))
        for warning in warnings:
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        from flows.cli.api import free_port

        port = port or free_port(host)
        shown = f"[{host}]" if ":" in host else host
        refuse_port_in_use(host, port)
        locked = "token required" if settings.api_token else "no token (loopback only)"
        err_console.print(f"Lakehouse MCP on http://{shown}:{port}{MCP_PATH} ({locked})", markup=False, highlight=False)
        serve_untrusted()
        serve_http(app_, host=host, port=port, log_level=log_level.value, grace_s=settings.api_stop_grace_s)
