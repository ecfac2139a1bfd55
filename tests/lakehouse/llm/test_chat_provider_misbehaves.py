"""A provider that misbehaves gets one bounded, clear failure: a hung one is not asked again inside
the call (its client retried a timeout twice: 3 x 120 s for one request), an answer with no choices
is a provider error (it was an IndexError, HTTP 500), and an error text of megabytes is cut."""

from __future__ import annotations

import pytest

from lakehouse.config import ModelsSettings, ModelTier
from lakehouse.llm.chat import PROVIDER_TEXT_SHOWN, ChatClient, redact_url
from lakehouse.llm.errors import ProviderError
from tests.fixtures.llm_server import running_fake_llm

HELLO = [{"role": "user", "content": "hello"}]


def _chat(fake_llm) -> ChatClient:
    return ChatClient(ModelsSettings(tiers={"fake": ModelTier(model="openai/fake-model", api_base=fake_llm.url)}))


def test_a_provider_that_does_not_answer_in_time_is_asked_once(fake_llm):
    fake_llm.delay_s = 3.0
    with pytest.raises(ProviderError, match=r"openai/fake-model: provider call failed: Timeout"):
        _chat(fake_llm).complete(HELLO, "fake", timeout_s=0.5)
    assert len(fake_llm.requests) == 1


def test_an_answer_that_trickles_in_is_cut_at_the_timeout(fake_llm):
    """Each byte came in time, so the read timeout never fired: one `ask` took 27 minutes."""
    fake_llm.trickle_s = 0.2  # a body of some 400 bytes: 5 s in all
    with pytest.raises(ProviderError, match=r"openai/fake-model: provider call failed: Timeout"):
        _chat(fake_llm).complete(HELLO, "fake", timeout_s=1.5)
    assert len(fake_llm.requests) == 1


def test_an_answer_without_choices_is_a_provider_error(fake_llm):
    fake_llm.no_choices = True
    with pytest.raises(ProviderError, match=r"openai/fake-model: the provider answered no choices"):
        _chat(fake_llm).complete(HELLO, "fake")


@pytest.mark.parametrize("chunks", [0, 1, 3])
def test_a_stream_cut_before_its_finish_reason_is_a_provider_error(fake_llm, chunks):
    """The connection dropped mid-answer: litellm made up `finish_reason: stop`, so a cut answer
    passed for a whole one."""
    fake_llm.reply = lambda body: "one two three four five"
    fake_llm.stream_cut_after = chunks
    stream = _chat(fake_llm).stream(HELLO, "fake")
    sent = " ".join(["one", "two", "three"][:chunks])
    received: list[str] = []
    with pytest.raises(
        ProviderError,
        match=rf"^openai/fake-model: the answer stopped before the provider said it was complete "
        rf"\(the stream ended with no finish reason after {len(sent)} characters\)$",
    ):
        received.extend(stream)
    assert "".join(received) == sent


def test_a_whole_stream_ends_with_the_providers_finish_reason(fake_llm):
    fake_llm.reply = lambda body: "one two three"
    fake_llm.finish_reason = "length"
    stream = _chat(fake_llm).stream(HELLO, "fake")
    assert "".join(stream) == "one two three" and stream.finish_reason == "length"


def test_a_huge_error_text_is_cut(fake_llm):
    fake_llm.fail_next, fake_llm.error_message = 1, "x" * 200_000
    with pytest.raises(ProviderError) as caught:
        _chat(fake_llm).complete(HELLO, "fake")
    message = str(caught.value)
    assert len(message) < PROVIDER_TEXT_SHOWN + 200 and message.endswith(" characters)")
    assert len(fake_llm.requests) == 1  # not retried either


def test_a_redirect_to_another_host_is_not_followed(fake_llm):
    """The api_base allow-list is checked on the address asked for; a redirect went elsewhere."""
    with running_fake_llm() as elsewhere:
        fake_llm.redirect_to = elsewhere.url
        with pytest.raises(ProviderError, match=r"openai/fake-model: provider call failed: .*307"):
            _chat(fake_llm).complete(HELLO, "fake")
        assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@llm.internal:8000/v1", "http://llm.internal:8000/v1"),
        (
            "https://llm.internal/v1?api-key=sk-1&api_version=2024",
            "https://llm.internal/v1?api-key=***&api_version=2024",
        ),
        ("https://llm.internal/v1?token=t0k", "https://llm.internal/v1?token=***"),
        ("https://llm.internal/v1", "https://llm.internal/v1"),
    ],
)
def test_a_shown_api_base_carries_no_credentials(url, shown):
    assert redact_url(url) == shown
