"""The mode registry: `@mode("name")` turns a typed function into a catalog entry.

Definition-time checks (like Hamilton's driver): the function must take `(inp: <BaseModel>, ctx:
ModeContext)` and return a `BaseModel`; the name must be dotted lower-case and not taken. Each
failure raises `ModeDefinitionError` naming the function and the fix, so a broken mode fails at
import rather than in the middle of a run.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeGuard

from pydantic import BaseModel

from lakehouse.common.suggest import close_matches
from modes.context import ModeContext
from modes.errors import ModeDefinitionError, UnknownModeError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lakehouse.modes"
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class ModeSpec:
    name: str
    func: Callable[[BaseModel, ModeContext], BaseModel]
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    description: str

    def __call__(self, payload: dict[str, Any] | BaseModel, ctx: ModeContext) -> BaseModel:
        """Validate the input, run the mode, validate the output."""
        inp = payload if isinstance(payload, self.input_model) else self.input_model.model_validate(payload)
        out = self.func(inp, ctx)
        if not isinstance(out, self.output_model):
            out = self.output_model.model_validate(out)
        return out


_REGISTRY: dict[str, ModeSpec] = {}


def _where(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"


def _is_model(tp: Any) -> TypeGuard[type[BaseModel]]:
    return inspect.isclass(tp) and issubclass(tp, BaseModel)


def mode(name: str, *, description: str | None = None) -> Callable:
    """Register `func` as mode `name`; its input and output models come from its type hints."""

    def register(func: Callable) -> Callable:
        where = _where(func)
        if not _NAME.match(name):
            raise ModeDefinitionError(
                f"{where}: mode name {name!r} must be dotted lower-case words, e.g. 'matrix.search'"
            )
        try:
            hints = typing.get_type_hints(func)
        except Exception as exc:  # unresolvable forward reference
            raise ModeDefinitionError(f"{where}: cannot resolve type hints ({exc})") from exc
        params = list(inspect.signature(func).parameters)
        if len(params) != 2:
            raise ModeDefinitionError(
                f"{where}: a mode takes exactly (inp: <InputModel>, ctx: ModeContext); "
                f"it takes {len(params)} parameter(s)"
            )
        inp_t, ret_t = hints.get(params[0]), hints.get("return")
        if not _is_model(inp_t):
            raise ModeDefinitionError(
                f"{where}: annotate the first parameter with a pydantic BaseModel (e.g. `inp: EchoIn`); got {inp_t!r}"
            )
        if not _is_model(ret_t):
            raise ModeDefinitionError(
                f"{where}: annotate the return type with a pydantic BaseModel (e.g. `-> EchoOut`); got {ret_t!r}"
            )
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ModeDefinitionError(
                f"{where}: mode {name!r} is already registered by {_where(_REGISTRY[name].func)}; pick another name"
            )
        doc = description or inspect.getdoc(func) or ""
        _REGISTRY[name] = ModeSpec(name, func, inp_t, ret_t, doc.split("\n\n")[0])
        func.mode_name = name  # type: ignore[attr-defined]  # tags the function object with its mode
        return func

    return register


_loaded = False


def load_modes() -> None:
    """Import every module of the catalog (`modes.catalog`) and every `lakehouse.modes` entry point."""
    global _loaded
    if _loaded:
        return
    import modes.catalog as catalog

    for info in pkgutil.iter_modules(catalog.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"modes.catalog.{info.name}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception:  # a broken plugin must not take down the catalog
            log.exception("could not load mode plugin %s", ep.value)
    _loaded = True


def _load_family(name: str) -> None:
    """Import only `modes.catalog.<first word of name>` (fixture.echo -> modes.catalog.fixture), if
    it exists: a run of fixture nodes then never imports scipy, pyiceberg or the vector index (2 s)."""
    family = name.split(".", 1)[0]
    if _loaded or family.startswith("_") or not _NAME.match(family):
        return
    try:
        importlib.import_module(f"modes.catalog.{family}")
    except ModuleNotFoundError as exc:
        if exc.name != f"modes.catalog.{family}":
            raise  # the module exists but needs something missing: as loud as load_modes()


def get_mode(name: str) -> ModeSpec:
    if name not in _REGISTRY:
        _load_family(name)
    if name not in _REGISTRY:
        load_modes()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModeError(name, close_matches(name, _REGISTRY, cutoff=0.6)) from None


def all_modes() -> dict[str, ModeSpec]:
    load_modes()
    return dict(sorted(_REGISTRY.items()))
