"""Per-node overhead of Lakehouse workflows vs the same nodes as bare Prefect tasks and plain calls.

    .venv/bin/python -m bench.workflow_overhead [--sizes 10,50,200] [--repeats 3]

All three run in one process after a warm-up flow (so Prefect's temporary server start is not
counted). Each node is `fixture.echo`, so the figures are pure orchestration cost:
- plain: the mode functions called in topological order;
- prefect: one flow, one trivial task per node, dependencies passed as futures;
- lakehouse: the YAML workflow through `run_workflow` (checks, references, ObservedOp per node,
  ops artifact).
Per-node cost = time inside the flow body / nodes (for Lakehouse: the workflow checks before the
flow, scheduling, and the ops artifact). The whole-run time is shown too, but it moves in ~1 s steps
(Prefect's end-of-run wait), which would swamp the per-node figures at these sizes.
Each measured run starts once Prefect's server has recorded every earlier task run (otherwise the
next flow-run creation stalls on SQLite's lock, 2-7 s, at random, whoever caused the backlog).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("LH_HOME", tempfile.mkdtemp(prefix="lakehouse-bench-"))
os.environ.setdefault("PREFECT_HOME", os.path.join(os.environ["LH_HOME"], "prefect"))

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

import flows  # noqa: E402,F401  (Prefect environment first)
from flows import runner  # noqa: E402
from flows.loader import load_workflow_text  # noqa: E402
from flows.runner import run_workflow  # noqa: E402
from modes import ModeContext, get_mode  # noqa: E402


def workflow_text(shape: str, n: int) -> str:
    lines = [f"name: bench-{shape}-{n}", "nodes:", "  - {id: n0, mode: fixture.echo, with: {value: 0}}"]
    for i in range(1, n):
        dep = f"n{i - 1}" if shape == "chain" else "n0"
        lines.append(f"  - {{id: n{i}, mode: fixture.echo, depends_on: [{dep}], with: {{value: ${dep}.output.value}}}}")
    return "\n".join(lines) + "\n"


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


BODY: list[float] = []  # seconds spent inside the last flow body


@flow(persist_result=False)
def bare_flow(shape: str, n: int):
    start = time.perf_counter()
    root = bare_echo.with_options(task_run_name="n0").submit(0)
    futures = [root]
    for i in range(1, n):
        upstream = futures[-1] if shape == "chain" else root
        futures.append(bare_echo.with_options(task_run_name=f"n{i}").submit(upstream))
    results = [f.result() for f in futures]
    BODY.append(time.perf_counter() - start)
    return results


def prefect_bare(shape: str, n: int) -> tuple[float, float]:
    start = time.perf_counter()
    bare_flow(shape, n)
    return time.perf_counter() - start, BODY.pop()


def _timed_body(method):
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            BODY[-1] += time.perf_counter() - start

    return wrapper


# The flow body of a Lakehouse run is scheduling + the ops artifact; time exactly those.
runner._Run.execute = _timed_body(runner._Run.execute)
runner._Run.attach_ops_artifact = _timed_body(runner._Run.attach_ops_artifact)


def lakehouse(shape: str, n: int) -> tuple[float, float]:
    text = workflow_text(shape, n)
    start = time.perf_counter()
    loaded = load_workflow_text(text, f"bench-{shape}-{n}-{time.monotonic_ns()}.yaml", {})  # no cache hit
    BODY.append(time.perf_counter() - start)  # the checks run before the flow: count them too
    result = run_workflow(loaded)
    assert result.status == "completed"
    return time.perf_counter() - start, BODY.pop()


def settle(expected_task_runs: int, timeout: float = 60.0) -> None:
    """Wait until Prefect's server has recorded every task run so far (its task-run count stops
    growing). Otherwise the next flow-run creation stalls on SQLite's lock (503 + retry, 2-7 s)
    and one flavour is charged for the other's backlog."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            if client._client.post("/task_runs/count", json={}).json() >= expected_task_runs:
                break
            time.sleep(0.25)
    time.sleep(0.5)


SUBMITTED = [0]  # task runs submitted so far in this process


def measure(fn, shape: str, n: int, repeats: int) -> tuple[float, float]:
    """Median (whole run, flow body) seconds over `repeats` runs."""
    runs, bodies = [], []
    for _ in range(repeats):
        if fn is not plain:
            settle(SUBMITTED[0])
            SUBMITTED[0] += n
        total, body = fn(shape, n)
        runs.append(total)
        bodies.append(body)
    return statistics.median(runs), statistics.median(bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    lakehouse("chain", 2)  # warm-up: starts Prefect's temporary server
    prefect_bare("chain", 2)
    SUBMITTED[0] = 4
    print(
        "| shape | nodes | plain µs/node | prefect ms/node | lakehouse ms/node | lakehouse / prefect | "
        "prefect run s | lakehouse run s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for shape in ("chain", "fanout"):
        for n in sizes:
            _, p = measure(plain, shape, n, args.repeats)
            b_run, b = measure(prefect_bare, shape, n, args.repeats)
            lh_run, lh = measure(lakehouse, shape, n, args.repeats)
            print(
                f"| {shape} | {n} | {p / n * 1e6:.1f} | {b / n * 1e3:.2f} | {lh / n * 1e3:.2f} | "
                f"{lh / b:.2f}x | {b_run:.2f} | {lh_run:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
