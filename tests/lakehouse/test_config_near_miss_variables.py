"""An LH_ variable that misses a setting by its suffix or by two swapped letters is warned of, as a
close misspelling already was. `LH_CATALOG=postgresql://…` (the setting is LH_CATALOG_URL) was
ignored without a word and the catalog was the local SQLite file; `LH_HOEM=/data` left the lakehouse
in ./.lakehouse."""

from __future__ import annotations

import logging

import pytest

from lakehouse.config import get_settings, reset_settings


@pytest.mark.parametrize(
    "variable, meant",
    [
        ("LH_CATALOG", "LH_CATALOG_URL"),
        ("LH_OBJECTS", "LH_OBJECTS_URL"),
        ("LH_DASK", "LH_DASK_ADDRESS"),
        ("LH_HOEM", "LH_HOME"),
        ("LH_SQL_TIMOUT_S", "LH_SQL_TIMEOUT_S"),
    ],
)
def test_a_near_miss_is_warned_of_with_the_setting_it_misses(lh_home, monkeypatch, caplog, variable, meant):
    monkeypatch.setenv(variable, "postgresql://catalog.example/lakehouse")
    reset_settings()
    with caplog.at_level(logging.WARNING, logger="lakehouse.config"):
        get_settings()
    assert [r.getMessage() for r in caplog.records] == [
        f"environment variable {variable} is not a setting and is ignored; did you mean {meant}?"
    ]


def test_the_user_s_own_variables_are_left_alone(lh_home, monkeypatch, caplog):
    monkeypatch.setenv("LH_OPENAI_KEY", "sk-their-own")
    monkeypatch.setenv("LH_TEAM", "search")
    reset_settings()
    with caplog.at_level(logging.WARNING, logger="lakehouse.config"):
        get_settings()
    assert caplog.records == []
