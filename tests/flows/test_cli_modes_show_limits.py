"""`lakehouse modes show` gives what a `with:` value must be: each field's default and limits, and the
fields of the parts an output names (`hits: array[Hit]` -> Hit's fields, what `$search.output.hits.0.id`
may name). They were shown only in `--json`: `fixture.sleep seconds` read `number, yes` with nothing
of its 0..3600 range, and Hit's fields were nowhere."""

from __future__ import annotations

from tests.fixtures.cli import invoke_cli


def _row(output: str, field: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(f"│ {field} "))
    return [cell.strip() for cell in line.strip("│").split("│")]


def test_limits_defaults_and_the_parts_an_output_names(lh_home):
    sleep = invoke_cli("modes", "show", "fixture.sleep").stdout
    assert _row(sleep, "seconds")[:5] == ["seconds", "number", "yes", "", ">= 0, <= 3600"]
    search = invoke_cli("modes", "show", "matrix.search").stdout
    assert _row(search, "playbooks")[:5] == ["playbooks", "boolean", "", "true", ""]
    assert _row(search, "corpora")[4] == "items >= 1"
    after_hit = search.split("\nHit\n", 1)[1]
    assert _row(after_hit, "id")[:3] == ["id", "string", "yes"] and _row(after_hit, "boost")[3] == "0.0"
