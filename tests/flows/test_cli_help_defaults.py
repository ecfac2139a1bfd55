"""Every `--help` of the CLI states its defaults in words and numbers, never as a setting's name
(issue 11.6): a user reading `lakehouse gc --help` should not need to know the Settings class."""

from __future__ import annotations

import typer

from flows.cli import app
from lakehouse.config import Settings
from tests.fixtures.cli import invoke_cli


def _helps(command, path: str = "lakehouse") -> dict[str, str]:
    """Each command's help and each of its options' help, by `command --option` path (typer brings
    its own copy of click, so commands are walked by what they offer, not by class)."""
    out = {path: command.help or ""}
    for param in command.params:
        if getattr(param, "help", None) is not None and not getattr(param, "hidden", False):
            out[f"{path} {param.opts[0]}"] = param.help
    if hasattr(command, "list_commands"):
        ctx = typer.Context(command)
        for name in command.list_commands(ctx):
            out |= _helps(command.get_command(ctx, name), f"{path} {name}")
    return out


def test_no_help_names_a_setting():
    setting_names = [name for name in Settings.model_fields if "_" in name]
    named = {
        where: [name for name in setting_names if name in text]
        for where, text in _helps(typer.main.get_command(app)).items()
        if any(name in text for name in setting_names)
    }
    assert named == {}


def test_the_defaults_the_helps_state_are_the_settings_defaults():
    rendered = {
        command: " ".join(invoke_cli(*command.split(), "--help").stdout.replace("│", " ").split())
        for command in ("gc", "sql", "lift run")
    }
    fields = Settings.model_fields
    assert fields["table_gc_older_than_s"].default == 3600
    assert "(90s, 30m, 1h, 2d, or seconds; default 1h)" in rendered["gc"]
    assert fields["history_kept_days"].default == 90
    assert "(1h at least; default 90d, or LH_HISTORY_KEPT_DAYS days)" in rendered["gc"]
    assert f"Return at most N rows (default {fields['sql_row_cap'].default:,})" in rendered["sql"]
    assert f"weight for this run, in (0, 5] (default {fields['playbook_boost'].default})" in rendered["lift run"]
    assert f"never vote, in [-1, 1) (default {fields['playbook_min_similarity'].default})" in rendered["lift run"]
