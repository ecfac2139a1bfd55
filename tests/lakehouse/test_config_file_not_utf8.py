"""A settings file that is not UTF-8 text is the user's mistake, named with the file. It was an
internal error (exit 2) naming no file: `error: UnicodeDecodeError: 'utf-8' codec can't decode byte
0xff in position 0: invalid start byte`."""

from __future__ import annotations

from tests.fixtures.cli import run_cli_process


def test_a_latin1_settings_file_is_named_and_exits_1(tmp_path):
    config = tmp_path / "lakehouse.toml"
    config.write_bytes('api_token = "caf\u00e9"\n'.encode("latin-1"))
    done = run_cli_process("tables", env={"LH_CONFIG": str(config), "LH_HOME": str(tmp_path / "home")})
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: settings file {config}: not UTF-8 text (byte 0xe9 at offset 16): save it as UTF-8\n"
