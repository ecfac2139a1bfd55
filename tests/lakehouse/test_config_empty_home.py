"""An empty LH_HOME is unset, as flows/prefect_env.py has always read it. Settings took it as the
path "": the ops log, catalog and objects went into the working directory itself while Prefect's
state went to ./.lakehouse/prefect, one lakehouse split over two folders."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from flows.prefect_env import home_dir as prefect_home_dir
from lakehouse.config import Settings, describe_settings_error


def test_an_empty_lh_home_is_the_default_home_for_settings_and_prefect_alike(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LH_CONFIG", "/dev/null")
    monkeypatch.setenv("LH_HOME", "")
    assert Settings().home_dir == tmp_path / ".lakehouse" == prefect_home_dir()


def test_an_empty_lh_home_leaves_the_settings_file_s_home(tmp_path, monkeypatch):
    config = tmp_path / "lakehouse.toml"
    config.write_text(f'home = "{tmp_path / "data"}"\n')
    monkeypatch.setenv("LH_CONFIG", str(config))
    monkeypatch.setenv("LH_HOME", "")
    assert Settings().home_dir == tmp_path / "data" == prefect_home_dir()


def test_an_empty_home_in_the_settings_file_is_refused_by_name(tmp_path, monkeypatch):
    config = tmp_path / "lakehouse.toml"
    config.write_text('home = ""\n')
    monkeypatch.setenv("LH_CONFIG", str(config))
    monkeypatch.delenv("LH_HOME", raising=False)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert describe_settings_error(caught.value) == (
        f"setting 'home' (LH_HOME or {config}): must name a folder (leave it out for the default, .lakehouse)"
    )
