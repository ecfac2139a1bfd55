"""docs/CLI.md is the CLI's own --help of every command as Markdown (typer's `utils docs`, `make
docs`): regenerated here, it must equal the committed file, so the docs cannot fall behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_committed_command_docs_are_what_the_cli_says(tmp_path):
    out = tmp_path / "CLI.md"
    command = ["-m", "typer", "flows.cli", "utils", "docs", "--name", "lakehouse"]
    command += ["--title", "lakehouse: every command", "--output", str(out)]
    subprocess.run([sys.executable, *command], cwd=REPO, check=True, capture_output=True)

    committed = (REPO / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert committed == out.read_text(encoding="utf-8"), "docs/CLI.md is out of date: run `make docs`"
    assert "## `lakehouse gc`" in committed and "### `lakehouse corpus rollback`" in committed
