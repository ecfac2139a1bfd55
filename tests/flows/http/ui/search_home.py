"""A writable copy of the `health` home (96 real O*NET occupations, wordllama) for the Search and
Ask pages; the corpus is built once per session (`health_home`), so a module only copies it."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from tests.fixtures.vectors import HEALTH_MODEL

HOME_ENV = {"LH_EMBED_MODEL": HEALTH_MODEL}  # playbooks embed queries with the corpus's fast model


def copy_health(health_home: Path, base: Path) -> Path:
    """`base/home`, where `api_process(base)` puts LH_HOME."""
    home = base / "home"
    shutil.copytree(health_home, home)
    return home


def text_of(page: str) -> str:
    """A page's text as a person reads it: tags dropped, entities decoded, spaces folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", page))).strip()
