"""`lakehouse api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import typer

from flows.cli.common import console, err_console, fail


def register(app: typer.Typer) -> None:
    @app.command("api")
    def api(
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Address to bind. Anything but loopback needs LH_API_TOKEN."
        ),
        port: int = typer.Option(3110, "--port", min=0, max=65535, help="TCP port (0 picks a free one)."),
        log_level: str = typer.Option(
            "info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug."
        ),
    ) -> None:
        """Serve workflows, every mode, matrix, SQL, ingest, chat and pathway over HTTP (docs at /docs)."""
        from flows.http.auth import AccessConfigError, check_bind
        from lakehouse.config import get_settings

        settings = get_settings()
        try:
            warnings = check_bind(host, settings)
            from flows.http import create_app

            app_ = create_app(settings)
        except AccessConfigError as exc:
            fail(str(exc))
        for warning in warnings:
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        import uvicorn

        shown = f"[{host}]" if ":" in host else host
        locked = "token required" if settings.api_token else "no token (loopback only)"
        console.print(f"Lakehouse API on http://{shown}:{port} ({locked}); docs at /docs", highlight=False)
        # proxy_headers=False: the socket peer is the client unless it is one of *our* trusted proxies.
        uvicorn.run(
            app_,
            host=host,
            port=port,
            log_level=log_level.lower(),
            proxy_headers=False,
            server_header=False,
            date_header=True,
        )
