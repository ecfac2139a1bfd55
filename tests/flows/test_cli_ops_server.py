from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from lakehouse.config import get_settings
from lakehouse.observe.observer import ObservedOp, Observer, now_utc
from tests.fixtures.http import free_port


@pytest.fixture
def logged_ops(lh_home):
    observer = Observer(get_settings().ops_log)
    start = now_utc()
    for i, (wf, status) in enumerate([("a", "completed"), ("a", "failed"), ("b", "completed")]):
        observer.record(
            ObservedOp.build(
                ts_start=start,
                ts_end=start + timedelta(milliseconds=5 * (i + 1)),
                source="workflow",
                workflow=wf,
                run_id=f"run-{wf}",
                node_id=f"n{i}",
                mode="fixture.echo",
                status=status,
            )
        )
    return observer


def test_ops_list_json_filters(logged_ops):
    runner = CliRunner()
    rows = json.loads(runner.invoke(app, ["ops", "list", "--json"]).stdout)
    assert [r["node_id"] for r in rows] == ["n0", "n1", "n2"]
    rows = json.loads(runner.invoke(app, ["ops", "list", "--workflow", "a", "--json"]).stdout)
    assert [r["node_id"] for r in rows] == ["n0", "n1"]
    rows = json.loads(runner.invoke(app, ["ops", "list", "--run", "run-b", "--top", "5", "--json"]).stdout)
    assert [r["node_id"] for r in rows] == ["n2"]
    assert json.loads(runner.invoke(app, ["ops", "list", "--top", "1", "--json"]).stdout)[0]["node_id"] == "n2"


def test_ops_stats_and_sql(logged_ops):
    runner = CliRunner()
    stats = json.loads(runner.invoke(app, ["ops", "stats", "--json"]).stdout)
    assert stats["by_status"] == {"completed": 2, "failed": 1}
    out = runner.invoke(app, ["ops", "sql", "SELECT workflow, count(*) FROM ops GROUP BY 1 ORDER BY 1", "--json"])
    assert json.loads(out.stdout) == {"columns": ["workflow", "count_star()"], "rows": [["a", 2], ["b", 1]]}


@pytest.mark.parametrize("query", ["DROP TABLE ops", "SELECT 1; DELETE FROM ops", "SELEC 1"])
def test_ops_sql_refuses_with_exit_1(logged_ops, query):
    result = CliRunner().invoke(app, ["ops", "sql", query])
    assert result.exit_code == 1
    assert "error:" in result.stderr
    assert len(logged_ops.ops()) == 3


def test_ops_list_limit_must_be_positive(logged_ops):
    result = CliRunner().invoke(app, ["ops", "list", "--top", "0"])
    assert result.exit_code == 2
    assert "--top" in result.stderr


def test_bad_input_pair_is_a_clear_error(lh_home):
    result = CliRunner().invoke(app, ["workflow", "run", "hello-lakehouse", "--input", "no-equals-sign"])
    assert result.exit_code == 1
    assert "expected KEY=VALUE" in result.stderr


def test_unknown_input_is_refused_before_running(lh_home):
    result = CliRunner().invoke(app, ["workflow", "run", "hello-lakehouse", "--input", "txet=hi"])
    assert result.exit_code == 1
    assert "inputs.txet: unknown input; did you mean 'text'?" in result.stderr


def test_every_command_has_help():
    runner = CliRunner()
    for args in (
        ["--help"],
        ["workflow", "--help"],
        ["workflow", "run", "--help"],
        ["ops", "sql", "--help"],
        ["server", "start", "--help"],
        ["modes", "list", "--help"],
        ["main", "--help"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.stdout, args


@pytest.mark.parametrize("args", [("--port", "99999"), ("--port", "0"), ("--timeout", "-1")])
def test_server_start_refuses_a_port_or_timeout_out_of_range_before_starting_anything(args):
    """--port 99999 was `error: OverflowError: bind(): ...` (exit 2, as our own failure), and a
    negative --timeout waited for nothing, then said to stop a server that never ran."""
    result = CliRunner().invoke(app, ["server", "start", *args])
    assert result.exit_code == 2 and f"Invalid value for '{args[0]}'" in result.stderr


@pytest.mark.parametrize(
    "args, option",
    [
        (("api", "--log-level", "loud"), "--log-level"),  # was `error: KeyError: loud` after the server was announced
        (("mcp", "--http", "--log-level", "loud"), "--log-level"),
        (("serve", "--json"), "--json"),  # served forever where a script wanted the list
    ],
)
def test_a_server_command_refuses_a_bad_option_before_serving(args, option):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.stderr, result.stderr


@pytest.mark.prefect
def test_server_start_run_status_stop(tmp_path):
    """A real `prefect server` started by the CLI; a workflow run then lands in it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env["LH_HOME"] = str(tmp_path / "home")
    cli = str(Path(sys.executable).with_name("lakehouse"))
    run = lambda *args, **kw: subprocess.run(  # noqa: E731
        [cli, *args], **{"env": env, "capture_output": True, "text": True, "timeout": 300, **kw}
    )
    port = free_port()
    try:
        started = run("server", "start", "--port", str(port))
        assert started.returncode == 0, started.stderr + started.stdout
        assert f"http://127.0.0.1:{port}" in started.stdout
        status = run("server", "status", "--json")
        assert json.loads(status.stdout)["healthy"] is True
        again = json.loads(run("server", "start", "--port", str(port), "--json").stdout)
        assert again == {
            "started": False,
            "ui_url": f"http://127.0.0.1:{port}",
            "api_url": f"http://127.0.0.1:{port}/api",
            "log": str(tmp_path / "home" / "prefect-server.log"),
        }
        elsewhere = run("server", "start", "--port", str(port + 1 if port < 65535 else port - 1))
        assert f"already running: http://127.0.0.1:{port}" in elsewhere.stdout
        assert f"note: it runs on http://127.0.0.1:{port}, not on port" in " ".join(elsewhere.stderr.split())
        done = run("workflow", "run", "hello-lakehouse", "--json")
        assert done.returncode == 0, done.stderr
        run_id = json.loads(done.stdout)["run_id"]
        import httpx

        flow_run = httpx.get(f"http://127.0.0.1:{port}/api/flow_runs/{run_id}", timeout=10).json()
        assert flow_run["state"]["type"] == "COMPLETED"

        # another home asking for the same port: its start passed for started, as that server answered
        other = run("server", "start", "--port", str(port), env={**env, "LH_HOME": str(tmp_path / "other")})
        assert other.returncode == 1
        assert f"port {port} on 127.0.0.1 is in use (another LH_HOME's Prefect server" in other.stderr
        assert not (tmp_path / "other" / "prefect-server.json").exists()
    finally:
        stopped = run("server", "stop", "--json")
    assert stopped.returncode == 0 and json.loads(stopped.stdout) == {"stopped": True}
    assert run("server", "status").returncode == 1
    assert json.loads(run("server", "stop", "--json").stdout) == {"stopped": False}
