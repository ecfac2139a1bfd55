"""Issue 11.6 through the real CLI: `lakehouse search --top 10` gives 10 hits (the per-corpus
default is 6), with and without a metadata filter that drops candidates, and `--help` states the
defaults in words and numbers, never as setting names."""

from __future__ import annotations

import json

import pytest
import typer

from flows.cli import app
from lakehouse.config import Settings, reset_settings
from tests.fixtures.cli import invoke_cli
from tests.fixtures.vectors import HEALTH_MODEL

NURSE = "registered nurse for a hospital ward"


@pytest.fixture
def health_env(health_home, monkeypatch):
    """The CLI's settings point at the session's `health` lakehouse (96 real O*NET rows, wordllama)."""
    monkeypatch.setenv("LH_HOME", str(health_home))
    monkeypatch.setenv("LH_EMBED_MODEL", HEALTH_MODEL)
    monkeypatch.setenv("LH_CLI_USE_API", "false")
    reset_settings()
    yield health_home
    reset_settings()


def _search(*args: str) -> dict:
    return json.loads(invoke_cli("search", *args, "--json").stdout)


def test_search_top_10_gives_10_hits_with_the_default_per_corpus(health_env):
    out = _search(NURSE, "--corpus", "health", "--top", "10")
    assert out["count"] == len(out["hits"]) == 10
    assert len({h["id"] for h in out["hits"]}) == 10
    assert _search(NURSE, "--corpus", "health", "--top", "10", "--per-corpus", "2")["count"] == 10


def test_search_top_10_with_a_filter_that_drops_candidates(health_env):
    out = _search(NURSE, "--corpus", "health", "--top", "10", "--filter", "group=29-2", "--no-relevance")
    assert out["metadata_filter_dropped"] > 0 and out["count"] == 10
    assert all(h["metadata"]["group"] == "29-2" for h in out["hits"])


def _search_help() -> dict[str, str]:
    command = typer.main.get_command(app).commands["search"]  # type: ignore[attr-defined]
    return {opt: " ".join((p.help or "").split()) for p in command.params for opt in p.opts}


def test_search_help_states_defaults_in_words_and_numbers():
    defaults = Settings.model_fields
    top, per_corpus = defaults["matrix_top_n"].default, defaults["matrix_top_k"].default
    helps = _search_help()
    assert helps["--top"] == f"How many hits you get when that many pass the filters (default {top})."
    assert f"(default {per_corpus}, at least --top;" in helps["--per-corpus"]
    assert "(default: on)" in helps["--relevance"]
    rendered = " ".join(invoke_cli("search", "--help").stdout.replace("│", " ").split())
    assert f"(default {top})" in rendered and f"(default {per_corpus}, at least --top" in rendered
    for text in (*helps.values(), rendered):
        assert "Settings" not in text and "matrix_top" not in text and "relevance_filter" not in text


def test_matrix_search_mode_describes_its_defaults_in_words_and_numbers():
    from modes.catalog.matrix import SearchIn

    fields = SearchIn.model_fields
    top, per_corpus = Settings.model_fields["matrix_top_n"].default, Settings.model_fields["matrix_top_k"].default
    assert fields["top_n"].description == f"how many hits you get when that many pass the filters (default {top})"
    assert f"(default {per_corpus}, at least top_n;" in (fields["top_k"].description or "")
    schema = json.dumps(SearchIn.model_json_schema())
    assert "Settings" not in schema and "matrix_top" not in schema
