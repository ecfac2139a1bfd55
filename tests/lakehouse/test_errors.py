"""One error root: every exception class that `lakehouse`, `modes` and `flows` raise derives from
`LakehouseError`, lives in its wing's `errors.py`, and its kind gives the HTTP status and exit code."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path

import pytest

from lakehouse.errors import (
    ConflictError,
    ErrorKind,
    LakehouseError,
    NotFoundError,
    UnavailableError,
    UserError,
    error_type,
    exit_code,
    http_status,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lakehouse", "modes", "flows")

# Exceptions of other libraries that our code raises on purpose, each with the reason.
FOREIGN_ALLOWED = {
    "NoSuchTableError": "pyiceberg's own not-found, raised where pyiceberg would; Tables turns it into TableNotFound",
    "Exit": "typer's exit with a code: the CLI's way to end after printing its `error:` line",
    "RequestValidationError": "FastAPI's 422, answered by the one validation handler in flows/http/errors.py",
    "HTTPException": "Starlette's 413 for a body over the limit, answered by the one HTTP error shape",
    "BadParameter": "click's way for a flag's `parser=` to refuse a value: a usage error naming the flag",
    "ReadTimeout": "httpx's, raised inside the LLM calls' transport (lakehouse/llm/deadline.py): the provider "
    "SDK turns it into its timeout, which ChatClient reports as a ProviderError",
}
VALIDATORS = ("field_validator", "model_validator", "validator")


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _raised(tree: ast.AST):
    """(raise node, name raised, enclosing function, enclosing try handlers' names) for every `raise X`."""

    def walk(node, func, handlers):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            func, handlers = node, ()
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name):
                yield node, target.id, func, handlers
            elif isinstance(target, ast.Attribute):
                yield node, target.attr, func, handlers
        if isinstance(node, ast.Try):
            caught = tuple(ast.unparse(h.type) for h in node.handlers if h.type is not None)
            for child in node.body:
                yield from walk(child, func, handlers + caught)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from walk(child, func, handlers)
            return
        for child in ast.iter_child_nodes(node):
            yield from walk(child, func, handlers)

    yield from walk(tree, None, ())


def _in_validator(func) -> bool:
    return func is not None and any(any(v in ast.unparse(d) for v in VALIDATORS) for d in func.decorator_list)


def test_every_exception_class_raised_by_our_packages_derives_from_lakehouse_error():
    wrong, unresolved = [], []
    ours = {c.__name__: c for c in _our_exception_classes()}
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = None
        for node, name, func, handlers in _raised(tree):
            where = f"{path.relative_to(ROOT)}:{node.lineno} raise {name}"
            builtin = getattr(builtins, name, None)
            if isinstance(builtin, type) and issubclass(builtin, BaseException):
                if not issubclass(builtin, Exception):  # SystemExit, KeyboardInterrupt: an exit, not an error
                    continue
                # pydantic turns a ValueError in a validator into a ValidationError (422 / exit 1);
                # one caught by the try around it never leaves the function
                if _in_validator(func) or any(name in h for h in handlers):
                    continue
                wrong.append(f"{where}: a builtin; raise a LakehouseError of the wing instead")
                continue
            if name in FOREIGN_ALLOWED:
                continue
            module = module or importlib.import_module(_module_name(path))
            cls = getattr(module, name, None) or ours.get(name)  # ours: imported inside a function
            if cls is None:  # a local variable (`raise exc`)
                unresolved.append(where)
                continue
            if inspect.isfunction(cls):  # a factory (`raise workflow_error(exc)`): what it returns
                cls = typing.get_type_hints(cls).get("return")
            if not (inspect.isclass(cls) and issubclass(cls, LakehouseError)):
                wrong.append(f"{where}: {cls!r} does not derive from LakehouseError")
    assert not wrong, "\n".join(wrong)
    # what could not be resolved by name is a re-raise of a caught exception
    assert all(where.endswith((" raise exc", " raise error")) for where in unresolved), unresolved


def _our_exception_classes() -> list[type[BaseException]]:
    found = set()
    for pkg in PACKAGES:
        package = importlib.import_module(pkg)
        names = [pkg] + [m.name for m in pkgutil.walk_packages(package.__path__, f"{pkg}.")]
        for name in names:
            module = importlib.import_module(name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__.startswith(PACKAGES):
                    found.add(obj)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_every_exception_class_of_ours_derives_from_the_root_and_lives_in_an_errors_module():
    classes = _our_exception_classes()
    assert len(classes) > 40
    assert [c.__qualname__ for c in classes if not issubclass(c, LakehouseError)] == []
    assert [
        f"{c.__module__}.{c.__qualname__}"
        for c in classes
        if c.__module__ not in ("lakehouse.errors",) and not c.__module__.endswith(".errors")
    ] == []
    wings = {c.__module__ for c in classes}
    for wing in ("common", "data", "search", "learning", "llm"):
        assert f"lakehouse.{wing}.errors" in wings
    assert {"modes.errors", "flows.errors", "flows.http.errors"} <= wings
    importlib.import_module("lakehouse.observe.errors")  # the wing's place for its errors, empty today


@pytest.mark.parametrize(
    "cls, status, code",
    [
        (UserError, 400, 1),
        (NotFoundError, 404, 1),
        (ConflictError, 409, 1),
        (UnavailableError, 503, 2),
        (LakehouseError, 500, 2),
    ],
)
def test_the_kind_gives_the_http_status_and_the_exit_code(cls, status, code):
    exc = cls("what is wrong", table="t")
    assert (http_status(exc), exit_code(exc)) == (status, code)
    assert (str(exc), exc.fields) == ("what is wrong", {"table": "t"})


def test_kinds_keep_the_builtin_bases_callers_catch():
    assert issubclass(UserError, ValueError) and issubclass(NotFoundError, LookupError)
    assert issubclass(UnavailableError, RuntimeError)
    assert str(NotFoundError("no 'x'")) == "no 'x'"  # not KeyError-quoted


def test_wing_errors_keep_their_fields_bases_and_get_their_kind():
    from flows.errors import InputTooLarge, WorkflowCrashed
    from lakehouse.common.errors import PathNotAllowed
    from lakehouse.data.errors import IngestError, StorageError, TableConflict, TableNotFound
    from lakehouse.learning.errors import UnknownScorerError
    from lakehouse.llm.errors import ApiBaseRefused, ChatNotConfigured, ProviderError
    from lakehouse.search.errors import CorpusExists, CorpusNotFound, EmbedderError, UnknownEmbedder
    from modes.errors import ModeDefinitionError, UnknownModeError

    cases = [
        (TableNotFound("jobz", ["jobs"]), ErrorKind.NOT_FOUND, 404, (ValueError, LookupError)),
        (TableConflict("jobs", 3), ErrorKind.CONFLICT, 409, (ValueError,)),
        (CorpusExists("corpus 'jobs' already exists"), ErrorKind.CONFLICT, 409, (ValueError,)),
        (CorpusNotFound("corpus 'x' not found"), ErrorKind.NOT_FOUND, 404, (LookupError,)),
        (IngestError("a.csv", "expected 4 fields", line=4), ErrorKind.USER, 400, (ValueError,)),
        (PathNotAllowed("path", "/etc/x", "is outside the allowed roots", []), ErrorKind.USER, 400, (ValueError,)),
        (StorageError("cannot reach S3 endpoint"), ErrorKind.UNAVAILABLE, 503, ()),
        (EmbedderError("model failed"), ErrorKind.UNAVAILABLE, 503, (RuntimeError,)),
        (UnknownEmbedder("unknown embedding model"), ErrorKind.USER, 400, (ValueError, RuntimeError)),
        (UnknownScorerError("v7", ["v1", "v2"]), ErrorKind.NOT_FOUND, 404, (LookupError,)),
        (ChatNotConfigured("no model"), ErrorKind.USER, 400, (RuntimeError,)),
        (ApiBaseRefused("not allowlisted"), ErrorKind.USER, 403, (RuntimeError,)),
        (ProviderError("provider call failed", status=429), ErrorKind.UNAVAILABLE, 502, (RuntimeError,)),
        (UnknownModeError("nosuch", ["fixture.echo"]), ErrorKind.NOT_FOUND, 404, (LookupError,)),
        (ModeDefinitionError("bad mode"), ErrorKind.INTERNAL, 500, (TypeError,)),
        (WorkflowCrashed("crashed"), ErrorKind.INTERNAL, 500, (RuntimeError,)),
        (InputTooLarge("value", 10, 20), ErrorKind.USER, 400, (LookupError,)),
    ]
    for exc, kind, status, bases in cases:
        assert (type(exc).__name__, exc.kind, http_status(exc)) == (type(exc).__name__, kind, status)
        assert all(isinstance(exc, b) for b in bases), type(exc).__name__
    table = cases[0][0]
    assert (table.name, table.suggestions, str(table)) == (
        "jobz",
        ["jobs"],
        "table 'jobz' not found; did you mean 'jobs'?",
    )
    assert cases[12][0].status == 429  # ProviderError keeps its field: the provider's own status
    assert cases[12][0].fields == {"provider_status": 429}
    assert (cases[6][0].message, cases[4][0].line) == ("cannot reach S3 endpoint", 4)
    assert error_type(table) == "table_not_found" and error_type(cases[13][0]) == "unknown_mode"


def test_an_unknown_scorer_names_the_known_versions():
    from lakehouse.learning.errors import UnknownScorerError

    with pytest.raises(LookupError, match=r"unknown scorer version 'v7' \(known: v1, v2\)"):
        raise UnknownScorerError("v7", ["v1", "v2"])
