"""One-off probe: heavy SQL over a real `lakehouse api` process; bytes answered, server RSS,
and how long small requests wait while the heavy one runs."""

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

REPO = Path(__file__).resolve().parents[2]
label = sys.argv[1] if len(sys.argv) > 1 else "run"
timeout_s = os.environ.get("PROBE_TIMEOUT", "10")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            k, v = line.split(":")
            out[k] = int(v.split()[0]) / 1024  # MiB
    return out


home = tempfile.mkdtemp(prefix="sqlprobe-")
port = free_port()
env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
env.update(LH_HOME=home, LH_CONFIG=home + "/none.toml", LH_SQL_TIMEOUT_S=timeout_s, LITELLM_LOCAL_MODEL_COST_MAP="True")
proc = subprocess.Popen(
    [
        str(REPO / ".venv/bin/python"),
        "-c",
        "from flows.cli import main; main()",
        "api",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ],
    cwd=REPO,
    env=env,
)
base = f"http://127.0.0.1:{port}"
try:
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(base + "/v1/tables", timeout=5)
            break
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    httpx.post(base + "/v1/sql", json={"sql": "SELECT 1"}, timeout=30)

    def heavy_case(name, sql):
        before = rss(proc.pid)
        result = {}

        def heavy():
            t0 = time.monotonic()
            n = 0
            with httpx.stream("POST", base + "/v1/sql", json={"sql": sql}, timeout=600) as r:
                for chunk in r.iter_bytes():
                    if n < 400:
                        result.setdefault("head", b"")
                        result["head"] += chunk[:400]
                    n += len(chunk)
                result["status"] = r.status_code
            result["bytes"] = n
            result["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=heavy)
        t.start()
        time.sleep(0.5)
        waits = []
        while t.is_alive():
            t0 = time.monotonic()
            httpx.post(base + "/v1/sql", json={"sql": "SELECT 1"}, timeout=600)
            waits.append(time.monotonic() - t0)
            time.sleep(0.1)
        t.join()
        after = rss(proc.pid)
        print(
            json.dumps(
                {
                    "label": label,
                    "case": name,
                    "status": result.get("status"),
                    "bytes_answered": result.get("bytes"),
                    "heavy_elapsed_s": round(result.get("elapsed", 0), 2),
                    "small_requests_during": len(waits),
                    "small_max_wait_s": round(max(waits), 3) if waits else None,
                    "rss_before_mib": round(before["VmRSS"]),
                    "rss_after_mib": round(after["VmRSS"]),
                    "peak_rss_mib": round(after["VmHWM"]),
                    "head": result.get("head", b"")[:300].decode(errors="replace"),
                }
            ),
            flush=True,
        )

    if not os.environ.get("PROBE_SORT_ONLY"):
        heavy_case("repeat_1GB", "SELECT repeat('y', 100000) FROM range(10000)")
    if os.environ.get("PROBE_SORT") or os.environ.get("PROBE_SORT_ONLY"):
        heavy_case("group_1e9", "SELECT x, count(*) FROM range(1000000000) t(x) GROUP BY x ORDER BY 2 DESC LIMIT 1")
finally:
    proc.terminate()
    proc.wait(30)
