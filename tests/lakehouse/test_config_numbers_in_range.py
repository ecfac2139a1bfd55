"""Numeric settings out of their range are refused by name at start. They were taken as given:
LH_RELEVANCE_THRESHOLD=nan made every search answer no hit (exit 0), LH_OPS_SUMMARY_CHARS=-1 cut
the last character off every op's recorded input and output, LH_OPS_RING_SIZE=-5 became a ring of
one, and LH_MATRIX_TOP_N=0 failed each search with a message about `top_n`, a field nobody set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lakehouse.config import Settings, describe_settings_error


@pytest.mark.parametrize(
    "variable, value, problem",
    [
        ("LH_RELEVANCE_THRESHOLD", "nan", "Input should be less than or equal to 1"),
        ("LH_OPS_SUMMARY_CHARS", "-1", "Input should be greater than or equal to 0"),
        ("LH_OPS_RING_SIZE", "-5", "Input should be greater than or equal to 1"),
        ("LH_MATRIX_TOP_N", "0", "Input should be greater than or equal to 1"),
        ("LH_EMBED_BATCH_SIZE", "0", "Input should be greater than or equal to 1"),
        ("LH_HNSW_EF", "-3", "Input should be greater than or equal to 1"),
        ("LH_PLAYBOOK_HALF_LIFE_DAYS", "0", "Input should be greater than 0"),
        ("LH_DRIFT_ALPHA", "5", "Input should be less than 1"),
        ("LH_PUT_CAP_BYTES", "-1", "Input should be greater than or equal to 1"),
        # the Prefect server we start is given it as its flow-run retention, which must be over an hour
        ("LH_HISTORY_KEPT_DAYS", "0.04", "Input should be greater than or equal to 1"),
    ],
)
def test_a_number_out_of_range_is_refused_naming_the_variable(lh_home, monkeypatch, variable, value, problem):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    field = variable.removeprefix("LH_").lower()
    assert describe_settings_error(caught.value).startswith(f"setting '{field}' ({variable} or ")
    assert describe_settings_error(caught.value).endswith(f": {problem}")


def test_the_defaults_and_the_values_the_project_uses_are_in_range(lh_home, monkeypatch):
    monkeypatch.setenv("LH_EMBED_CACHE_SIZE", "0")  # no cache (benches)
    monkeypatch.setenv("LH_HNSW_THREADS", "0")  # one per core
    monkeypatch.setenv("LH_OPS_SUMMARY_CHARS", "0")  # digests only
    monkeypatch.setenv("LH_PLAYBOOK_HALF_LIFE_DAYS", "inf")  # no decay
    settings = Settings()
    assert (settings.embed_cache_size, settings.ops_summary_chars) == (0, 0)
    assert settings.relevance_threshold == 0.25 and settings.matrix_top_n == 8
