"""Access control: an IP allowlist on the socket peer, then a Bearer token, on every path.

X-Forwarded-For is believed only when the socket peer is a configured proxy; the client is then
the right-most address in the chain that is not itself a trusted proxy. The token check hashes
both sides and compares the digests with `hmac.compare_digest`, so a missing token, a short one and
a wrong one all take the same path and the same time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from flows.errors import AccessConfigError
from flows.http.errors import error_response
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


def check_bind(host: str, settings: Settings) -> list[str]:
    """Refuse a non-loopback bind without a token; return warnings for a weak but allowed setup."""
    if is_loopback_host(host):
        return []
    if not settings.api_token:
        raise AccessConfigError(
            f"refusing to listen on {host}: it is not a loopback address and no API token is set. "
            "Set LH_API_TOKEN (and LH_API_ALLOW, a list of CIDRs) or bind to 127.0.0.1"
        )
    if not settings.api_allow:
        return [f"listening on {host} with a token but no LH_API_ALLOW: any address may try the token"]
    return []


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class AccessControl:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allow = parse_networks(settings.api_allow, "LH_API_ALLOW")
        self.proxies = parse_networks(settings.api_trusted_proxies, "LH_API_TRUSTED_PROXIES")
        self.token_digest = _digest(settings.api_token) if settings.api_token else None

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
        # Always one compare of two equal-length digests, whatever was (or was not) sent.
        return hmac.compare_digest(_digest(given.strip()), self.token_digest or b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refusal = None
        if self.allow:
            address = self.client_address(scope)
            if address is None or not any(address in net for net in self.allow):
                refusal = error_response(
                    403, "forbidden", f"client address {address or 'unknown'} is not in LH_API_ALLOW"
                )
        if refusal is None and self.token_digest is not None and not self._token_ok(scope):
            refusal = error_response(
                401,
                "unauthorized",
                "missing or invalid bearer token (send 'Authorization: Bearer <token>')",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await refusal(scope, receive, send)
