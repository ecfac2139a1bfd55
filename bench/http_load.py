"""HTTP load: concurrent clients against `POST /v1/matrix/search` on a 3-corpus setup.

    .venv/bin/python -m bench.http_load [--duration 30] [--clients 50] [--rows 0]

Setup (same run): the O*NET occupations (`examples/data/occupations.tsv`) ingested and embedded
with MiniLM into three corpora split by SOC major group. The server is `lakehouse api` in its own
process on 127.0.0.1 (uvicorn, one worker); the clients are threads in this process, each with
one keep-alive connection, sending one search after another for --duration seconds. The same searches are then called
in-process through `invoke_mode("matrix.search", ...)` (what the endpoint runs, minus HTTP) for the
baseline. Every answer must be a 200 with a hits list; any error fails the run. The table also
shows CPU per call in the server and in the client: on 2 cores the client competes with the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
ONET = REPO / "examples" / "data" / "occupations.tsv"
CORPORA = {  # SOC major groups: management/professional, service/sales/office, production/trades
    "professional": "\"O*NET-SOC Code\" < '31'",
    "service": "\"O*NET-SOC Code\" >= '31' AND \"O*NET-SOC Code\" < '45'",
    "trades": "\"O*NET-SOC Code\" >= '45'",
}
QUERIES = [
    "forklift operator for a warehouse night shift",
    "registered nurse for intensive care",
    "truck driver with a commercial licence",
    "line cook for a busy restaurant",
    "payroll clerk with accounting software experience",
    "electrician for commercial wiring",
    "software developer for web applications",
    "home health aide for elderly clients",
    "welder for structural steel",
    "customer service representative for a call centre",
    "pharmacy technician",
    "crane operator at a port",
    "bookkeeper for a small firm",
    "security guard for night patrols",
    "machinist operating CNC lathes",
    "teacher for middle school math",
]


def setup(home: Path, rows: int) -> None:
    """Ingest O*NET and build the three corpora with the matrix helper's API."""
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse
    from lakehouse.data.ingest import ingest_file

    lh = Lakehouse(Settings(home=home))
    try:
        ingest_file(lh.tables, ONET, "onet")
        for name, where in CORPORA.items():
            if rows:
                where = f'"O*NET-SOC Code" IN (SELECT "O*NET-SOC Code" FROM onet WHERE {where} LIMIT {rows})'
            result = lh.corpora.build(
                name, "onet", ["Title", "Description"], "O*NET-SOC Code", metadata_cols=["Title"], where=where
            )
            print(f"corpus {name}: {result.count} rows", flush=True)
    finally:
        lh.close()


def payload(i: int) -> dict:
    return {"query": QUERIES[i % len(QUERIES)], "corpora": list(CORPORA), "top_n": 8}


def in_process(home: Path, seconds: float) -> tuple[list[float], float]:
    """Latencies (s) of the same searches through the mode, sequentially, in this process, and
    the CPU seconds they used."""
    from lakehouse.config import Settings
    from lakehouse.core import Lakehouse
    from modes.context import ModeContext
    from modes.invoke import invoke_mode

    lh = Lakehouse(Settings(home=home))
    ctx = ModeContext(lakehouse=lh, source="mode")
    try:
        for i in range(len(QUERIES)):  # warm: model, indexes, embedding cache
            invoke_mode("matrix.search", payload(i), ctx)
        latencies, i, end, cpu0 = [], 0, time.perf_counter() + seconds, time.process_time()
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            out = invoke_mode("matrix.search", payload(i), ctx)
            latencies.append(time.perf_counter() - t0)
            assert "hits" in out, "in-process search answered no hits list"
            i += 1
        return latencies, time.process_time() - cpu0
    finally:
        lh.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    env.update(LH_HOME=str(home), LH_CONFIG=str(home / "none.toml"))
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from flows.cli import main; main()",
            "api",
            "--port",
            str(port),
            "--log-level",
            "error",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            assert proc.stderr is not None  # started with stderr=PIPE
            raise SystemExit(f"the API server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/v1/observer/stats", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the API server did not come up")


def load(port: int, clients: int, seconds: float) -> tuple[list[float], list[str]]:
    """`clients` threads, each with one keep-alive connection, posting searches back to back.

    The stdlib client costs ~0.3 ms of CPU per call against ~6 ms for 50 httpx async clients, so
    on 2 cores the load generator does not starve the server it measures."""
    latencies: list[float] = []
    errors: list[str] = []
    end = time.perf_counter() + seconds

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = k
        try:
            while time.perf_counter() < end:
                body = json.dumps(payload(i)).encode()
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/v1/matrix/search", body, {"Content-Type": "application/json"})
                    response = conn.getresponse()
                    data = response.read()
                    if response.status != 200 or "hits" not in json.loads(data):
                        errors.append(f"{response.status}: {data[:200]!r}")
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                latencies.append(time.perf_counter() - t0)
                i += clients
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def warm(url: str) -> None:
    """Each query once, so the server has loaded the model and indexes and cached the embeddings
    (as the in-process baseline has)."""
    with httpx.Client(base_url=url, timeout=300) as client:
        for i in range(len(QUERIES)):
            client.post("/v1/matrix/search", json=payload(i)).raise_for_status()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, pid: int, clients: int, seconds: float) -> dict:
    """Latencies and errors of `clients` clients for `seconds`, with server and client CPU used."""
    server0, client0 = process_cpu(pid), time.process_time()
    latencies, errors = load(port, clients, seconds)
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": seconds,
        "server_cpu": process_cpu(pid) - server0,
        "client_cpu": time.process_time() - client0,
    }


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients (default 50)")
    parser.add_argument("--rows", type=int, default=0, help="cap rows per corpus (0 = all of O*NET)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        setup(home, args.rows)
        print(f"setup (ingest + 3 corpora): {time.perf_counter() - t0:.1f} s", flush=True)

        baseline, baseline_cpu = in_process(home, min(args.duration, 10.0))

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(home, port)
        try:
            wait_ready(url, proc)
            warm(url)
            single = measure(port, proc.pid, 1, min(args.duration, 10.0))
            loaded = measure(port, proc.pid, args.clients, args.duration)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def ms_per_call(cpu: float, calls: int) -> str:
        return f"{1000 * cpu / max(calls, 1):.2f}"

    base_rate = len(baseline) / sum(baseline)
    print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print()
    print("| path | callers | calls | errors | p50 ms | p99 ms | calls/s | server CPU ms/call | client CPU ms/call |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| in-process `invoke_mode` | 1 | {len(baseline)} | 0 | {pct(baseline, 50):.2f} | {pct(baseline, 99):.2f} | "
        f"{base_rate:.0f} | {ms_per_call(baseline_cpu, len(baseline))} | - |"
    )
    for run, callers in ((single, 1), (loaded, args.clients)):
        calls = len(run["latencies"])
        print(
            f"| HTTP `/v1/matrix/search` | {callers} | {calls} | {len(run['errors'])} | "
            f"{pct(run['latencies'], 50):.2f} | "
            f"{pct(run['latencies'], 99):.2f} | {calls / run['seconds']:.0f} | "
            f"{ms_per_call(run['server_cpu'], calls)} | "
            f"{ms_per_call(run['client_cpu'], calls)} |"
        )
    rate = len(loaded["latencies"]) / loaded["seconds"]
    print()
    print(
        f"HTTP p50 (1 client) / in-process p50: {pct(single['latencies'], 50) / pct(baseline, 50):.2f}x; "
        f"HTTP throughput ({args.clients} clients) / in-process throughput: {rate / base_rate:.2f}x"
    )
    all_errors = single["errors"] + loaded["errors"]
    if all_errors:
        print(f"\n{len(all_errors)} errors, first: {all_errors[0]}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
