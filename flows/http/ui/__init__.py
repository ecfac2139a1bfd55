"""The web console at `/ui`: server-rendered pages (Jinja2) updated in place with HTMX.

Every asset is vendored under `flows/http/static/` (served at `/ui/static`), so the console works
offline. Each page is one module with its own `router`; `mount(app)` adds them all. Pages render
through `render()`, which gives every template the navigation and the CSRF token; every
state-changing route depends on `session.verify_csrf`. With LH_API_TOKEN set the console asks for
the token once (`login.py`); errors on console paths answer HTML (`error_pages.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from flows.http.ui import session

HERE = Path(__file__).parent
STATIC_DIR = HERE.parent / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

# (path, label, key) in the order the navigation shows them
NAV: tuple[tuple[str, str, str], ...] = (
    ("/ui/search", "Search", "search"),
    ("/ui/ask", "Ask", "ask"),
    ("/ui/explore", "Explore", "explore"),
    ("/ui/sql", "SQL", "sql"),
    ("/ui/workflows", "Workflows", "workflows"),
    ("/ui/system", "System", "system"),
)


def prefect_ui_url() -> str | None:
    """The Prefect UI, when known: PREFECT_UI_URL, else the server of PREFECT_API_URL (its UI is at the root)."""
    explicit = os.environ.get("PREFECT_UI_URL", "").strip()
    if explicit:
        return explicit.rstrip("/")
    api = urlsplit(os.environ.get("PREFECT_API_URL", "").strip())
    if api.scheme not in ("http", "https") or not api.netloc:
        return None
    path = api.path.rstrip("/")
    return f"{api.scheme}://{api.netloc}{path.removesuffix('/api')}"


def token_required(request: Request) -> bool:
    settings = getattr(request.app.state, "settings", None)
    return bool(settings is not None and settings.api_token)


def shell_context(request: Request, sid: str) -> dict[str, Any]:
    """What base.html needs besides the page's own context."""
    return {
        "nav": NAV,
        "csrf_token": session.csrf_token(sid) if sid else "",
        "token_required": token_required(request),
        "prefect_ui": prefect_ui_url(),
    }


def render(
    request: Request, template: str, *, active: str = "", status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page or fragment; a first visit also gets its session cookie (the CSRF token derives from it)."""
    sid = session.session_id(request)
    response = templates.TemplateResponse(
        request,
        template,
        {**shell_context(request, sid), "active": active, **context},
        status_code=status_code,
    )
    session.remember(request, response, sid)
    return response


def mount(app: FastAPI) -> None:
    """Called by create_app before it adds its middleware: the console's error middleware is then the innermost."""
    from flows.http.ui import ask, error_pages, explore, login, search, sql, system, workflows

    app.mount("/ui/static", StaticFiles(directory=str(STATIC_DIR)), name="ui-static")
    for page in (session, login, search, ask, explore, sql, workflows, system):
        app.include_router(page.router, include_in_schema=False)

    @app.get("/ui", include_in_schema=False)
    def console_home() -> RedirectResponse:
        return RedirectResponse("/ui/search", status_code=303)

    app.state.login_throttle = login.LoginThrottle()
    error_pages.install(app)
