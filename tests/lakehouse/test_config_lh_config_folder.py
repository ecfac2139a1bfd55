"""LH_CONFIG naming a folder is refused, as LH_CONFIG naming nothing is. It was read as no settings
file: the defaults applied without a word and a fresh lakehouse was made in the working directory."""

from __future__ import annotations

import pytest

from lakehouse.common.errors import SettingsError
from lakehouse.config import Settings


def test_an_lh_config_that_names_a_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LH_CONFIG", str(tmp_path))
    with pytest.raises(
        SettingsError,
        match=rf"^LH_CONFIG names '{tmp_path}', which is a folder: give the path of a lakehouse.toml "
        r"\(/dev/null for none\)$",
    ):
        Settings()
