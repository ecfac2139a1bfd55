"""Secrets in one place: reading an owner-only key file, telling a secret by its name, masking
secret values in text.

A key file is read only when it is a regular file of this user that nobody else may read (mode
0600 or 0400); anything looser is refused with the fix (`chmod 600 FILE`), never read. Settings
(to mask the key) and chat (to send it) read key files through `read_key_file`, so both refuse the
same files with the same message.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import overload

from lakehouse.common.errors import SecretFileError

__all__ = ["SECRET_NAME_WORDS", "SecretFileError", "is_secret_name", "read_key_file", "scrub"]

# An environment variable (or setting) whose name holds one of these words holds a secret.
SECRET_NAME_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
MASK = "***"


def is_secret_name(name: str) -> bool:
    """True when a variable's name says it holds a secret (`OPENAI_API_KEY`, `LH_API_TOKEN`, ...)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_NAME_WORDS)


def read_key_file(path: str | Path, what: str = "secret file") -> str:
    """The stripped content of an owner-only file; anything looser is refused, not read."""
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise SecretFileError(f"{what} {p} does not exist", path=str(p)) from None
    except OSError as exc:
        raise SecretFileError(f"{what} {p} cannot be read: {exc.strerror}", path=str(p)) from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretFileError(f"{what} {p} is not a regular file", path=str(p))
    if st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise SecretFileError(
            f"{what} {p} has mode {mode:04o}: it must be readable by its owner only (chmod 600 {p})", path=str(p)
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SecretFileError(f"{what} {p} belongs to uid {st.st_uid}, not to this user", path=str(p))
    try:
        value = p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretFileError(f"{what} {p} cannot be read: {exc}", path=str(p)) from None
    if not value:
        raise SecretFileError(f"{what} {p} is empty", path=str(p))
    return value


@overload
def scrub(text: str, secrets: Iterable[str]) -> str: ...
@overload
def scrub(text: None, secrets: Iterable[str]) -> None: ...
@overload
def scrub(text: str | None, secrets: Iterable[str]) -> str | None: ...
def scrub(text: str | None, secrets: Iterable[str]) -> str | None:
    """`text` with every secret value masked."""
    if not text:
        return text
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
