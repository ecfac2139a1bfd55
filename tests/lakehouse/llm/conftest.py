"""Fixtures of the llm wing's tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def parts_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An import root on sys.path where a test installs small real embedded-model part packages."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root
