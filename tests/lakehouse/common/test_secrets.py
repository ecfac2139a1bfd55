"""One secrets module: the owner-only key file rule for settings and chat alike, the secret-name
word list, the masker."""

from __future__ import annotations

import logging

import pytest

from lakehouse.common.secrets import SecretFileError, is_secret_name, read_key_file, scrub
from lakehouse.config import ModelsSettings, ModelTier, Settings
from lakehouse.errors import UserError
from lakehouse.llm.chat import ChatNotConfigured, tier_key


def _key_file(tmp_path, mode: int, text: str = "sk-test-0123456789"):
    path = tmp_path / "openai.key"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def _settings(tmp_path, path) -> Settings:
    tier = ModelTier(model="openai/gpt-4o", api_key_file=str(path))
    return Settings(home=tmp_path / "home", models=ModelsSettings(tiers={"cloud": tier}))


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_an_owner_only_key_file_is_read(tmp_path, mode):
    assert read_key_file(_key_file(tmp_path, mode)) == "sk-test-0123456789"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_group_or_world_readable_key_file_is_refused(tmp_path, mode):
    path = _key_file(tmp_path, mode)
    with pytest.raises(SecretFileError, match=rf"^key {path} has mode 0{mode:o}: .*owner only \(chmod 600 {path}\)$"):
        read_key_file(path, "key")


def test_a_refused_key_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_key_file(tmp_path / "missing.key")


def test_chat_refuses_a_loose_key_file(tmp_path):
    path = _key_file(tmp_path, 0o644)
    tier = ModelTier(model="openai/gpt-4o", api_key_file=str(path))
    with pytest.raises(ChatNotConfigured, match=rf"tier 'cloud': key file {path} has mode 0644: .*\(chmod 600"):
        tier_key("cloud", tier)


def test_settings_refuse_a_loose_key_file_too(tmp_path, caplog):
    """Settings once read any key file to mask its value, loose or not; now they use the same
    owner-only reader as chat: a loose file is never read, and the log says why."""
    path = _key_file(tmp_path, 0o644, "sk-loose-0123456789")
    with caplog.at_level(logging.WARNING, logger="lakehouse.config"):
        values = _settings(tmp_path, path).secret_values()
    assert "sk-loose-0123456789" not in values
    assert f"tier 'cloud': key file {path} has mode 0644" in caplog.text and "chmod 600" in caplog.text


def test_settings_mask_the_value_of_an_owner_only_key_file(tmp_path):
    path = _key_file(tmp_path, 0o600, "sk-owner-0123456789")
    assert "sk-owner-0123456789" in _settings(tmp_path, path).secret_values()


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "lh_api_token", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "LH_HOME"])
def test_plain_names(name):
    assert not is_secret_name(name)


def test_scrub_masks_every_value():
    assert scrub("key sk-1 and sk-2", ["sk-1", "sk-2"]) == "key *** and ***"
    assert scrub(None, ["x"]) is None
