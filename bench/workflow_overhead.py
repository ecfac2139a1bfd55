"""Workflow overhead: Lakehouse workflows vs the same work as bare Prefect, in the same run.

    .venv/bin/python -m bench.workflow_overhead [--parts cli,map,nodes] [--cli-repeats 7]
        [--ephemeral-repeats 2] [--map-items 1000] [--map-repeats 3] [--sizes 10,50,200] [--repeats 3]
        [--tree DIR]

Parts (each compares against its bare-Prefect baseline measured in the same run):
- cli: `lakehouse workflow run hello-lakehouse` (3 nodes) end to end as a fresh process vs a bare
  Prefect flow with the same 3 trivial tasks run as a fresh `python -c` script; both against one
  local Prefect server that this bench starts (`lakehouse server start`, a free port, a temp LH_HOME)
  and with the same Prefect environment. Runs alternate; median (and min) wall and CPU seconds. For
  reference, the same CLI run without any server (Prefect's temporary server, what a run cost
  before auto-start).
- map: a `for_each` node over a list input of N items (fixture.echo, max_parallel 16) through
  `lakehouse workflow run FILE --input items=[...]` vs a bare Prefect flow mapping one task over the
  same N items (`task.map`, ThreadPoolTaskRunner(max_workers=16)), both as processes, same server.
- nodes: per-node cost in one process, Prefect's temporary server, after a warm-up flow (the
  original bench): plain mode calls vs one bare Prefect task per node vs the YAML workflow through
  `run_workflow`, for chain and fan-out shapes of each size.
Before each measured run the bench waits until the server has recorded every earlier task run, so
neither flavour pays for the other's backlog (SQLite lock stalls of 2-7 s otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LH_HOME", tempfile.mkdtemp(prefix="lakehouse-bench-"))
os.environ.setdefault("PREFECT_HOME", os.path.join(os.environ["LH_HOME"], "prefect"))

import flows  # noqa: E402,F401  (Prefect environment first; imports no Prefect)

PYTHON = sys.executable
LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))

# The bare baseline of `hello-lakehouse`: the same three nodes (echo -> upper -> echo of both), the
# same task options our runner uses, dependencies passed as wait_for; imports nothing but prefect.
BARE_HELLO = """
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

@task(cache_policy=NO_CACHE, persist_result=False)
def echo(value):
    return {"value": value}

@task(cache_policy=NO_CACHE, persist_result=False)
def upper(text):
    return {"text": text.upper()}

@flow(name="bare-hello", persist_result=False)
def hello(text="hello lakehouse"):
    start = echo.with_options(task_run_name="start").submit(text)
    shout = upper.with_options(task_run_name="shout").submit(start.result()["value"], wait_for=[start])
    line = f"{start.result()['value']} -> {shout.result()['text']}"
    return echo.with_options(task_run_name="join").submit(line, wait_for=[start, shout]).result()

state = hello(return_state=True)
assert state.is_completed(), state
print(state.state_details.flow_run_id)
"""

BARE_MAP = """
import sys
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

@task(cache_policy=NO_CACHE, persist_result=False)
def echo(value):
    return {"value": value}

@flow(name="bare-map", persist_result=False, task_runner=ThreadPoolTaskRunner(max_workers=16))
def fan(items):
    return [f.result() for f in echo.map(items)]

state = fan(list(range(int(sys.argv[1]))), return_state=True)
assert state.is_completed(), state
assert len(state.result()) == int(sys.argv[1])
print(state.state_details.flow_run_id)
"""

MAP_WORKFLOW = """name: bench-map
description: One fixture.echo per item of a list input, 16 at a time.
inputs:
  items: {type: array, required: true}
nodes:
  - id: each
    mode: fixture.echo
    for_each: $inputs.items
    max_parallel: 16
    with: {value: $item}
"""


# --- processes against one local server ----------------------------------------------------------


class Server:
    """A `lakehouse server start` on a free port under its own LH_HOME, and the environment the
    measured processes share (the Prefect defaults our CLI sets, pointed at this server)."""

    def __init__(self, tree: str | None = None) -> None:
        from flows.prefect_env import prefect_defaults

        self.home = Path(tempfile.mkdtemp(prefix="lakehouse-bench-cli-"))
        base = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
        base.update(LH_HOME=str(self.home), LH_PREFECT_AUTOSTART="false")
        self.base_env = base
        port = _free_port()
        started = subprocess.run(
            [LAKEHOUSE, "server", "start", "--port", str(port)], env=base, capture_output=True, text=True
        )
        if started.returncode != 0:
            raise SystemExit(f"could not start the Prefect server: {started.stderr}{started.stdout}")
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.env = {**prefect_defaults(self.home), **base, "PREFECT_API_URL": self.api_url}
        if tree:  # the measured `lakehouse` runs another tree's code (before/after figures)
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, self.env.get("PYTHONPATH")]))
        self.expected_task_runs = 0

    def stop(self) -> None:
        subprocess.run([LAKEHOUSE, "server", "stop"], env=self.base_env, capture_output=True)

    def settle(self, timeout: float = 600.0) -> None:
        """Wait until the server has recorded every task run so far (its count stops short of the
        expected number only while it is still catching up)."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = httpx.post(f"{self.api_url}/task_runs/count", json={}, timeout=30).json()
            if count >= self.expected_task_runs:
                break
            time.sleep(0.25)
        time.sleep(0.5)

    def ephemeral_env(self) -> dict[str, str]:
        """No server: another LH_HOME, no PREFECT_API_URL, auto-start off (Prefect's temporary server)."""
        home = Path(tempfile.mkdtemp(prefix="lakehouse-bench-ephemeral-"))
        env = {k: v for k, v in self.env.items() if k != "PREFECT_API_URL"}
        env.update(LH_HOME=str(home), PREFECT_HOME=str(home / "prefect"))
        return env

    def timed(self, command: list[str], task_runs: int, env: dict[str, str] | None = None) -> tuple[float, float, str]:
        """(wall s, CPU s of the process, stdout) of one run; it must exit 0."""
        if env is None:
            self.settle()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, env=env or self.env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command[:4])} failed ({done.returncode}): {done.stderr[-2000:]}")
        if env is None:
            self.expected_task_runs += task_runs
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, done.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _row(label: str, samples: list[tuple[float, float]]) -> str:
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return (
        f"| {label} | {statistics.median(walls):.2f} | {min(walls):.2f} | {statistics.median(cpus):.2f} | "
        f"{len(samples)} |"
    )


def _header() -> None:
    print("| run | median wall s | min wall s | median cpu s | runs |")
    print("|---|---:|---:|---:|---:|")


def cli_part(server: Server, repeats: int, ephemeral_repeats: int) -> None:
    lakehouse_cmd = [LAKEHOUSE, "workflow", "run", "hello-lakehouse", "--json"]
    bare_cmd = [PYTHON, "-c", BARE_HELLO]
    pass_cmd = [PYTHON, "-c", "pass"]
    server.timed(lakehouse_cmd, 3)  # warm-up: .pyc files, the flow and task definitions on the server
    server.timed(bare_cmd, 3)
    lh, bare, interp = [], [], []
    for _ in range(repeats):
        wall, cpu, out = server.timed(lakehouse_cmd, 3)
        assert json.loads(out)["status"] == "completed"
        lh.append((wall, cpu))
        wall, cpu, _ = server.timed(bare_cmd, 3)
        bare.append((wall, cpu))
        wall, cpu, _ = server.timed(pass_cmd, 0)
        interp.append((wall, cpu))
    no_server = server.ephemeral_env()  # one LH_HOME: its Prefect database exists after the first run
    ephemeral = [server.timed(lakehouse_cmd, 3, no_server)[:2] for _ in range(ephemeral_repeats)]
    print("\n### cli: 3-node workflow end to end, local Prefect server\n")
    _header()
    print(_row("`lakehouse workflow run hello-lakehouse --json`", lh))
    print(_row("bare Prefect flow, same 3 tasks (`python -c`)", bare))
    print(_row("`python -c pass`", interp))
    if ephemeral:
        print(_row("the same `lakehouse workflow run`, no server (Prefect's temporary server)", ephemeral))
    ratio = statistics.median(w for w, _ in lh) / statistics.median(w for w, _ in bare)
    cpu_ratio = statistics.median(c for _, c in lh) / statistics.median(c for _, c in bare)
    print(f"\nlakehouse / bare: wall {ratio:.2f}x, cpu {cpu_ratio:.2f}x", flush=True)


def map_part(server: Server, items: int, repeats: int) -> None:
    path = server.home / "bench-map.yaml"
    path.write_text(MAP_WORKFLOW)
    values = json.dumps(list(range(items)), separators=(",", ":"))
    lakehouse_cmd = [LAKEHOUSE, "workflow", "run", str(path), "--input", f"items={values}", "--json"]
    bare_cmd = [PYTHON, "-c", BARE_MAP, str(items)]
    lh, bare = [], []
    for _ in range(repeats):
        wall, cpu, out = server.timed(lakehouse_cmd, items)
        result = json.loads(out)
        node = result["nodes"]["each"]
        assert result["status"] == "completed" and node["items"]["completed"] == items, node
        lh.append((wall, cpu))
        wall, cpu, _ = server.timed(bare_cmd, items)
        bare.append((wall, cpu))
    print(f"\n### map: {items} items, 16 in flight, local Prefect server\n")
    _header()
    print(_row(f"`for_each` over {items} items (`lakehouse workflow run`)", lh))
    print(_row(f"bare Prefect `task.map` over {items} items", bare))
    ratio = statistics.median(w for w, _ in lh) / statistics.median(w for w, _ in bare)
    print(f"\nlakehouse / bare: wall {ratio:.2f}x", flush=True)


# --- per-node cost in one process (Prefect's temporary server) -------------------------------------


def workflow_text(shape: str, n: int) -> str:
    lines = [f"name: bench-{shape}-{n}", "nodes:", "  - {id: n0, mode: fixture.echo, with: {value: 0}}"]
    for i in range(1, n):
        dep = f"n{i - 1}" if shape == "chain" else "n0"
        lines.append(f"  - {{id: n{i}, mode: fixture.echo, depends_on: [{dep}], with: {{value: ${dep}.output.value}}}}")
    return "\n".join(lines) + "\n"


def nodes_part(sizes: list[int], repeats: int) -> None:
    """Per-node cost = time inside the flow body / nodes (for Lakehouse: the workflow checks before
    the flow, scheduling, and the ops artifact). The whole-run time moves in ~1 s steps (Prefect's
    end-of-run heartbeat join), which would swamp the per-node figures at these sizes."""
    os.environ.pop("PREFECT_API_URL", None)  # this part measures Prefect's temporary server
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows import engine, runner
    from flows.loader import load_workflow_text
    from flows.runner import run_workflow
    from modes import ModeContext, get_mode

    body: list[float] = []  # seconds spent inside the last flow body

    def plain(shape: str, n: int) -> tuple[float, float]:
        echo, ctx = get_mode("fixture.echo"), ModeContext.standalone()
        start = time.perf_counter()
        outputs = [echo({"value": 0}, ctx).model_dump()]
        for i in range(1, n):
            upstream = outputs[i - 1] if shape == "chain" else outputs[0]
            outputs.append(echo({"value": upstream["value"]}, ctx).model_dump())
        elapsed = time.perf_counter() - start
        return elapsed, elapsed

    @task(cache_policy=NO_CACHE, persist_result=False)
    def bare_echo(value):
        return {"value": value["value"] if isinstance(value, dict) else value}

    @flow(persist_result=False)
    def bare_flow(shape: str, n: int):
        start = time.perf_counter()
        root = bare_echo.with_options(task_run_name="n0").submit(0)
        futures = [root]
        for i in range(1, n):
            upstream = futures[-1] if shape == "chain" else root
            futures.append(bare_echo.with_options(task_run_name=f"n{i}").submit(upstream))
        results = [f.result() for f in futures]
        body.append(time.perf_counter() - start)
        return results

    def prefect_bare(shape: str, n: int) -> tuple[float, float]:
        start = time.perf_counter()
        bare_flow(shape, n)
        return time.perf_counter() - start, body.pop()

    def timed_body(method):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                body[-1] += time.perf_counter() - start

        return wrapper

    # The flow body of a Lakehouse run is scheduling + the ops artifact; time exactly those.
    engine.WorkflowRun.execute = timed_body(engine.WorkflowRun.execute)  # type: ignore[method-assign]
    runner.attach_ops_artifact = timed_body(runner.attach_ops_artifact)

    def lakehouse(shape: str, n: int) -> tuple[float, float]:
        text = workflow_text(shape, n)
        start = time.perf_counter()
        loaded = load_workflow_text(text, f"bench-{shape}-{n}-{time.monotonic_ns()}.yaml", {})  # no cache hit
        body.append(time.perf_counter() - start)  # the checks run before the flow: count them too
        result = run_workflow(loaded)
        assert result.status == "completed"
        return time.perf_counter() - start, body.pop()

    submitted = [0]  # task runs submitted so far in this process

    def settle(expected_task_runs: int, timeout: float = 60.0) -> None:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                if client._client.post("/task_runs/count", json={}).json() >= expected_task_runs:
                    break
                time.sleep(0.25)
        time.sleep(0.5)

    def measure(fn, shape: str, n: int) -> tuple[float, float]:
        """Median (whole run, flow body) seconds over `repeats` runs."""
        runs, bodies = [], []
        for _ in range(repeats):
            if fn is not plain:
                settle(submitted[0])
                submitted[0] += n
            total, spent = fn(shape, n)
            runs.append(total)
            bodies.append(spent)
        return statistics.median(runs), statistics.median(bodies)

    lakehouse("chain", 2)  # warm-up: starts Prefect's temporary server
    prefect_bare("chain", 2)
    submitted[0] = 4
    print("\n### nodes: per-node cost in one process, Prefect's temporary server\n")
    print(
        "| shape | nodes | plain µs/node | prefect ms/node | lakehouse ms/node | lakehouse / prefect | "
        "prefect run s | lakehouse run s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for shape in ("chain", "fanout"):
        for n in sizes:
            _, p = measure(plain, shape, n)
            b_run, b = measure(prefect_bare, shape, n)
            lh_run, lh = measure(lakehouse, shape, n)
            print(
                f"| {shape} | {n} | {p / n * 1e6:.1f} | {b / n * 1e3:.2f} | {lh / n * 1e3:.2f} | "
                f"{lh / b:.2f}x | {b_run:.2f} | {lh_run:.2f} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="cli,map,nodes", help="Comma-separated: cli, map, nodes.")
    parser.add_argument("--cli-repeats", type=int, default=7)
    parser.add_argument("--ephemeral-repeats", type=int, default=2, help="cli runs without a server, for reference.")
    parser.add_argument("--map-items", type=int, default=1000)
    parser.add_argument("--map-repeats", type=int, default=3)
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--tree",
        help="Run the measured `lakehouse` processes from this source tree (e.g. `git archive` of an older commit).",
    )
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if unknown := parts - {"cli", "map", "nodes"}:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    if parts & {"cli", "map"}:
        server = Server(args.tree)
        try:
            if "cli" in parts:
                cli_part(server, args.cli_repeats, args.ephemeral_repeats)
            if "map" in parts:
                map_part(server, args.map_items, args.map_repeats)
        finally:
            server.stop()
    if "nodes" in parts:
        nodes_part([int(s) for s in args.sizes.split(",")], args.repeats)
    print(f"\nload average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
