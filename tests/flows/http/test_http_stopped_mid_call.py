"""A call still running when `lakehouse api` stops (SIGTERM, its grace spent) leaves a failed op
saying so: the process exits within seconds whatever still runs, and the call's op, written when
the call ended, was never written (a chat waiting on a slow provider left no audit row)."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest

from tests.fixtures.http import api_process
from tests.fixtures.llm_server import running_fake_llm


def _ops(home) -> list[dict]:
    path = home / "home" / "ops.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


CALLS = {  # route, body, the op's mode
    "mode": ("/v1/modes/fixture.sleep", {"seconds": 30}, "fixture.sleep"),
    "chat": ("/v1/chat/completions", {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}, "llm.chat"),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_call_cut_by_the_api_stopping_is_recorded_as_failed(tmp_path, call):
    with running_fake_llm() as llm:
        llm.delay_s = 30.0  # a provider that takes its time
        tiers = {"default": "slow", "tiers": {"slow": {"model": "openai/slow-model", "api_base": llm.url}}}
        env = {"LH_API_STOP_GRACE_S": "1", "LH_MODELS": json.dumps(tiers)}
        with api_process(tmp_path, env=env) as (url, proc):
            path, body, mode = CALLS[call]
            answers: list[int] = []

            def ask() -> None:
                try:
                    answers.append(httpx.post(f"{url}{path}", json=body, timeout=60).status_code)
                except httpx.TransportError:
                    answers.append(0)

            asker = threading.Thread(target=ask)
            asker.start()
            begun = time.monotonic()
            while not (llm.requests if call == "chat" else time.monotonic() > begun + 2):
                assert time.monotonic() < begun + 30, "the call did not begin"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            asker.join(timeout=60)
        cut = [op for op in _ops(tmp_path) if op["mode"] == mode]
    assert len(cut) == 1, cut
    assert cut[0]["status"] == "failed" and cut[0]["source"] == "http"
    assert cut[0]["error"] == "the server stopped before the call ended (after its 1 s grace)"
