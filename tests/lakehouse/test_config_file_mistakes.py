"""Mistakes in where settings come from, each of which did something silent or unclear: a
misspelt key in lakehouse.toml or in an LH_* variable did nothing, a TOML syntax error was an
internal error (exit 2) without the file's name, and an LH_CONFIG naming no file fell back to the
defaults and made a fresh lakehouse in the working directory."""

from __future__ import annotations

import logging
import os

import pytest
from pydantic import ValidationError

from lakehouse.common.errors import SettingsError
from lakehouse.config import Settings, describe_settings_error, get_settings, reset_settings
from tests.fixtures.cli import run_cli_process


@pytest.fixture
def settings_file(tmp_path, monkeypatch):
    path = tmp_path / "lakehouse.toml"
    monkeypatch.setenv("LH_CONFIG", str(path))
    return path


def test_a_key_that_is_no_setting_is_refused_with_the_setting_it_resembles(settings_file):
    settings_file.write_text('sql_timeout = 5\nhome = "/tmp/x"\n')
    with pytest.raises(
        SettingsError,
        match=rf"settings file {settings_file}: not a setting: 'sql_timeout'; did you mean 'sql_timeout_s'\?",
    ):
        Settings()


@pytest.mark.parametrize(
    "text, said",
    [
        # a misspelt key inside the models table is named by its path
        (
            '[models]\ndefualt = "local_fast"\n',
            "setting 'models.defualt' (LH_MODELS__DEFUALT or {file}): not a setting",
        ),
        # a bad value names the variable and the file it may come from
        (
            "sql_row_cap = -5\n",
            "setting 'sql_row_cap' (LH_SQL_ROW_CAP or {file}): Input should be greater than or equal to 0",
        ),
    ],
)
def test_a_bad_setting_is_named_as_the_user_sets_it(settings_file, text, said):
    settings_file.write_text(text)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert describe_settings_error(caught.value) == said.format(file=settings_file)


def test_an_lh_config_that_names_no_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_CONFIG", str(tmp_path / "lakehose.toml"))
    with pytest.raises(
        SettingsError, match=r"LH_CONFIG names '.*lakehose\.toml', which does not exist: .*/dev/null for none"
    ):
        Settings()


def test_a_misspelt_environment_variable_is_warned_of_and_the_user_s_own_are_not(monkeypatch, caplog):
    monkeypatch.setenv("LH_SQL_TIMEOUT", "5")
    monkeypatch.setenv("LH_OPENAI_KEY", "sk-their-own")  # a model tier's key variable, say
    reset_settings()
    try:
        with caplog.at_level(logging.WARNING, logger="lakehouse.config"):
            assert get_settings().sql_timeout_s == 30.0
    finally:
        reset_settings()
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "environment variable LH_SQL_TIMEOUT is not a setting and is ignored; did you mean LH_SQL_TIMEOUT_S?"
    ]


def test_a_toml_syntax_error_is_the_user_s_mistake_named_with_its_file(tmp_path):
    config = tmp_path / "lakehouse.toml"
    config.write_text('home = "/tmp/x"\n[models\n')
    done = run_cli_process("tables", env={"LH_CONFIG": str(config), "LH_HOME": str(tmp_path / "home")})
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"error: settings file {config}: not valid TOML: Expected ']'"), done.stderr
    assert "(at line 2, column 8)" in done.stderr and "Traceback" not in done.stderr


def test_devnull_is_no_settings_file(monkeypatch):
    monkeypatch.setenv("LH_CONFIG", os.devnull)
    assert Settings().sql_timeout_s == 30.0
