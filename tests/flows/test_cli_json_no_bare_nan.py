"""`--json` output is JSON that every parser reads: a NaN or infinite number is written as the string
`lakehouse sql --json` already writes. `ops sql` and `ops stats` printed a bare `NaN` (one op line
holding `"duration_ms": NaN` made p50 and p95 NaN), which JavaScript, Go and strict parsers refuse."""

from __future__ import annotations

import json

from tests.fixtures.cli import invoke_cli


def _strict(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_ops_sql_writes_non_finite_numbers_as_strings(lh_home):
    result = invoke_cli("ops", "sql", "select 'nan'::double as a, 'inf'::double as b, -'inf'::double as c", "--json")
    assert _strict(result.stdout) == {"columns": ["a", "b", "c"], "rows": [["NaN", "Infinity", "-Infinity"]]}
