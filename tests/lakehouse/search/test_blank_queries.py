"""One rule for a blank query on every surface: spaces, zero-width spaces or control characters
alone. `rate` refused such a query, while `playbook record` / `import` stored it (it then voted on
short queries like "?") and `search` answered it with whatever was nearest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from flows.cli import app
from lakehouse.errors import LakehouseError
from modes.context import ModeContext
from modes.invoke import invoke_mode

BLANKS = ["   ", "\u200b", "\u200b \t", "\x07"]


@pytest.mark.parametrize("query", BLANKS)
def test_a_blank_query_is_not_recorded(lakehouse, query):
    entry = {"query": query, "answer": "e", "corpus": "c", "score": 1.0}
    with pytest.raises(LakehouseError, match=r"query'?: must not be blank"):
        invoke_mode("playbook.record", {"entries": [entry]}, ModeContext(lakehouse=lakehouse, source="mode"))
    assert list(lakehouse.playbooks.entries()) == []


@pytest.mark.parametrize("query", BLANKS)
def test_a_blank_search_is_refused(lakehouse, query):
    with pytest.raises(ValidationError, match=r"query\n  Value error, must not be blank"):
        invoke_mode("matrix.search", {"query": query, "corpora": ["c"]}, ModeContext(lakehouse, source="mode"))


def test_the_cli_says_it_too(lh_home):
    result = CliRunner().invoke(app, ["search", "\u200b", "--corpus", "c"])
    assert result.exit_code == 1 and "must not be blank" in result.output
