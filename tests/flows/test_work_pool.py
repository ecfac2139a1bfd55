"""Production wiring on one machine, as processes: a Prefect server (`python -m flows.prefect_server
server start`, as deployments/README.md starts it) whose database is the
session's PostgreSQL, the Iceberg catalog on PostgreSQL and the warehouse and objects on S3 (moto),
and two `prefect worker start` processes on one process work pool, each with its own LH_HOME and
working directory (standing for two machines). The `run-workflow` deployment is made with
`prefect deploy` from prefect.yaml, as deployments/README.md tells an operator to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flows.jobs import WORK_POOL
from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from lakehouse.data.tables import PAUSE_BEFORE_COMMIT_ENV
from tests.fixtures.http import free_port

pytestmark = pytest.mark.prefect
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUNS = 4
MACHINES = ("machine-a", "machine-b")
WORKER_LIMIT = 2
IDLE_SERVICES: tuple[str, ...] = (
    "LATE_RUNS",
    "PAUSE_EXPIRATIONS",
    "CANCELLATION_CLEANUP",
    "DB_VACUUM",
    "REPOSSESSOR",
)
IDLE_SERVICES += ("TRIGGERS", "EVENT_LOGGER", "CLEANUP_RECONCILER")


@dataclass
class Cluster:
    api_url: str
    shared_env: dict[str, str]  # what every machine sets: Prefect API, catalog, warehouse, S3
    homes: dict[str, Path]
    logs: dict[str, Path]

    def env(self, machine: str) -> dict[str, str]:
        home = self.homes[machine]
        return {**self.shared_env, "LH_HOME": str(home), "PREFECT_HOME": str(home / "prefect")}

    def settings(self, machine: str, **overrides: Any) -> Settings:
        """The same machine's settings, for a Lakehouse in this process."""
        env = self.env(machine)
        return Settings(
            home=self.homes[machine],
            catalog_url=env["LH_CATALOG_URL"],
            warehouse_url=env["LH_WAREHOUSE_URL"],
            objects_url=env["LH_OBJECTS_URL"],
            s3_endpoint=env["LH_S3_ENDPOINT"],
            s3_access_key=env["LH_S3_ACCESS_KEY"],
            s3_secret_key=env["LH_S3_SECRET_KEY"],
            s3_secure=False,
            shared_state="on",
            **overrides,
        )

    def run_cli(self, *commands: tuple[str, list[str]]) -> list[str]:
        """`lakehouse ARGS` on each (machine, args) at once; their stdouts, each checked for exit 0."""
        procs = [self.lakehouse(machine, *args) for machine, args in commands]
        with ThreadPoolExecutor(len(procs)) as pool:
            done = list(pool.map(lambda p: p.communicate(timeout=300), procs))
        for proc, (out, err) in zip(procs, done, strict=True):
            assert proc.returncode == 0, out + err
        return [out for out, _ in done]

    def lakehouse(self, machine: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        env = {**self.env(machine), **(extra_env or {})}
        return subprocess.Popen(
            [str(BIN / "lakehouse"), *args],
            cwd=self.homes[machine],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def tail(self) -> str:
        return "\n".join(f"--- {name}\n{path.read_text()[-3000:]}" for name, path in self.logs.items() if path.exists())


def _start(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to every process group at once, then wait: one after the other, each worker's
    graceful shutdown was waited out in turn."""
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"Prefect server did not answer: {log.read_text()[-3000:]}")


def _create_pool(api_url: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))


@pytest.fixture(scope="module")
def cluster(postgres, moto_s3, tmp_path_factory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("work-pool")
    bucket = moto_s3.new_bucket()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LH_", "PREFECT_"))}
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    server_env = {
        **base,
        "PREFECT_HOME": str(root / "server-home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": postgres.url("prefect", driver="asyncpg"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # Services these runs never need (automations, late or paused runs) only take CPU.
        **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in IDLE_SERVICES},
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",  # default 60 s
    }
    logs = {"server": root / "server.log"}
    server = _start(
        [sys.executable, "-m", "flows.prefect_server", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        server_env,
        root,
        logs["server"],
    )
    workers: list[subprocess.Popen] = []
    try:
        _wait_healthy(api_url, server, logs["server"])
        shared = {
            **base,
            "PREFECT_API_URL": api_url,
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_WORKER_QUERY_SECONDS": "1",  # default 10 s: the runs would mostly wait
            "LH_CONFIG": os.devnull,
            "LH_PREFECT_AUTOSTART": "false",
            "LH_CATALOG_URL": postgres.url("catalog"),
            "LH_WAREHOUSE_URL": f"s3://{bucket}/warehouse",
            "LH_OBJECTS_URL": f"s3://{bucket}/objects",
            "LH_SHARED_STATE": "on",  # `auto` would too (a catalog_url is set); said outright here
            "LH_EMBED_MODEL": "wordllama",
            **moto_s3.env(),
        }
        homes = {m: root / m for m in MACHINES}
        for home in homes.values():
            home.mkdir()
        found = Cluster(api_url, shared, homes, logs)
        _create_pool(api_url)
        for machine in MACHINES:
            logs[machine] = root / f"{machine}.log"
            # --limit: neither worker can take the whole queue in one poll, so both run some.
            cmd = [str(BIN / "prefect"), "worker", "start", "--pool", WORK_POOL, "--type", "process"]
            cmd += ["--name", machine, "--limit", str(WORKER_LIMIT)]
            workers.append(_start(cmd, found.env(machine), homes[machine], logs[machine]))
        deploy = subprocess.run(  # while the workers start
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--name", "run-workflow", "--name", "tables-gc"],
            cwd=REPO,
            env=found.env(MACHINES[0]),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        yield found
    finally:
        _stop(workers)
        _stop([server])


@pytest.fixture
def prefect_client(cluster):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: cluster.api_url}), get_client(sync_client=True) as client:
        yield client


def _local_ops(home: Path) -> dict[str, int]:
    """Ops per run id in one machine's own log (the write-ahead log, never shared)."""
    counts: dict[str, int] = {}
    for line in (home / "ops.jsonl").read_text().splitlines():
        op = json.loads(line)
        if op.get("workflow") == "hello-lakehouse":
            counts[op["run_id"]] = counts.get(op["run_id"], 0) + 1
    return counts


def test_a_scheduled_job_gets_its_runs_from_the_server_on_postgresql(cluster, prefect_client):
    """tables-gc's nightly schedule (prefect.yaml) becomes scheduled flow runs. With SQLAlchemy 2.1
    and a plain `prefect server start`, the scheduler failed every pass and made none."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deployment = prefect_client.read_deployment_by_name("tables-gc/tables-gc")
    assert deployment.schedules, "prefect.yaml gives tables-gc a schedule"
    only_gc = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
    runs = []
    for _ in range(120):  # bounded poll, not timed: the scheduler passes every 2 s here
        runs = prefect_client.read_flow_runs(deployment_filter=only_gc)
        if runs:
            break
        time.sleep(1)
    assert runs, f"no scheduled run of tables-gc\n{cluster.tail()}"
    assert {run.state.type.value for run in runs} == {"SCHEDULED"}
    assert "Can't evaluate bulk DML statement" not in cluster.logs["server"].read_text()


def test_runs_on_one_pool_complete_on_both_workers(cluster, prefect_client):
    deployment = prefect_client.read_deployment_by_name("lakehouse-workflow/run-workflow")
    assert deployment.work_pool_name == WORK_POOL
    # Both workers polling before the runs exist: otherwise a slow-starting one may find the queue
    # already emptied by the other.
    for _ in range(600):  # bounded poll, not timed
        online = {worker.name for worker in prefect_client.read_workers_for_work_pool(WORK_POOL)}
        if online >= set(MACHINES):
            break
        time.sleep(0.5)
    assert online >= set(MACHINES), f"workers online: {sorted(online)}\n{cluster.tail()}"
    runs = [
        prefect_client.create_flow_run_from_deployment(
            deployment.id, parameters={"workflow": "hello-lakehouse", "inputs": {"text": f"run {i}"}}
        )
        for i in range(RUNS)
    ]
    deadline = time.monotonic() + 300
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {str(r.id): prefect_client.read_flow_run(r.id).state.type.value for r in runs}
        if set(states.values()) <= FINAL:
            break
        time.sleep(1)
    assert list(states.values()) == ["COMPLETED"] * RUNS, f"{states}\n{cluster.tail()}"
    by_machine = {machine: _local_ops(cluster.homes[machine]) for machine in MACHINES}
    # Each run's three node ops are in the LH_HOME of the worker that ran it, and only there.
    for machine, ops in by_machine.items():
        assert ops, f"{machine} ran none of the {RUNS} runs\n{cluster.tail()}"
        assert set(ops.values()) == {3}
    assert set(by_machine["machine-a"]).isdisjoint(by_machine["machine-b"])
    assert set(by_machine["machine-a"]) | set(by_machine["machine-b"]) == set(states)
    # Each run flushed its ops to the shared table as it ended (no `lakehouse flush` here): every op
    # is seen once from either machine.
    query = "SELECT count(*), count(DISTINCT op_id), count(DISTINCT run_id) FROM ops WHERE workflow = 'hello-lakehouse'"
    seen = cluster.run_cli(*[(machine, ["ops", "sql", "--json", query]) for machine in MACHINES])
    assert [json.loads(out)["rows"] for out in seen] == [[[3 * RUNS, 3 * RUNS, RUNS]]] * 2


def test_a_playbook_recorded_on_one_machine_changes_the_search_on_the_other(cluster):
    from tests.fixtures.vectors import HEALTH_MODEL, health_table

    query = "nurse who works in the intensive care unit"
    a = Lakehouse(cluster.settings("machine-a", embed_model=HEALTH_MODEL, hnsw_threads=1))
    b = Lakehouse(cluster.settings("machine-b", embed_model=HEALTH_MODEL, hnsw_threads=1))

    def ranked(lh: Lakehouse) -> list[str]:
        result = lh.matrix.search(query, ["health"], relevance=False, top_k=10, top_n=10, force_mode=True)
        return [hit.id for hit in result.hits]

    try:
        a.tables.write_arrow("health", health_table(), mode="overwrite")
        a.corpora.build("health", "health", ["Title", "Description"], "O*NET-SOC Code", ["group"])
        cold = ranked(b)  # the corpus itself is shared: its index lives in the S3 object store
        answer = cold[5]
        a.playbooks.record(query, answer, "health", 1.0)
        assert ranked(b) == cold  # recorded on a, not flushed yet
        [out] = cluster.run_cli(("machine-a", ["flush", "--log", "playbooks", "--json"]))
        assert [r["appended"] for r in json.loads(out)] == [1]
        warm = ranked(b)
        assert warm[0] == answer and warm != cold
    finally:
        a.close()
        b.close()


def test_concurrent_ingests_from_both_machines_keep_every_row(cluster, tmp_path):
    jobs = []
    for i in range(4):
        path = tmp_path / f"batch{i}.csv"
        path.write_text("id,side\n" + "".join(f"{i * 1000 + n},{i}\n" for n in range(50)))
        jobs.append((MACHINES[i % 2], path))
    # The pause between writing data files and committing makes the four commits overlap, so
    # several of them lose the race to another machine and must be planned again.
    pause = {PAUSE_BEFORE_COMMIT_ENV: "0.5"}
    procs = [
        cluster.lakehouse(machine, "ingest", str(path), "--table", "shared_batches", "--json", extra_env=pause)
        for machine, path in jobs
    ]
    with ThreadPoolExecutor(len(procs)) as pool:
        done = list(pool.map(lambda p: p.communicate(timeout=300), procs))
    statuses = []
    for proc, (out, err) in zip(procs, done, strict=True):
        assert proc.returncode == 0, out + err
        statuses.append(json.loads(out)["status"])
    assert sorted(statuses) == ["appended"] * 3 + ["created"]  # one created the table, the rest re-planned
    reader = Lakehouse(cluster.settings(MACHINES[1]))
    try:
        ids = sorted(reader.tables.read_arrow("shared_batches").column("id").to_pylist())
        assert ids == sorted(i * 1000 + n for i in range(4) for n in range(50))
        assert len(reader.tables.describe("shared_batches")["snapshots"]) == 4
    finally:
        reader.close()
