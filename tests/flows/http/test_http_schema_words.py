"""What an API caller reads in /openapi.json states limits and defaults in numbers, never as a
setting's name (issue 11.6)."""

from __future__ import annotations

from lakehouse.config import Settings


def test_the_api_schema_names_no_setting(http_client):
    schema = http_client.get("/openapi.json").text
    assert [name for name in Settings.model_fields if "_" in name and name in schema] == []
    assert Settings.model_fields["workflow_max_bytes"].default == 1 << 20 and "(at most 1 MiB)" in schema
