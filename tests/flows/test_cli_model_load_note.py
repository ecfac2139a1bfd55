"""A one-shot command says "loading the embedding model…" when the model loads, so the quiet
seconds after it are explained; a call refused before any model loads says only why."""

from __future__ import annotations

from tests.fixtures import ratings
from tests.fixtures.cli import run_cli_process
from tests.fixtures.ratings import NURSE, logs
from tests.fixtures.vectors import HEALTH_MODEL

rating_home = ratings.rating_home  # the fixture: a writable copy of the health home
NOTE = "loading the embedding model… (a running `lakehouse api` makes this instant)"


def _cli(home, *args: str):
    env = {"LH_HOME": str(home), "LH_EMBED_MODEL": HEALTH_MODEL, "LH_PREFECT_AUTOSTART": "false"}
    return run_cli_process(*args, env=env)


def test_the_note_comes_when_the_model_loads_and_not_before_a_refusal(rating_home):
    searched = _cli(rating_home, "search", "ICU nurse", "--corpus", "health", "--json")
    assert searched.returncode == 0, searched.stderr
    assert searched.stderr.splitlines().count(NOTE) == 1

    unknown = _cli(rating_home, "rate", "ICU nurse", "--corpus", "health", "--good", "NOPE")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: rating rejected, nothing stored: --good: corpus 'health' has no id 'NOPE'"
    blank = _cli(rating_home, "rate", " ", "--corpus", "health", "--good", NURSE)
    assert (blank.returncode, blank.stderr.strip()) == (1, "error: field 'query': must not be blank")
    assert logs(rating_home) == (b"", b"")
