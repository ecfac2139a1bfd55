"""Shared CLI helpers: consoles, JSON output, clean failure, and the one error policy.

The error policy (`report_error`, installed once on the `lakehouse` group by `LakehouseGroup`):
a `LakehouseError` prints `error: <message>` on stderr and exits with the code of its kind (user
error, not found, conflict: 1; unavailable, internal: 2); invalid input caught by a pydantic model
prints `error: <field>: <problem>` and exits 1; anything else prints `error: <Type>: <message>` and
exits 2. Never a traceback, unless `LH_DEBUG=1`. Messages are printed as text, never as markup.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup
from typer.exceptions import TyperException

from lakehouse.common.errors import KeyValueError
from lakehouse.common.machine import machine_problem
from lakehouse.common.text import key_value

console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)
# Piped or redirected, a line is not folded at the 80 columns rich assumes there: a script reading
# `result: PATH` got the path cut in two. Tables keep their layout.
for _console in (console, err_console):
    _console.soft_wrap = not _console.is_terminal


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no rich markup), for scripts. A NaN or infinite number is written as the
    string `lakehouse sql` writes ("NaN", "Infinity"): bare, it is no JSON (JavaScript, Go and jq
    refuse the whole document)."""
    try:
        text = json.dumps(data, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), default=str, ensure_ascii=False, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {plain(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def check_arguments(args: list[str]) -> None:
    """Arguments are text. One typed in a terminal that is not UTF-8 (a Latin-1 é) reaches Python
    as a lone surrogate, which every later write refuses with a raw UnicodeEncodeError (or DuckDB
    with a TypeError), after the command has half started: named here, before anything runs."""
    for position, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(arg[exc.start])
            what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
            fail(
                f"argument {position} ({arg!r}) is not valid UTF-8 text ({what} at character {exc.start + 1}): "
                "set the terminal to UTF-8, or give the value in a file"
            )


# C0 controls but tab and newline, DEL and C1: ESC and BEL from a caller's text would let it clear
# the operator's screen, retitle the window or write the clipboard when the CLI prints it.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: Any) -> str:
    """A value shown in rich output as it is: brackets are text, not markup, and a control
    character is shown as its escape (`\\x1b`), never sent to the terminal."""
    text = "" if value is None else str(value)
    return escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def describe_validation(exc: Any) -> str:
    """A pydantic ValidationError in one line (the one formatter: `field 'x': problem; ...`)."""
    from lakehouse.common.validation import format_validation_error

    return format_validation_error(exc)


# `field 'name'` of a message with no location before it (`row 2, field 'x'` names a file's column)
_TOP_FIELD = re.compile(r"(?<!, )\bfield '(\w+)'")


def name_flags(message: str, flags: dict[str, str]) -> str:
    """A mode's `field 'score'` as the flag the user typed, `--score` (`field 'train_path'` as
    `--train`): the CLI user never saw the mode's field names."""

    def flag(match: re.Match[str]) -> str:
        field = match.group(1)
        return flags.get(field) or flags.get(field.removesuffix("_path")) or match.group(0)

    return _TOP_FIELD.sub(flag, message) if flags else message


def command_flags(command: Any) -> dict[str, str]:
    """Each option's parameter name and its longest flag (`rating_id` -> `--rating-id`)."""
    params = getattr(command, "params", ())
    return {p.name: max(p.opts, key=len) for p in params if p.param_type_name == "option" and p.name}


def report_error(exc: Exception, flags: dict[str, str] | None = None) -> int:
    """Print `exc` as one `error:` line on stderr; the exit code the policy gives it. `flags`
    (a field name -> the command's flag) names a mode's fields as the flags they came from."""
    from pydantic import ValidationError

    from lakehouse.errors import LakehouseError, exit_code

    if isinstance(exc, LakehouseError):
        message, code = str(exc), exit_code(exc)
    elif isinstance(exc, ValidationError) and exc.title == "Settings":
        from lakehouse.config import describe_settings_error

        message, code = describe_settings_error(exc), 1
    elif isinstance(exc, ValidationError):
        message, code = describe_validation(exc), 1
    elif (problem := machine_problem(exc)) is not None:  # the machine, not the input
        message, code = problem, 2
    else:
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        message, code = f"{type(exc).__name__}: {text}" if text else type(exc).__name__, 2
    message = name_flags(message, flags or {})
    err_console.print(f"[bold red]error:[/] {plain(message)}", highlight=False, soft_wrap=True)
    return code


# already an answer: a usage error (typer's click exceptions derive from TyperException), `fail`
# (typer.Exit), Ctrl-C (typer.Abort)
_ANSWERED = (TyperException, typer.Exit, typer.Abort)


_COMMAND = "lakehouse.command"  # ctx.meta (shared by a context and its children): the command run
_FIELD_FLAGS = "lakehouse.field_flags"  # ctx.meta: fields a command fills from a flag not named after them


def field_from_flag(ctx: typer.Context, field: str, flag: str) -> None:
    """Say that the mode's `field` came from `flag` in this run (`rate --good ID` fills `id`), so
    an error about the field names the flag the user typed."""
    ctx.meta.setdefault(_FIELD_FLAGS, {})[field] = flag


class LakehouseGroup(TyperGroup):
    """The `lakehouse` command group and its sub-groups: every command's failure goes through
    `report_error`, which names fields by the flags of the command that failed."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta[_COMMAND] = command
        return name, command, rest

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _ANSWERED:
            raise
        except KeyboardInterrupt:
            # typer turned Ctrl-C into a silent exit 130: the user was told neither that the command
            # stopped nor where to see what it had done
            command = ctx.meta.get(_COMMAND)
            name = f"{ctx.command_path} {command.name}" if command is not None else ctx.command_path
            err_console.print(
                f"[bold red]interrupted:[/] `{plain(name)}` stopped before it finished (Ctrl-C); a mode call it "
                "was running is recorded as failed: `lakehouse ops list`",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("LH_DEBUG") == "1":
                raise
            flags = command_flags(ctx.meta.get(_COMMAND)) | ctx.meta.get(_FIELD_FLAGS, {})
            raise typer.Exit(report_error(exc, flags)) from None


def parse_pair(pair: str, what: str) -> tuple[str, Any]:
    """`KEY=VALUE`; a VALUE that parses as JSON keeps its type (`n=3`, `tags=["a"]`)."""
    try:
        return key_value(pair)
    except KeyValueError as exc:
        fail(f"{what} {exc}")


def parse_key_values(pairs: list[str] | None, what: str = "--input") -> dict[str, Any]:
    return dict(parse_pair(pair, what) for pair in pairs or [])


@contextmanager
def stage_bars(hook: ContextVar[Any]) -> Iterator[None]:
    """One progress bar per stage on stderr, fed by a mode's progress hook (`hook`, a ContextVar
    holding a `(stage, done, total)` callback) while the block runs; not on a terminal, one line
    as each stage starts (a 6-minute adapt printed nothing, a slow run looked like a hang)."""
    if not err_console.is_terminal:
        started: set[str] = set()

        def say(stage: str, done: int, total: int) -> None:
            if stage not in started:
                started.add(stage)
                err_console.print(f"{stage}…", markup=False, highlight=False, soft_wrap=True)

        token = hook.set(say)
        try:
            yield
        finally:
            hook.reset(token)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bars:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total or 1)
            bars.update(tasks[stage], completed=done, total=total or 1)

        token = hook.set(report)
        try:
            yield
        finally:
            hook.reset(token)


# Whether this command flushed the shared logs itself (`lakehouse flush`): the exit flush would only
# try again at once, and wait again for a store or catalog that did not answer.
EXIT_FLUSH_DONE = ContextVar("lakehouse_exit_flush_done", default=False)


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM and SIGINT end a server through SystemExit(128 + the signal), so `finally` blocks and
    atexit handlers run (Prefect stops the temporary server it started for this process's runs) and
    the exit code says it was stopped. Uvicorn re-raises the signal it caught after its graceful
    shutdown: SIGTERM's default action would kill the process on the spot, and the KeyboardInterrupt
    of SIGINT's is swallowed by `uvicorn.run` (a server stopped mid-run exited 0)."""
    import signal

    stopping: list[int] = []

    def _exit(signum: int, frame: object) -> None:
        if stopping:
            # already leaving (and within EXIT_WITHIN_S once serving stopped): raised again, the exit
            # landed wherever the main thread was (thread joins, weakref callbacks) as a traceback
            return
        stopping.append(signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)


EXIT_WITHIN_S = 10.0  # after a server stopped serving (its grace for requests and runs is spent)


def serve_http(app: Any, *, host: str, port: int, log_level: str, grace_s: float, **options: Any) -> None:
    """uvicorn until stopped, for `lakehouse api` and `lakehouse mcp --http` (each has refused a port
    in use first, `refuse_port_in_use`, before announcing itself): requests in flight
    get `grace_s` (then a 503), and the process ends within `EXIT_WITHIN_S` after, whatever still
    runs (the caller's own `finally` still runs: the timer starts as uvicorn returns)."""
    import math

    import uvicorn

    code = 0
    try:
        # proxy_headers=False: the socket peer is the client unless it is one of *our* trusted proxies.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level.lower(),
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=math.ceil(grace_s),
            **options,
        )
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        raise
    finally:
        from lakehouse.observe.open_calls import interrupt_open_calls

        interrupt_open_calls(f"the server stopped before the call ended (after its {grace_s:g} s grace)")
        exit_within(EXIT_WITHIN_S, code)


def refuse_port_in_use(host: str, port: int) -> None:
    """Before a server announces itself or writes its state file (a second `lakehouse api` then
    removed the running one's); uvicorn found it only after start-up and exited 3, a code of no
    error kind, with its own bind error."""
    if port and not can_listen(host, port):
        fail(
            f"port {port} on {host} is in use (another `lakehouse api` or `lakehouse mcp --http`, or another "
            "program): use --port N (0 picks a free one)"
        )


def can_listen(host: str, port: int) -> bool:
    """Would uvicorn's bind succeed? Same family and SO_REUSEADDR as uvicorn's own socket (and
    Prefect's server check), so a port whose connections a stopped server closed (TIME_WAIT, or
    FIN_WAIT_2 while a browser keeps the UI open) counts as free, as it is for uvicorn."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def exit_within(seconds: float, code: int) -> None:
    """Called once a server has stopped serving: the process ends within `seconds` even when a
    thread nobody can stop still runs. A workflow node in flight is one: Prefect's task threads
    are a ThreadPoolExecutor's, which the interpreter joins before it exits, so a 60 s node held a
    stopped API for its minute (its run then reads as crashed, and resume runs the rest). The exit
    handlers still run once (Prefect stops its temporary server)."""
    import atexit
    import logging
    import threading

    from flows.run_hooks import RUNS_IN_FLIGHT

    exiting = threading.Event()
    atexit.register(exiting.set)  # registered last, so it runs first: the normal exit has begun
    warned = _warn_of_runs_left(len(RUNS_IN_FLIGHT))
    if warned:
        # A run cut by the interpreter's exit fails inside Prefect's logging ("cannot schedule new
        # futures after interpreter shutdown"): pages of "--- Logging error ---" that say no more.
        logging.raiseExceptions = False

    def _leave() -> None:
        if not exiting.is_set():
            if not warned:
                err_console.print(
                    f"[yellow]warning:[/] still busy {seconds:g} s after the server stopped (a workflow node in "
                    "flight?): exiting without it; its run reads as crashed, `lakehouse workflow resume` finishes it",
                    highlight=False,
                )
            atexit._run_exitfuncs()
        sys.stdout.flush()
        os._exit(code)

    timer = threading.Timer(seconds, _leave)
    timer.daemon = True
    timer.start()


def _warn_of_runs_left(runs: int) -> bool:
    if runs:
        err_console.print(
            f"[yellow]warning:[/] {runs} workflow run(s) still running as the server stopped: exiting without "
            "them; each reads as crashed, `lakehouse workflow resume` finishes it",
            highlight=False,
        )
    return bool(runs)
