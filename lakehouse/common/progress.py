"""The one progress-callback shape: `progress(stage, done, total)`.

`stage` names what is running ("embedding", "judging", "deleting files", ...), `done` counts the
units finished so far and `total` is how many there are. Corpus builds
(embedding), table gc and the lift harness all report through it; a caller that cannot pass a
callback (a mode run through `invoke_mode`) sets a ContextVar of this type instead.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def no_progress(stage: str, done: int, total: int) -> None:
    """The callback used when nobody listens."""
