"""`lakehouse --version` names the installed release (a script could not tell which one it drove)."""

from __future__ import annotations

from importlib.metadata import version

from tests.fixtures.cli import invoke_cli


def test_version_prints_the_installed_release_and_runs_nothing():
    result = invoke_cli("--version")
    assert result.stdout == f"lakehouse {version('lakehouse')}\n"
