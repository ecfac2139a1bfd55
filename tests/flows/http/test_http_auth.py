"""Access control over a real server: token on every path, allowlist on the socket peer, proxies."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.http import auth
from flows.http.auth import AccessConfigError, check_bind
from lakehouse.config import Settings
from tests.fixtures.http import assert_error, make_settings, serve

TOKEN = "tok-7f3a9c1e5b2d4a6f8e0c"


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("locked"), api_token=TOKEN, api_allow=["127.0.0.0/8"])
    with serve(settings) as live:
        yield live


@pytest.mark.parametrize("path", ["/v1/observer/stats", "/v1/tables", "/docs", "/openapi.json", "/no/such/path"])
def test_no_token_is_401_on_every_path(locked, path):
    with locked.client() as c:
        error = assert_error(c.get(path), 401, "unauthorized", match="bearer token")
    assert TOKEN not in str(error)


def test_wrong_token_takes_the_same_path_as_no_token(locked, monkeypatch):
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    with locked.client() as c:
        missing = c.get("/v1/observer/stats")
        wrong = c.get("/v1/observer/stats", headers={"Authorization": "Bearer x" + TOKEN})
        short = c.get("/v1/observer/stats", headers={"Authorization": "Bearer a"})
        basic = c.get("/v1/observer/stats", headers={"Authorization": "Basic " + TOKEN})
    bodies = {r.content for r in (missing, wrong, short, basic)}
    assert len(bodies) == 1 and {r.status_code for r in (missing, wrong, short, basic)} == {401}
    assert all(r.headers["www-authenticate"] == "Bearer" for r in (missing, wrong, short, basic))
    # One constant-time compare of equal-length digests per request, whatever was sent.
    assert calls == [(32, 32)] * 4


def test_right_token_is_accepted(locked):
    with locked.client(headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert c.get("/v1/observer/stats").status_code == 200
        assert c.get("/openapi.json").status_code == 200


def test_peer_outside_allowlist_is_403_even_with_the_token(tmp_path):
    settings = make_settings(tmp_path, api_token=TOKEN, api_allow=["10.0.0.0/8", "192.168.7.7"])
    with serve(settings) as live, live.client(headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        assert_error(c.get("/v1/observer/stats"), 403, "forbidden", match=r"127\.0\.0\.1 is not in LH_API_ALLOW")
        # A forwarded header from an untrusted peer is ignored: no spoofing into the allowlist.
        spoofed = c.get("/v1/observer/stats", headers={"X-Forwarded-For": "10.1.2.3"})
        assert_error(spoofed, 403, "forbidden", match="127.0.0.1")


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(tmp_path):
    settings = make_settings(tmp_path, api_allow=["203.0.113.0/24"], api_trusted_proxies=["127.0.0.1", "198.51.100.10"])
    with serve(settings) as live, live.client() as c:
        assert c.get("/v1/observer/stats", headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 200
        # chain: client, then another trusted proxy; the right-most untrusted hop is the client
        chained = c.get("/v1/observer/stats", headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.10"})
        assert chained.status_code == 200
        # a client cannot prepend an allowed address: the right-most untrusted hop decides
        prepended = c.get("/v1/observer/stats", headers={"X-Forwarded-For": "203.0.113.5, 192.0.2.44"})
        assert_error(prepended, 403, "forbidden", match=r"192\.0\.2\.44")
        assert_error(c.get("/v1/observer/stats"), 403, "forbidden", match=r"127\.0\.0\.1")
        assert_error(
            c.get("/v1/observer/stats", headers={"X-Forwarded-For": "not-an-ip"}), 403, "forbidden", match="unknown"
        )


def test_open_loopback_server_needs_no_token(http_client):
    assert http_client.get("/v1/observer/stats").status_code == 200


def test_bind_checks(tmp_path):
    open_settings = Settings(home=tmp_path)
    assert check_bind("127.0.0.1", open_settings) == []
    assert check_bind("localhost", open_settings) == []
    assert check_bind("::1", open_settings) == []
    for host in ("0.0.0.0", "::", "192.168.1.10", "api.example.org"):
        with pytest.raises(AccessConfigError, match=f"refusing to listen on {host}: .*LH_API_TOKEN"):
            check_bind(host, open_settings)
    with_token = Settings(home=tmp_path, api_token=TOKEN)
    assert "LH_API_ALLOW" in check_bind("0.0.0.0", with_token)[0]
    assert check_bind("0.0.0.0", Settings(home=tmp_path, api_token=TOKEN, api_allow=["10.0.0.0/8"])) == []


def test_bad_allowlist_entry_fails_at_start(tmp_path):
    from flows.http import create_app

    with pytest.raises(AccessConfigError, match=r"LH_API_ALLOW: '10\.0\.0\.0/33' is not an IP address or CIDR"):
        create_app(Settings(home=tmp_path, api_allow=["10.0.0.0/33"]))


_ips = st.ip_addresses(v=4).map(str)


@given(chain=st.lists(_ips, max_size=6), peer_trusted=st.booleans())
def test_client_address_is_the_rightmost_untrusted_hop(chain, peer_trusted):
    from flows.http.auth import AccessControl

    proxies = ["198.51.100.0/24"]
    control = AccessControl(app=None, settings=Settings(home=Path("/nonexistent"), api_trusted_proxies=proxies))
    peer = "198.51.100.7" if peer_trusted else "192.0.2.1"
    headers = [(b"x-forwarded-for", ", ".join(chain).encode())] if chain else []
    found = str(control.client_address({"type": "http", "client": (peer, 5000), "headers": headers}))
    if not peer_trusted:
        assert found == peer  # an untrusted peer's header is never read
    else:
        untrusted = [ip for ip in chain if not ip.startswith("198.51.100.")]
        expected = untrusted[-1] if untrusted else (chain[0] if chain else peer)
        assert found == expected
