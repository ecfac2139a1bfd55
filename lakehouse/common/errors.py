"""Errors of the common wing: input files and paths a caller gave."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lakehouse.errors import ErrorKind, LakehouseError, UserError

__all__ = [
    "BlankText",
    "InputFileError",
    "JsonNestedTooDeep",
    "KeyValueError",
    "PathNotAllowed",
    "LogWriteError",
    "SecretFileError",
    "SettingsError",
]


class InputFileError(UserError):
    """An input file is missing, unreadable or malformed; the message names file and line."""


class BlankText(UserError):
    """Text with no character a person would read (spaces, zero-width spaces, control characters)."""


class KeyValueError(UserError):
    """A `KEY=VALUE` argument without `=` or without a key (`lakehouse.common.text.key_value`)."""


class JsonNestedTooDeep(UserError, json.JSONDecodeError):
    """JSON nested deeper than Python's recursion limit (`lakehouse.common.text.loads_json`). A
    JSONDecodeError too, so every reader that names bad JSON names this the same way."""

    SHOWN = 200  # characters of the document kept: the error may travel (logs, pickles); a body of megabytes need not

    def __init__(self, doc: str) -> None:
        json.JSONDecodeError.__init__(self, "nested too deeply", doc[: self.SHOWN], 0)
        self.message = str(self.args[0])
        self.fields = {}

    def __reduce__(self) -> tuple[Any, ...]:  # JSONDecodeError's would call __init__ with its three arguments
        return type(self), (self.doc,)


class SecretFileError(UserError):
    """A key file is missing, unreadable, empty or readable by others; the message names it and the fix."""


class SettingsError(UserError):
    """A settings file that cannot be used: the file LH_CONFIG names is missing, lakehouse.toml is
    not TOML, or it holds a key that is no setting. The message names the file and the key."""


class FolderUnusable(UserError):
    """A folder the lakehouse needs (LH_HOME, a log's folder) cannot be made: a file is there, or
    the place cannot be written. The message names the folder, what it is for, and why."""


class PathNotAllowed(UserError):
    """A path names a place the caller may not use; the message names the field, the value given
    and the allowed roots. A user error (a ValueError), so HTTP answers 4xx and the CLI exits 1."""

    def __init__(self, field: str, value: Any, reason: str, roots: list[Path]) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        self.roots = [str(r) for r in roots]
        shown = repr(str(value)) if isinstance(value, (str, os.PathLike)) else repr(value)
        super().__init__(f"{field}: {shown} {reason}; allowed roots: {', '.join(self.roots) or '(none)'}")


class LogWriteError(LakehouseError, OSError):
    """An append-only log could not take a whole line (a short write): the disk is full or failing.
    An OSError, as an I/O failure is; unavailable."""

    kind = ErrorKind.UNAVAILABLE
