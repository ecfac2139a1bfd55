"""Access control: an IP allowlist on the socket peer, then a Bearer token, on every path.

X-Forwarded-For is believed only when the socket peer is a configured proxy; the client is then
the right-most address in the chain that is not itself a trusted proxy. The token check hashes
both sides and compares the digests with `hmac.compare_digest`, so a missing token, a short one and
a wrong one all take the same path and the same time.

The web console's paths (/ui..., /docs, /redoc, /openapi.json) also accept a logged-in console
session (`flows/http/ui/session.py`) instead of the header; its login form and static assets need
neither. The /v1 API never accepts the cookie. A browser without a session is sent to the login
form (303; an HTMX request gets 401 with `HX-Redirect`).

Without a token the API listens on loopback only and any local process may call it, but a web page
open in the user's browser may not: a request whose Host is not a loopback name (a DNS-rebinding
page that made its own name resolve to 127.0.0.1) or that a browser marks as cross-site (a form
posted from another site: multipart and form bodies need no CORS preflight) is refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from flows.errors import AccessConfigError
from flows.http.errors import error_response
from flows.http.ui import session
from lakehouse.config import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(entries: Iterable[str], setting: str) -> list[Network]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise AccessConfigError(
                f"{setting}: {entry!r} is not an IP address or CIDR block (e.g. 10.0.0.0/8, 192.168.1.7)"
            ) from None
    return networks


def is_loopback_host(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


MIN_TOKEN_CHARS = 16  # the API token a non-loopback bind needs, at the least


def check_bind(host: str, settings: Settings) -> list[str]:
    """Refuse a non-loopback bind without a token; return warnings for a weak but allowed setup."""
    if is_loopback_host(host):
        return []
    if not settings.api_token:
        raise AccessConfigError(
            f"refusing to listen on {host}: it is not a loopback address and no API token is set. "
            "Set LH_API_TOKEN (and LH_API_ALLOW, a list of CIDRs) or bind to 127.0.0.1"
        )
    if len(settings.api_token) < MIN_TOKEN_CHARS:
        # a short token is guessed by trying, and one under 4 characters is too short to be masked in logs
        raise AccessConfigError(
            f"refusing to listen on {host}: LH_API_TOKEN has {len(settings.api_token)} characters, which anyone "
            f"who can reach the port may guess; use at least {MIN_TOKEN_CHARS}, e.g. "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    if not settings.api_allow:
        return [f"listening on {host} with a token but no LH_API_ALLOW: any address may try the token"]
    return []


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def token_digest(settings: Settings) -> bytes | None:
    return _digest(settings.api_token) if settings.api_token else None


def token_matches(given: str, expected_digest: bytes | None) -> bool:
    """One constant-time compare of two equal-length digests, whatever was (or was not) given."""
    return hmac.compare_digest(_digest(given.strip()), expected_digest or b"")


def login_url(next_path: str) -> str:
    return f"{session.LOGIN_PATH}?next={quote(next_path, safe='/')}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


CLIENT_KEY = "lakehouse.client"  # the scope key where the client's address (as AccessControl saw it) is kept


class AccessControl:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allow = parse_networks(settings.api_allow, "LH_API_ALLOW")
        self.proxies = parse_networks(settings.api_trusted_proxies, "LH_API_TRUSTED_PROXIES")
        self.token_digest = token_digest(settings)

    def _trusted_proxy(self, address: Address) -> bool:
        return any(address in net for net in self.proxies)

    def client_address(self, scope: Scope) -> Address | None:
        client = scope.get("client")
        try:
            peer = ipaddress.ip_address(client[0]) if client else None
        except ValueError:
            return None
        if peer is None or not self._trusted_proxy(peer):
            return peer
        forwarded = _header(scope, b"x-forwarded-for")
        if not forwarded:
            return peer
        address = peer
        for hop in reversed([h.strip() for h in forwarded.split(",")]):
            try:
                address = ipaddress.ip_address(hop)
            except ValueError:
                return None  # an unreadable chain from a proxy identifies nobody
            if not self._trusted_proxy(address):
                break
        return address

    def _token_ok(self, scope: Scope) -> bool:
        header = _header(scope, b"authorization") or ""
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer":
            given = ""
        return token_matches(given, self.token_digest)

    def _console_ok(self, scope: Scope) -> bool:
        """A console path opened by a logged-in session, or one that needs no login."""
        path = scope["path"]
        if not session.accepts_session(path):
            return False
        if session.is_public_path(path):
            return True
        sid = session.session_cookie(Request(scope))
        return self.token_digest is not None and session.is_authenticated(sid, self.token_digest)

    def _login_first(self, scope: Scope) -> ASGIApp:
        """The answer to a console request without a session: to the login form, in the caller's terms."""
        request = Request(scope)
        if request.headers.get("hx-request") == "true":
            page = urlsplit(request.headers.get("hx-current-url", ""))
            target = session.safe_next(page.path + (f"?{page.query}" if page.query else ""))
            return Response(
                "log in first", status_code=401, media_type="text/plain", headers={"HX-Redirect": login_url(target)}
            )
        browser = "text/html" in request.headers.get("accept", "")
        if browser:
            wanted = scope["path"] + (f"?{request.url.query}" if request.url.query else "")
            # after a POST, going back to the same URL with GET would not repeat the action: start at /ui
            target = session.safe_next(wanted) if request.method in ("GET", "HEAD") else "/ui"
            return RedirectResponse(login_url(target), status_code=303)
        if session.is_console_path(scope["path"]):
            from flows.http.ui.error_pages import error_page

            message = f"log in at {session.LOGIN_PATH} (or send 'Authorization: Bearer <token>')"
            return error_page(request, 401, message, shell=False, headers={"WWW-Authenticate": "Bearer"})
        return self._unauthorized()

    @staticmethod
    def _unauthorized() -> ASGIApp:
        return error_response(
            401,
            "unauthorized",
            "missing or invalid bearer token (send 'Authorization: Bearer <token>')",
            headers={"WWW-Authenticate": "Bearer"},
        )

    @staticmethod
    def _forbidden(scope: Scope, message: str) -> ASGIApp:
        """403 in the caller's terms: the console's HTML page on its paths, the JSON envelope elsewhere."""
        if session.is_console_path(scope["path"]):
            from flows.http.ui.error_pages import error_page

            return error_page(Request(scope), 403, message, shell=False)
        return error_response(403, "forbidden", message)

    @classmethod
    def _from_a_web_page(cls, scope: Scope) -> ASGIApp | None:
        """The refusal of a token-less request that a web page made (see the module's docstring)."""
        host = _header(scope, b"host") or ""
        if not is_loopback_host(urlsplit(f"//{host}").hostname or ""):
            return cls._forbidden(
                scope,
                f"Host {host!r} is not a loopback name: without LH_API_TOKEN this API answers only "
                "requests addressed to 127.0.0.1, ::1 or localhost (set a token to serve other names)",
            )
        origin, site = _header(scope, b"origin"), _header(scope, b"sec-fetch-site")
        if site == "cross-site" or (origin is not None and not is_loopback_host(urlsplit(origin).hostname or "")):
            opened = ""
            if session.is_console_path(scope["path"]) and scope.get("method") in ("GET", "HEAD"):
                # a console link followed from another site (mail, chat, a wiki): say how to open it
                url = str(Request(scope).url)
                opened = f"; to open this console page, paste its address into the browser yourself: {url}"
            return cls._forbidden(
                scope,
                f"cross-site request refused (Origin {origin or 'not sent'}, Sec-Fetch-Site {site or 'not sent'}): "
                "without LH_API_TOKEN only this machine's own pages and programs may call this API" + opened,
            )
        return None

    def _not_allowed(self, scope: Scope, address: Address | None) -> ASGIApp:
        return self._forbidden(scope, f"client address {address or 'unknown'} is not in LH_API_ALLOW")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refusal: ASGIApp | None = None
        address = self.client_address(scope)
        scope[CLIENT_KEY] = str(address) if address is not None else ""
        if self.allow and (address is None or not any(address in net for net in self.allow)):
            refusal = self._not_allowed(scope, address)
        if refusal is None and self.token_digest is None:
            refusal = self._from_a_web_page(scope)
        if refusal is None and self.token_digest is not None and not self._console_ok(scope):
            if not self._token_ok(scope):
                refusal = self._login_first(scope) if session.accepts_session(scope["path"]) else self._unauthorized()
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await refusal(scope, receive, send)


class NoFraming:
    """Every answer forbids being shown in another page's frame (clickjacking). A page served from
    another port of this host is same-site: framed, the console would get its cookie and its CSRF
    token, and a disguised click could promote a corpus or approve a run."""

    HEADERS = ((b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def unframed(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, unframed)
