"""Console sessions and CSRF.

A browser gets a random session id in an HttpOnly, SameSite=Strict cookie on its first page; the
CSRF token is an HMAC of that id under a per-process secret, rendered into every page (meta tag +
`hx-headers`, so every HTMX request sends it) and checked on every state-changing route.

With LH_API_TOKEN set, logging in (`flows/http/ui/login.py`) gives the browser a fresh session id
and records it here as authenticated, together with a digest of the token it proved: the server
holds the list, so logging out (or a restart, or a changed token) really ends the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Request, Response

from flows.errors import ConsoleRefused

COOKIE = "lh_console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
_SECRET = secrets.token_bytes(32)  # per process: a restart ends every console session
SESSION_SECONDS = 12 * 3600  # a logged-in browser asks for the token again after a working day
MAX_SESSIONS = 10_000
LOGIN_PATH = "/ui/login"
DOCS_PATHS = frozenset({"/docs", "/redoc", "/openapi.json"})

router = APIRouter()

# session id -> (expiry on the monotonic clock, digest of the token it logged in with)
_authenticated: dict[str, tuple[float, bytes]] = {}
_lock = threading.Lock()


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def cookie_name(request: Request) -> str:
    """The session cookie of the console at this port: browsers send a host's cookies to every port
    of it, so two consoles on one host (two LH_HOMEs) each kept replacing the other's session and
    its open tabs failed the CSRF check. (Any other service on the host still receives it: cookies
    have no port; a token console is for one host's trusted services.)"""
    port = request.url.port
    return f"{COOKIE}_{port}" if port else COOKIE


def session_cookie(request: Request) -> str:
    """This console's session id as the browser sent it ('' without one)."""
    return request.cookies.get(cookie_name(request), "")


def session_id(request: Request) -> str:
    sid = session_cookie(request)
    return sid if len(sid) == 43 else new_session_id()


def csrf_token(sid: str) -> str:
    return hmac.new(_SECRET, sid.encode(), hashlib.sha256).hexdigest()


def set_cookie(request: Request, response: Response, sid: str) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(cookie_name(request), sid, httponly=True, samesite="strict", secure=secure, path="/")


def remember(request: Request, response: Response, sid: str) -> None:
    if session_cookie(request) != sid:
        set_cookie(request, response, sid)


async def verify_csrf(request: Request) -> None:
    """Dependency of every state-changing console route: the header or form field must match the session."""
    sid = session_cookie(request)
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = str((await request.form()).get(CSRF_FIELD, ""))
    if not sid or not hmac.compare_digest(given.encode(), csrf_token(sid).encode()):
        raise ConsoleRefused("missing or invalid CSRF token: reload the page and try again")


# ------------------------------------------------------------------------------- logged-in sessions
def authenticate(token_digest: bytes) -> str:
    """A new session id, recorded as logged in (the caller sets it as the cookie: the id rotates at login)."""
    sid = new_session_id()
    now = time.monotonic()
    with _lock:
        if len(_authenticated) >= MAX_SESSIONS:
            for old in [s for s, (expiry, _) in _authenticated.items() if expiry <= now]:
                del _authenticated[old]
            while len(_authenticated) >= MAX_SESSIONS:  # still full: the oldest login goes first
                del _authenticated[next(iter(_authenticated))]
        _authenticated[sid] = (now + SESSION_SECONDS, token_digest)
    return sid


def is_authenticated(sid: str, token_digest: bytes) -> bool:
    """The session logged in with this very token and has not expired or logged out."""
    entry = _authenticated.get(sid) if sid else None
    if entry is None:
        return False
    expiry, digest = entry
    if expiry <= time.monotonic():
        with _lock:
            _authenticated.pop(sid, None)
        return False
    return hmac.compare_digest(digest, token_digest)


def forget(sid: str) -> None:
    with _lock:
        _authenticated.pop(sid, None)


# ------------------------------------------------------------------------------- paths
def is_console_path(path: str) -> bool:
    """Pages of the console (HTML answers, errors included)."""
    return path == "/ui" or path.startswith("/ui/")


def is_public_path(path: str) -> bool:
    """Reachable without logging in (the allowlist still applies): the login form and its assets."""
    return path == LOGIN_PATH or path.startswith("/ui/static/")


def accepts_session(path: str) -> bool:
    """Paths where a logged-in console session stands in for the Bearer header; the /v1 API never does."""
    return is_console_path(path) or path in DOCS_PATHS


def safe_next(target: str | None, default: str = "/ui") -> str:
    """Where to go after logging in: only a path of this console (no scheme, no host: no open redirect)."""
    if not target or len(target) > 2048 or "\\" in target or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//") or "/." in unquote(parts.path):
        return default
    if not (accepts_session(parts.path) and not is_public_path(parts.path)):
        return default
    return parts.path + (f"?{parts.query}" if parts.query else "")
