"""Assembling the embedded model from its part packages (small real packages on sys.path)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from lakehouse.errors import ErrorKind
from lakehouse.llm.embedded import assemble, installed, part_files
from lakehouse.llm.errors import EmbeddedChecksumMismatch, EmbeddedModelNotInstalled, EmbeddedPartMissing
from tests.lakehouse.llm.embedded_parts import make_parts

REPO = Path(__file__).resolve().parents[3]


def test_parts_concatenate_in_numeric_order(parts_root: Path, tmp_path: Path) -> None:
    pack, content = make_parts(parts_root, parts=11)
    files = part_files(pack)
    assert [f.parent.parent.name for f in files][8:] == [f"{pack.package_prefix}{i}" for i in (9, 10, 11)]

    target = assemble(tmp_path / "models", pack)

    assert target == tmp_path / "models" / "test-pack.gguf"
    assert target.read_bytes() == content
    assert sorted(p.name for p in target.parent.iterdir()) == [".test-pack.gguf.lock", "test-pack.gguf"]


def test_an_assembled_file_is_reused(parts_root: Path, tmp_path: Path) -> None:
    pack, _ = make_parts(parts_root, parts=3)
    first = assemble(tmp_path / "models", pack)
    inode = first.stat().st_ino
    assert assemble(tmp_path / "models", pack).stat().st_ino == inode


def test_a_checksum_mismatch_names_both_hashes_and_leaves_no_file(parts_root: Path, tmp_path: Path) -> None:
    pack, content = make_parts(parts_root, parts=3)
    wrong = replace(pack, sha256="0" * 64)
    actual = hashlib.sha256(content).hexdigest()
    with pytest.raises(EmbeddedChecksumMismatch, match=f"has sha256 {actual}, expected {'0' * 64}") as caught:
        assemble(tmp_path / "models", wrong)
    assert caught.value.fields == {"expected": "0" * 64, "actual": actual}
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert [p.name for p in (tmp_path / "models").iterdir()] == [".test-pack.gguf.lock"]


def test_a_missing_part_is_named(parts_root: Path, tmp_path: Path) -> None:
    pack, _ = make_parts(parts_root, parts=12)
    for chunk in (parts_root / f"{pack.package_prefix}7" / "data").iterdir():
        chunk.unlink()
    missing = f"{pack.package_prefix}7"
    with pytest.raises(EmbeddedPartMissing, match=rf"1 of 12 parts missing or empty \({missing}\).*local-model"):
        assemble(tmp_path / "models", pack)
    assert not (tmp_path / "models").exists()


def test_an_uninstalled_pack_says_how_to_install_it(parts_root: Path, tmp_path: Path) -> None:
    pack, _ = make_parts(parts_root, parts=2)
    absent = replace(pack, package_prefix="lh_test_not_installed_part")
    assert installed(pack) and not installed(absent)
    with pytest.raises(
        EmbeddedModelNotInstalled, match=r"not installed: pip install -c constraints.txt -e '\.\[local-model\]'"
    ):
        assemble(tmp_path / "models", absent)


ASSEMBLE = textwrap.dedent(
    """
    import hashlib, sys, time
    from pathlib import Path
    from lakehouse.llm.embedded import ModelPack, assemble
    root, models, go, prefix, sha = sys.argv[1:6]
    sys.path.insert(0, root)
    while not Path(go).exists():  # both processes start assembling at the same moment
        time.sleep(0.01)
    pack = ModelPack(name="test-pack", package_prefix=prefix, parts=11, sha256=sha, file_name="test-pack.gguf")
    print(hashlib.sha256(assemble(Path(models), pack).read_bytes()).hexdigest())
    """
)


def test_two_processes_assembling_at_once_give_one_good_file(parts_root: Path, tmp_path: Path) -> None:
    pack, content = make_parts(parts_root, parts=11, size=2 * 1024 * 1024)
    models, go = tmp_path / "models", tmp_path / "go"
    args = [sys.executable, "-c", ASSEMBLE, str(parts_root), str(models), str(go), pack.package_prefix, pack.sha256]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    time.sleep(0.5)  # let both import and wait at the start line
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    assert [out.strip() for out, _ in results] == [pack.sha256, pack.sha256]
    assert (models / "test-pack.gguf").read_bytes() == content
    assert sorted(p.name for p in models.iterdir()) == [".test-pack.gguf.lock", "test-pack.gguf"]
