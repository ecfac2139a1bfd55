"""The one rule for every path a mode reads or writes.

A path given by a caller is resolved (a relative one under LH_HOME, symlinks followed: the whole
path when it exists, else its deepest existing parent) and must then lie under an allowed root:
`LH_HOME`, `LH_HOME/inbox` (uploads) and the roots an operator lists in `allowed_roots`
(`LH_ALLOWED_ROOTS`). `..` components and NUL bytes are refused outright; an untrusted caller may
also neither read nor write the lakehouse's own state under LH_HOME (catalog, objects, warehouse,
the ops log, Prefect's home, ...) nor a secret file (a model tier's key file, the settings file)
wherever it is.

Trust is the caller's to say: the CLI runs as the user, so it may name the user's own files
(`trusted=True`: only NUL bytes are refused, the path is only made absolute, and a write may not
land on the lakehouse's own state or a secret file); HTTP, MCP and workflows
submitted over HTTP may not. Callers open the path this returns (already resolved), never the
text they were given. What is left between check and open (a symlink swapped into the resolved
path) needs a way to create links inside a root, which an untrusted caller does not have: uploads
and mode outputs are regular files, and JSONL outputs are never written through a link
(`recordfile.write_json_lines_atomic`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lakehouse.common.errors import FolderUnusable, PathNotAllowed

INBOX = "inbox"
UPLOAD_PREFIX = ".upload-"  # an HTTP upload's own folder in the inbox, removed when its request ends

# Entries of LH_HOME that hold the lakehouse's own state: an untrusted caller reaches them only
# through the modes and endpoints made for them, never as a file to ingest, read or write over.
RESERVED_NAMES = frozenset(
    {
        "objects",
        "warehouse",
        "catalog.db",
        "catalog.db-journal",
        "catalog.db-wal",
        "catalog.db-shm",
        "ops.jsonl",
        "locks",
        "pathway.jsonl",
        "playbooks.jsonl",
        "workflows",
        "models",  # the embedded model's joined files, checked once against their sha256
        "tmp",
        "api.json",  # where the CLI finds the running API (and its token)
        "prefect",
        "prefect-server.json",
        "prefect-server.log",
        "prefect-server.lock",
    }
)
# Read by callers, written only by the lakehouse: the reports of the nightly drift, weekly adapt and
# lift jobs, which the console shows as the lakehouse's own, and the main job's results (`runs/`).
WRITE_RESERVED_NAMES = frozenset({"drift", "adapt", "lift", "runs"})
# A log's flush state sits beside it: `ops.jsonl.flushed`, `ops.jsonl.flush.lock`.
_LOGS = ("ops.jsonl", "pathway.jsonl", "playbooks.jsonl")


def make_folder(path: Path, owner: str) -> None:
    """`path` made a folder (and its parents) if it is none yet; `owner` says, in the refusal, whose
    folder it is (a file in the way was an internal FileExistsError, a traceback at import)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        why = f"{str(blocker)!r} is a file" if blocker else (exc.strerror or str(exc))
        raise FolderUnusable(f"{owner}: cannot make the folder {str(path)!r}: {why}") from None


def _reserved(first: str, settings: Any, for_write: bool) -> bool:
    """Whether LH_HOME's entry `first` is the lakehouse's own state. The evidence history (its name
    is a setting) is what distillation and drift read: a caller may read it, never write over it."""
    evidence = Path(getattr(settings, "drift_evidence", None) or "evidence.jsonl")
    if first in RESERVED_NAMES or any(first.startswith(f"{log}.") for log in (*_LOGS, evidence.name)):
        return True
    if for_write and first in WRITE_RESERVED_NAMES:
        return True
    return for_write and not evidence.is_absolute() and first == evidence.parts[0]


def _refuse_own_state(named: Path, home: Path, settings: Any, field: str, value: Any, roots: list[Path]) -> None:
    """PathNotAllowed when a trusted write would land on the lakehouse's own state: the entries
    under LH_HOME an untrusted caller may not read (reports and runs are the operator's to write),
    the evidence history wherever its setting puts it, and the secret files."""
    resolved = _real(named)
    evidence = Path(getattr(settings, "drift_evidence", None) or "evidence.jsonl").expanduser()
    if resolved == _real(evidence if evidence.is_absolute() else home / evidence):
        raise PathNotAllowed(
            field, value, "would write over the lakehouse's evidence history; name another file", roots
        )
    if resolved != home and _inside(resolved, home):
        first = resolved.relative_to(home).parts[0]
        if _reserved(first, settings, for_write=False):
            reason = f"would write over the lakehouse's own state ({first!r} in LH_HOME); name another file"
            raise PathNotAllowed(field, value, reason, roots)
    if resolved in _secret_files(settings):
        raise PathNotAllowed(field, value, "is a secret file (a model key file or the settings file)", roots)


NAME_MAX, PATH_MAX = 255, 4096  # bytes, as Linux file systems take them


def _short(text: str) -> str:
    return text if len(text) <= 80 else f"{text[:60]}…({len(text):,} characters)"


def _real(path: Path) -> Path:
    """`realpath`: symlinks followed as far as the path exists; the rest is kept as written."""
    return Path(os.path.realpath(path))


def allowed_roots(settings: Any) -> list[Path]:
    """LH_HOME, LH_HOME/inbox and the operator's `allowed_roots`, resolved, without duplicates.
    A relative root is relative to the working directory, like `home` itself."""
    home = _real(Path(settings.home_dir))
    candidates = [home, _real(home / INBOX)]  # the inbox may be a link to a bigger disk
    for root in getattr(settings, "allowed_roots", None) or []:
        candidates.append(_real(Path(root).expanduser()))
    roots: list[Path] = []
    for root in candidates:
        if root not in roots:
            roots.append(root)
    return roots


def _secret_files(settings: Any) -> set[Path]:
    """The model tiers' key files and the settings file (it may hold the S3 keys and the API token)."""
    models = getattr(settings, "models", None)
    tiers = getattr(models, "tiers", None) or {}
    files = {Path(t.api_key_file).expanduser() for t in tiers.values() if getattr(t, "api_key_file", None)}
    files.add(Path(os.environ.get("LH_CONFIG", "lakehouse.toml")).expanduser())
    return {_real(f) for f in files}


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def resolve_path(
    value: str | os.PathLike[str],
    settings: Any,
    *,
    field: str = "path",
    for_write: bool = False,
    trusted: bool = False,
    base: Path | str | None = None,
) -> Path:
    """The absolute, symlink-resolved path for `value`, or PathNotAllowed naming `field`.

    A relative `value` is under LH_HOME; a trusted caller may give another `base` (the CLI's
    working directory for the modes documented that way). Untrusted: no `..`, the result must
    lie under an allowed root, and it may not be the lakehouse's own state or a secret file.
    """
    roots = allowed_roots(settings)
    text = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(text, str):
        raise PathNotAllowed(field, value, "is not a path (expected a string)", roots)
    if "\x00" in text:
        raise PathNotAllowed(field, value, "contains a NUL byte", roots)
    if not text.strip():
        raise PathNotAllowed(field, value, "is empty; name a file", roots)
    longest = max((len(part.encode()) for part in Path(text).parts), default=0)
    if longest > NAME_MAX:  # the file system's own refusal was an OSError the caller could not read
        raise PathNotAllowed(field, _short(text), f"has a name of {longest:,} bytes; at most {NAME_MAX}", roots)
    if len(text.encode()) > PATH_MAX:
        raise PathNotAllowed(field, _short(text), f"is {len(text.encode()):,} bytes long; at most {PATH_MAX:,}", roots)
    given = Path(text).expanduser()
    home = _real(Path(settings.home_dir))
    if trusted:
        start = Path(base).expanduser() if base is not None else home
        # the user's own process: made absolute, but a symlink is kept as named (its name may
        # carry the format), since there is nothing to confine
        named = Path(os.path.abspath(given if given.is_absolute() else Path.cwd() / start / given))
        if for_write:  # a typo or a tab-completed name must not replace the ratings, logs or tables
            _refuse_own_state(named, home, settings, field, value, roots)
        return named
    if ".." in given.parts:
        raise PathNotAllowed(field, value, "contains '..'; name the file inside an allowed root directly", roots)
    lexical = given if given.is_absolute() else home / given
    resolved = _real(lexical)
    if not any(_inside(resolved, root) for root in roots):
        if any(_inside(Path(os.path.abspath(lexical)), root) for root in roots):
            reason = "leads outside the allowed roots through a symlink"
        else:
            reason = "is outside the allowed roots"
        raise PathNotAllowed(field, value, reason, roots)
    if resolved != home and _inside(resolved, home):
        first = resolved.relative_to(home).parts[0]
        if _reserved(first, settings, for_write):
            action = "would write over" if for_write else "is"
            raise PathNotAllowed(field, value, f"{action} the lakehouse's own state ({first!r} in LH_HOME)", roots)
    if resolved in _secret_files(settings):
        raise PathNotAllowed(field, value, "is a secret file (a model key file or the settings file)", roots)
    return resolved
