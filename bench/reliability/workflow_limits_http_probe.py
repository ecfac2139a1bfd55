"""Start `lakehouse api` from a tree (argument: its root; old = a `git archive` export) and POST hostile workflows."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.flows.test_workflow_limits import (
    billion_laughs,
    deep_block,
    deep_flow,
    dense,
)

tree = sys.argv[1]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
home = tempfile.mkdtemp()
env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
env.update(LH_HOME=home, LH_CONFIG=home + "/none.toml", LITELLM_LOCAL_MODEL_COST_MAP="True")


def start():
    p = subprocess.Popen(
        [
            str(Path(__file__).resolve().parents[2] / ".venv/bin/python"),
            "-c",
            "from flows.cli import main; main()",
            "api",
            "--port",
            str(port),
            "--log-level",
            "error",
        ],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/observer/stats", timeout=5)
            return p
        except httpx.TransportError:
            time.sleep(0.3)


proc = start()
cases = [
    ("deep block 1000", deep_block(1000)),
    ("deep flow 1000", deep_flow(1000)),
    ("deep block 50000", deep_block(50000)),
    ("deep flow 50000", deep_flow(50000)),
    ("billion laughs 9^9", billion_laughs()),
    ("dense 11", dense(11)),
]
for label, text in cases:
    if proc.poll() is not None:
        proc = start()
    t = time.perf_counter()
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/observer/workflow/validate", json={"yaml": text}, timeout=120)
        out = f"{r.status_code} {len(r.content)}B {r.text[:150]}"
    except httpx.TransportError as e:
        out = f"connection dropped: {type(e).__name__}"
    except httpx.TimeoutException:
        out = "timeout 120s"
    dt = time.perf_counter() - t
    time.sleep(0.5)
    alive = proc.poll() is None
    print(
        f"[{os.path.basename(tree)}] {label:20s} {dt:7.2f}s server_alive={alive} exit={proc.poll()} :: {out}",
        flush=True,
    )
proc.kill()
proc.wait(30)
