"""Output piped to a file or another program keeps each line whole. Off a terminal rich folded
plain lines at 80 columns, so `lakehouse main` printed `result: \\n/tmp/…/staffing-data-<run>.js\\non`
and `examples workers` cut its output path in two: a script reading the path got half of it."""

from __future__ import annotations

from tests.fixtures.cli import run_cli_process


def test_a_long_output_path_is_printed_whole_on_one_line(tmp_path):
    out = tmp_path / ("a-folder-with-a-long-name-" * 3) / "synthetic-workers.parquet"
    out.parent.mkdir()
    done = run_cli_process("examples", "workers", "--rows", "5", "--out", str(out), env={"LH_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "\n" not in line and line.startswith(f"wrote 5 synthetic workers to {out} (parquet, "), done.stdout
