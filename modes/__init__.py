"""Modes: the registry machinery (`registry`, `context`, `invoke`) and the catalog (`modes.catalog`,
one module per mode family, each registering its modes with `@mode` at import)."""

from modes.context import ModeContext
from modes.registry import (
    ModeDefinitionError,
    ModeSpec,
    UnknownModeError,
    all_modes,
    get_mode,
    load_modes,
    mode,
)

__all__ = [
    "ModeContext",
    "ModeDefinitionError",
    "ModeSpec",
    "UnknownModeError",
    "all_modes",
    "get_mode",
    "load_modes",
    "mode",
]
