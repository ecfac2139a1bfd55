from __future__ import annotations

import pytest

from lakehouse.config import Settings


def test_defaults_then_toml_then_environment(tmp_path, monkeypatch, lh_home):
    assert Settings().matrix_top_n == 8
    toml = tmp_path / "lakehouse.toml"
    toml.write_text(
        'matrix_top_n = 5\nsql_row_cap = 7\n[models]\ndefault = "local_fast"\n'
        '[models.tiers.local_fast]\nmodel = "ollama_chat/llama3"\n'
    )
    monkeypatch.setenv("LH_CONFIG", str(toml))
    settings = Settings()
    assert (settings.matrix_top_n, settings.sql_row_cap) == (5, 7)
    assert settings.models.tiers["local_fast"].model == "ollama_chat/llama3"
    monkeypatch.setenv("LH_MATRIX_TOP_N", "3")
    assert Settings().matrix_top_n == 3
    assert Settings().sql_row_cap == 7


def test_home_holds_all_local_state(lh_home):
    settings = Settings()
    assert settings.home_dir == lh_home.resolve()
    assert settings.objects.startswith("file://") and str(lh_home) in settings.objects
    assert str(lh_home) in settings.catalog
    assert settings.ops_log.parent == lh_home.resolve()


def test_secrets_are_redacted(monkeypatch, lh_home):
    monkeypatch.setenv("LH_API_TOKEN", "s3cr3t")
    assert "s3cr3t" not in str(Settings().redacted())


@pytest.mark.parametrize("url", ["s3://lhb/../evil", "s3:///warehouse", "s3://lhb/a//b", "s3://lhb/./x"])
def test_an_s3_warehouse_url_with_an_empty_or_dot_part_is_refused_by_name(url):
    """pyarrow read `s3://lhb/../evil` as the bucket `evil` (NO_SUCH_BUCKET at the first write)."""
    refused = r"warehouse_url\n.*must be s3://bucket\[/prefix\] with no empty, '\.' or '\.\.' part"
    with pytest.raises(ValueError, match=refused):
        Settings(warehouse_url=url)


@pytest.mark.parametrize("url", ["s3://lhb", "s3://lhb/wh/", "s3://lhb/ware house %41/ü", "file:///tmp/wh"])
def test_ordinary_warehouse_urls_pass(url):
    assert Settings(warehouse_url=url).warehouse == url
