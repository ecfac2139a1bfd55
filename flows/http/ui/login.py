"""Logging in to the console with LH_API_TOKEN, and out again.

The form posts the token with the CSRF token of the pre-login session; the right token gets a new
session id (never the one a page could have been handed before login), recorded server-side as
logged in, and a redirect to the console page asked for (only a console path: no open redirect).
A wrong token answers the form again with 401 and sets nothing. Each client may miss a few times
a minute; then it waits (429).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from flows.http.auth import CLIENT_KEY, token_digest, token_matches
from flows.http.ui import render, session, token_required

router = APIRouter()

MISSES_ALLOWED = 5
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000


class LoginThrottle:
    """Wrong tokens per client address within the last minute."""

    def __init__(self, allowed: int = MISSES_ALLOWED, window: float = WINDOW_SECONDS) -> None:
        self.allowed = allowed
        self.window = window
        self._misses: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, client: str) -> int:
        """0 when the client may try now, else how long until its oldest recent miss expires."""
        now = time.monotonic()
        with self._lock:
            misses = self._misses.get(client)
            while misses and misses[0] <= now - self.window:
                misses.popleft()
            if not misses or len(misses) < self.allowed:
                return 0
            return max(1, int(misses[0] + self.window - now + 0.999))

    def missed(self, client: str) -> None:
        with self._lock:
            if client not in self._misses and len(self._misses) >= MAX_CLIENTS:
                del self._misses[next(iter(self._misses))]
            self._misses.setdefault(client, deque(maxlen=self.allowed)).append(time.monotonic())

    def passed(self, client: str) -> None:
        with self._lock:
            self._misses.pop(client, None)


def _client(request: Request) -> str:
    return request.scope.get(CLIENT_KEY) or (request.client.host if request.client else "unknown")


def _form(request: Request, target: str, *, status_code: int = 200, error: str = "") -> Response:
    return render(request, "login.html", status_code=status_code, title="Log in", target=target, error=error, bare=True)


@router.get("/ui/login")
def login_form(request: Request, next: str = "/ui") -> Response:
    target = session.safe_next(next)
    settings = request.app.state.settings
    sid = session.session_cookie(request)
    if not token_required(request) or session.is_authenticated(sid, token_digest(settings) or b""):
        return RedirectResponse(target, status_code=303)
    return _form(request, target)


@router.post("/ui/login", dependencies=[Depends(session.verify_csrf)])
def login(
    request: Request, token: Annotated[str, Form(max_length=4096)] = "", next: Annotated[str, Form()] = "/ui"
) -> Response:
    target = session.safe_next(next)
    expected = token_digest(request.app.state.settings)
    if expected is None:
        return RedirectResponse(target, status_code=303)
    throttle: LoginThrottle = request.app.state.login_throttle
    client = _client(request)
    wait = throttle.wait_seconds(client)
    if wait:
        response = _form(request, target, status_code=429, error=f"too many wrong tokens: try again in {wait} s")
        response.headers["Retry-After"] = str(wait)
        return response
    if not token_matches(token, expected):
        throttle.missed(client)
        return _form(request, target, status_code=401, error="wrong token")
    throttle.passed(client)
    session.forget(session.session_cookie(request))
    response = RedirectResponse(target, status_code=303)
    session.set_cookie(request, response, session.authenticate(expected))
    return response


@router.post("/ui/logout", dependencies=[Depends(session.verify_csrf)])
def logout(request: Request) -> Response:
    session.forget(session.session_cookie(request))
    response = RedirectResponse(session.LOGIN_PATH if token_required(request) else "/ui", status_code=303)
    session.set_cookie(request, response, session.new_session_id())  # the old id is worth nothing now
    return response
