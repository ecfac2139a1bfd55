"""A list or table setting given in the environment as something other than JSON is the user's
mistake, named with its variable. It was pydantic-settings' own error, an internal one (exit 2) that
named neither: `error: SettingsError: error parsing value for field "models" from source
"EnvSettingsSource"`."""

from __future__ import annotations

import pytest

from lakehouse.common.errors import SettingsError
from lakehouse.config import Settings
from tests.fixtures.cli import run_cli_process


@pytest.mark.parametrize("variable, value", [("LH_MODELS__WEAK_MODELS", "local_fast,cloud"), ("LH_MODELS", "notjson")])
def test_a_value_that_is_not_json_is_named_by_its_variable(lh_home, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^setting 'models': {variable}: a value is not valid JSON \(Expecting"):
        Settings()


def test_the_cli_says_so_and_exits_1(tmp_path):
    done = run_cli_process("ops", "stats", env={"LH_HOME": str(tmp_path), "LH_MODELS__TIERS": "notjson"})
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: setting 'models': LH_MODELS__TIERS: a value is not valid JSON"), done.stderr
    assert 'LH_MODELS__TIERS=\'{"local_fast": {"model": ' in done.stderr
