"""`lakehouse.common.paths`: the one rule for the paths a mode reads or writes (issue 9, defect 1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lakehouse.common.paths import PathNotAllowed, allowed_roots, resolve_path
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from modes.context import ModeContext


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def settings(home) -> Settings:
    return Settings(home=home)


def test_relative_path_is_under_home(settings, home):
    (home / "data").mkdir()
    (home / "data" / "x.csv").write_text("a\n1\n")
    assert resolve_path("data/x.csv", settings, field="path") == home / "data" / "x.csv"


def test_inbox_is_a_root(settings, home):
    assert resolve_path(str(home / "inbox" / "up.csv"), settings) == home / "inbox" / "up.csv"
    assert allowed_roots(settings)[:2] == [home, home / "inbox"]


def test_absolute_path_outside_is_refused_naming_field_value_and_roots(settings, home):
    with pytest.raises(
        PathNotAllowed,
        match=r"^path: '/etc/passwd' is outside the allowed roots; "
        rf"allowed roots: {home}, {home}/inbox$",
    ) as info:
        resolve_path("/etc/passwd", settings, field="path")
    assert isinstance(info.value, ValueError)  # HTTP answers 4xx, the CLI exits 1
    assert (info.value.field, info.value.value) == ("path", "/etc/passwd")


def test_dotdot_is_refused(settings):
    with pytest.raises(PathNotAllowed, match=r"^out_path: '\.\./\.\./etc/x' contains '\.\.'"):
        resolve_path("../../etc/x", settings, field="out_path", for_write=True)


def test_dotdot_that_stays_inside_is_refused_too(settings):
    with pytest.raises(PathNotAllowed, match=r"evidence_path: 'a/\.\./b\.jsonl' contains '\.\.'"):
        resolve_path("a/../b.jsonl", settings, field="evidence_path")


def test_symlink_inside_home_pointing_outside_is_refused(settings, home, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("a\n1\n")
    (home / "innocent").symlink_to(outside)
    (home / "file.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(
        PathNotAllowed, match=r"^path: 'innocent/secret\.csv' leads outside the allowed roots through a symlink"
    ):
        resolve_path("innocent/secret.csv", settings, field="path")
    with pytest.raises(PathNotAllowed, match=r"^path: 'file\.csv' leads outside the allowed roots through a symlink"):
        resolve_path("file.csv", settings, field="path")


def test_symlinked_parent_of_a_new_write_target_is_refused(settings, home, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (home / "reports").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PathNotAllowed, match=r"^out_dir: 'reports/new/run1' leads outside"):
        resolve_path("reports/new/run1", settings, field="out_dir", for_write=True)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_symlink_inside_home_pointing_inside_is_followed(settings, home):
    (home / "real.csv").write_text("a\n1\n")
    (home / "alias.csv").symlink_to(home / "real.csv")
    assert resolve_path("alias.csv", settings) == home / "real.csv"  # the caller opens the target


def test_nul_byte_is_refused(settings):
    with pytest.raises(PathNotAllowed, match=r"^path: 'x\\x00\.csv' contains a NUL byte"):
        resolve_path("x\x00.csv", settings, field="path")


def test_nul_byte_is_refused_even_when_trusted(settings):
    with pytest.raises(PathNotAllowed, match=r"contains a NUL byte"):
        resolve_path("/tmp/x\x00.csv", settings, trusted=True)


def test_empty_path_is_refused(settings):
    with pytest.raises(PathNotAllowed, match=r"^a_path: '' is empty"):
        resolve_path("", settings, field="a_path")


def test_allowed_roots_setting_admits_a_root(home, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert resolve_path(str(data / "x.csv"), Settings(home=home, allowed_roots=[data])) == data / "x.csv"
    with pytest.raises(PathNotAllowed, match=rf"allowed roots: {home}, {home}/inbox, {data}$"):
        resolve_path(str(tmp_path / "other.csv"), Settings(home=home, allowed_roots=[data]))


@pytest.mark.parametrize("form", ["comma", "json"])
def test_allowed_roots_from_the_environment(home, tmp_path, monkeypatch, form):
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("LH_ALLOWED_ROOTS", f"{a}, {b}" if form == "comma" else f'["{a}", "{b}"]')
    settings = Settings(home=home)
    assert settings.allowed_roots == [a, b]
    assert resolve_path(str(b / "x.csv"), settings) == b / "x.csv"


def test_nonexistent_write_target_under_home_is_ok(settings, home):
    target = resolve_path("out/new/scored.jsonl", settings, field="out_path", for_write=True)
    assert target == home / "out" / "new" / "scored.jsonl" and not target.parent.exists()


@pytest.mark.parametrize(
    "name",
    [
        "ops.jsonl",
        "catalog.db",
        "playbooks.jsonl",
        "objects/x",
        "warehouse/t/m.json",
        "locks/corpus-jobs.lock",
        "evidence.jsonl",
        "api.json",
        "models/lakehouse-local/model.gguf",
        "tmp/duckdb/x",
        "ops.jsonl.flushed",
        "playbooks.jsonl.flush.lock",
        "prefect-server.lock",
        "drift/nightly-2026-12-06.json",  # the console shows these as the lakehouse's own reports
        "adapt/occupations-report.md",
        "lift/forged/lift-report.md",
        "runs/staffing-data-fe787a41-ad17-4298-a363-ca35ff01a001.json",  # the main job's results
    ],
)
def test_untrusted_write_over_the_lakehouse_state_is_refused(settings, name):
    with pytest.raises(PathNotAllowed, match=rf"^out_path: '{name}' would write over the lakehouse's own state"):
        resolve_path(name, settings, field="out_path", for_write=True)


def test_an_evidence_log_moved_by_the_settings_is_the_lakehouse_state_too(home):
    settings = Settings(home=home, drift_evidence="ratings/evidence.jsonl")
    with pytest.raises(PathNotAllowed, match=r"^path: 'ratings/evidence\.jsonl' would write over the lakehouse's own"):
        resolve_path("ratings/evidence.jsonl", settings, for_write=True)
    with pytest.raises(PathNotAllowed, match=r"^path: 'ratings/evidence\.jsonl\.flushed' would write over"):
        resolve_path("ratings/evidence.jsonl.flushed", settings, for_write=True)
    # distillation and drift read the history: reading it is allowed, and so is a file of the old name
    assert resolve_path("ratings/evidence.jsonl", settings) == home / "ratings" / "evidence.jsonl"
    assert resolve_path("evidence.jsonl", settings, for_write=True) == home / "evidence.jsonl"


@pytest.mark.parametrize("name", ["catalog.db", "prefect/profiles.toml", "ops.jsonl"])
def test_untrusted_read_of_the_lakehouse_state_is_refused(settings, home, name):
    with pytest.raises(PathNotAllowed, match=rf"^path: '{name}' is the lakehouse's own state"):
        resolve_path(name, settings, field="path")


def test_a_model_key_file_inside_a_root_is_refused(home, tmp_path):
    from lakehouse.config import ModelsSettings, ModelTier

    key = home / "keys" / "openai.key"
    key.parent.mkdir()
    key.write_text("sk-secret")
    settings = Settings(home=home, models=ModelsSettings(tiers={"t": ModelTier(model="m", api_key_file=str(key))}))
    with pytest.raises(PathNotAllowed, match=r"^path: 'keys/openai\.key' is a secret file"):
        resolve_path("keys/openai.key", settings, field="path")


def test_the_settings_file_inside_a_root_is_refused(home, monkeypatch):
    config = home / "lakehouse.toml"
    config.write_text('api_token = "secret-token"\n')
    monkeypatch.setenv("LH_CONFIG", str(config))
    with pytest.raises(PathNotAllowed, match=r"^path: 'lakehouse\.toml' is a secret file"):
        resolve_path("lakehouse.toml", Settings(home=home), field="path")


def test_trusted_caller_may_name_any_file(settings, tmp_path):
    outside = tmp_path / "mine.csv"
    assert resolve_path(str(outside), settings, trusted=True) == outside
    assert resolve_path("rel.csv", settings, trusted=True, base=tmp_path) == tmp_path / "rel.csv"


def test_jsonl_output_is_never_written_through_a_planted_link(home, tmp_path):
    from lakehouse.common.recordfile import write_json_lines_atomic

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (home / ".out.jsonl.tmp").symlink_to(victim)
    (home / "out.jsonl").symlink_to(victim)
    write_json_lines_atomic(home / "out.jsonl", [{"a": 1}])
    assert victim.read_text() == "keep me\n"
    assert (home / "out.jsonl").read_text() == '{"a":1}\n' and not (home / "out.jsonl").is_symlink()


def test_mode_context_is_untrusted_by_default_and_standalone_is_trusted(settings, tmp_path):
    lakehouse = Lakehouse(settings)
    try:
        assert ModeContext(lakehouse=lakehouse).trusted_paths is False
        with pytest.raises(PathNotAllowed, match=r"^evidence_path: "):
            ModeContext(lakehouse=lakehouse).path(str(tmp_path / "e.jsonl"), field="evidence_path")
        cli = ModeContext.standalone(lakehouse)
        assert cli.trusted_paths is True and cli.path(str(tmp_path / "e.jsonl"), field="x") == tmp_path / "e.jsonl"
        old_cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            assert cli.path("in.csv", field="path", cwd_relative=True) == tmp_path / "in.csv"
            assert cli.path("in.csv", field="path") == settings.home_dir / "in.csv"
        finally:
            os.chdir(old_cwd)
    finally:
        lakehouse.close()


def test_the_job_reports_may_be_read(settings, home):
    assert resolve_path("drift/nightly-2026-12-06.json", settings) == home / "drift" / "nightly-2026-12-06.json"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a" * 5_000, r"has a name of 5,000 bytes; at most 255"),
        ("d/" * 2_100 + "f", r"is 4,201 bytes long; at most 4,096"),
    ],
)
def test_a_path_too_long_for_the_file_system_is_named(settings, value, reason):
    """ENAMETOOLONG was an internal error (500) from every mode that takes a path."""
    with pytest.raises(PathNotAllowed, match=rf"^path: '.*' {reason}"):
        resolve_path(value, settings)
