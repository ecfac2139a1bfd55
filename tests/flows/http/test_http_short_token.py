"""A 3-character LH_API_TOKEN was accepted for an API listening beyond loopback: guessed by trying,
and too short to be masked in logs and ops. Such a bind is refused, naming the length and the way
to make a token; loopback binds need no token and are unchanged."""

from __future__ import annotations

import pytest

from flows.http.auth import AccessConfigError, check_bind
from lakehouse.config import Settings


def test_a_short_token_is_refused_for_a_bind_beyond_loopback(tmp_path):
    with pytest.raises(AccessConfigError, match=r"LH_API_TOKEN has 3 characters, .* use at least 16"):
        check_bind("0.0.0.0", Settings(home=tmp_path, api_token="abc", api_allow=["10.0.0.0/8"]))


def test_loopback_needs_no_token_at_all(tmp_path):
    assert check_bind("127.0.0.1", Settings(home=tmp_path, api_token="abc")) == []
