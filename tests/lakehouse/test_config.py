from __future__ import annotations

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
