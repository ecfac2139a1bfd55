"""`lakehouse ask --json` in a process of its own prints only the JSON on stdout: litellm's INFO
lines (its loggers take the root's level once Prefect set up logging) came first and broke `| jq`."""

from __future__ import annotations

import json

from tests.fixtures import ask as ask_fixtures
from tests.fixtures.ask import XRAY, cite_first_two, judge_models
from tests.fixtures.cli import run_cli_process
from tests.fixtures.vectors import HEALTH_MODEL

ask_home = ask_fixtures.ask_home  # the fixture: a writable copy of the health home


def test_stdout_is_the_json_alone(ask_home, fake_llm):
    fake_llm.reply = cite_first_two
    env = {
        "LH_HOME": str(ask_home),
        "LH_EMBED_MODEL": HEALTH_MODEL,
        "LH_CLI_USE_API": "false",
        "LH_PREFECT_AUTOSTART": "false",
        "LH_MODELS": judge_models(fake_llm).model_dump_json(),
    }
    done = run_cli_process("ask", XRAY, "--corpus", "health", "--top", "4", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["citations"]  # the whole of stdout parses
