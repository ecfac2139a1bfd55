"""Small real part packages, laid out like the `local-model` extra's wheels install them."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from lakehouse.llm.embedded import ModelPack


def make_parts(root: Path, parts: int, size: int = 1024, name: str = "test-pack") -> tuple[ModelPack, bytes]:
    """`parts` importable packages `<prefix><i>/data/part<ii>.bin` under `root` (put it on sys.path)
    and a pack whose sha256 is that of the chunks in numeric order; returns (pack, that content).
    Each chunk differs, so an assembly in lexical order (1, 10, 11, 2 ...) has another hash."""
    prefix = f"lh_test_{uuid.uuid4().hex[:8]}_part"  # fresh names: import caches never see a stale one
    content = b""
    for i in range(1, parts + 1):
        package = root / f"{prefix}{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        chunk = bytes([i]) * size
        (package / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        content += chunk
    pack = ModelPack(
        name=name,
        package_prefix=prefix,
        parts=parts,
        sha256=hashlib.sha256(content).hexdigest(),
        file_name=f"{name}.gguf",
    )
    return pack, content
