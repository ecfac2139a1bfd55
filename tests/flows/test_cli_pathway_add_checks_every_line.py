"""`pathway add --file` says "a bad line adds nothing", but a line whose metadata value the import
refuses (a nested object) failed alone while the other lines were added; and a repeated `--meta`
key silently kept the last value, where `search --filter` reads a repeated key as OR."""

from __future__ import annotations

import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.learning import write_jsonl


@pytest.fixture
def cli(lh_home, monkeypatch, tmp_path):
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")
    monkeypatch.chdir(tmp_path)
    return invoke_cli


def test_a_bad_metadata_value_on_one_line_adds_no_line(cli, lh_home, tmp_path):
    traces = write_jsonl(
        tmp_path / "pw3.jsonl",
        [{"text": "trace e", "id": "pe"}, {"text": "trace f", "metadata": {"k": {"n": 1}}}, {"text": "trace g"}],
    )
    err = " ".join(cli("pathway", "add", "--file", str(traces), code=1).stderr.split())
    assert (
        "pw3.jsonl: 1 line(s) are not valid traces; nothing was added line 2: metadata key 'k': values must be "
        "strings, numbers, booleans or lists of them" in err
    )
    assert not (lh_home / "pathway.jsonl").exists() or "trace e" not in (lh_home / "pathway.jsonl").read_text()


def test_a_meta_key_given_twice_is_refused(cli, lh_home):
    err = " ".join(cli("pathway", "add", "trace a", "--meta", "a=1", "--meta", "a=2", code=1).stderr.split())
    assert "--meta 'a' is given twice (a=1, a=2): a trace keeps one value per key" in err
    assert "added" in cli("pathway", "add", "trace a", "--meta", "a=[1, 2]").stdout
