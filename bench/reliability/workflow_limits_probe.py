"""One-off probe for issue 9 defects 3/4: each case runs in its own subprocess (a segfault is a
result, not a dead probe); prints rc, wall time, peak RSS and the first line of the outcome."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.environ.get("PROBE_TREE", str(Path(__file__).resolve().parents[2]))
PY = str(Path(__file__).resolve().parents[2] / ".venv/bin/python")


def deep_block(n):
    # block style: compact nested block sequences, `- - - - x` (depth n, 2n bytes)
    return "name: deep\nnodes:\n  - id: a\n    mode: fixture.echo\n    with:\n      value:\n        " + "- " * n + "x\n"


def deep_flow(n):
    return "name: deep\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: " + "[" * n + "]" * n + "}}\n"


def laughs(levels=7, width=10):
    out = [
        "name: lol",
        "nodes:",
        "  - id: a",
        "    mode: fixture.echo",
        "    with:",
        "      value:",
        '        - &l0 "lol"',
    ]
    for i in range(1, levels + 1):
        out.append(f"        - &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(out) + "\n"


def dense(n):
    ids = [f"n{i}" for i in range(n)]
    lines = ["name: dense", "nodes:"]
    for i in ids:
        deps = ", ".join(d for d in ids if d != i)
        lines.append(f"  - {{id: {i}, mode: fixture.echo, depends_on: [{deps}], with: {{value: 1}}}}")
    return "\n".join(lines) + "\n"


def dense_dag(n):
    ids = [f"n{i}" for i in range(n)]
    lines = ["name: densedag", "nodes:"]
    for k, i in enumerate(ids):
        lines.append(f"  - {{id: {i}, mode: fixture.echo, depends_on: [{', '.join(ids[:k])}], with: {{value: 1}}}}")
    return "\n".join(lines) + "\n"


AMP_ALIAS = """name: amp
x: {a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a],
 c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c],
 e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]}
nodes:
  - {id: a, mode: fixture.echo, with: {value: *f}}
"""
# the x key makes it invalid; the run variant puts the anchors inside the with value instead
AMP_ALIAS_RUN = """name: amp
nodes:
  - id: a
    mode: fixture.echo
    with:
      value: [&a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a],
        &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c],
        &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]
"""
AMP_REFS = """name: ampref
nodes:
  - {id: a, mode: fixture.echo, with: {value: [xxxxxxxxxxxxxxxx, "quote\\"d"]}}
""" + "".join(
    f'  - {{id: {b}, mode: fixture.echo, depends_on: [{a}], with: {{value: "${a}.output ${a}.output ${a}.output"}}}}\n'
    for a, b in zip("abcdefghijklm", "bcdefghijklmn", strict=False)
)

CHILD_VALIDATE = r"""
import sys, time, json
sys.path.insert(0, %(here)r)
from flows.loader import load_workflow_text, WorkflowError
text = sys.stdin.read()
load_workflow_text("name: warm\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: 1}}\n", "warm.yaml")  # imports the mode catalog
t = time.perf_counter()
try:
    lw = load_workflow_text(text, "probe.yaml")
    out = "valid: " + lw.name
except WorkflowError as e:
    out = "WorkflowError(%%d issues): %%s" %% (len(e.issues), str(e.issues[0])[:200])
except BaseException as e:
    out = "%%s: %%s" %% (type(e).__name__, str(e)[:200])
import resource
print(json.dumps({"secs": round(time.perf_counter() - t, 3), "peak_rss_mb": int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) // 1024, "out": out}))
"""

CHILD_RUN = r"""
import sys, time, json, os
sys.path.insert(0, %(here)r)
import flows
from flows.loader import load_workflow_text, WorkflowError
from flows.runner import run_workflow
text = sys.stdin.read()
load_workflow_text("name: warm\nnodes:\n  - {id: a, mode: fixture.echo, with: {value: 1}}\n", "warm.yaml")  # imports the mode catalog
t = time.perf_counter()
try:
    lw = load_workflow_text(text, "probe.yaml", {})
    t1 = time.perf_counter()
    res = run_workflow(lw)
    body = res.model_dump_json()
    out = "status=%%s answer=%%d bytes nodes=%%s" %% (res.status, len(body), {k: (v.status, (v.error or "")[:160]) for k, v in res.nodes.items()})
except WorkflowError as e:
    out = "WorkflowError: %%s" %% str(e)[:300]
except BaseException as e:
    out = "%%s: %%s" %% (type(e).__name__, str(e)[:300])
import resource
print(json.dumps({"secs": round(time.perf_counter() - t, 3), "peak_rss_mb": int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) // 1024, "out": out}))
"""


def run(label, text, child=CHILD_VALIDATE, timeout=300, env=None):
    code = child % {"here": HERE}
    t = time.perf_counter()
    e = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", **(env or {}))
    p = subprocess.Popen(
        [PY, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=e,
        cwd=HERE,
    )
    try:
        so, se = p.communicate(text, timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        so, se = p.communicate()
        rc = "timeout"
    wall = time.perf_counter() - t
    last = so.strip().splitlines()[-1] if so.strip() else (se.strip().splitlines()[-1] if se.strip() else "")
    print(
        f"[{os.path.basename(HERE)}] {label:34s} bytes={len(text.encode()):>8} rc={rc} wall={wall:6.2f}s :: {last[:400]}",
        flush=True,
    )


if __name__ == "__main__":
    which = sys.argv[1:] or ["deep", "laughs", "dense", "amp", "amp9"]
    if "deep" in which:
        for n in (1000, 50000):
            run(f"deep block {n}", deep_block(n))
            run(f"deep flow {n}", deep_flow(n))
    if "laughs" in which:
        run("billion laughs 10^7 in with", laughs())
        run("alias 10^6 in with (validate)", AMP_ALIAS_RUN)
    if "dense" in which:
        run("dense 11 (all depend on all)", dense(11), timeout=200)
        run("dense 200 (all depend on all)", dense(200), timeout=60)
        run("dense DAG 200", dense_dag(200), timeout=120)
    if "amp" in which:
        home = tempfile.gettempdir() + "/wf-probe-home-" + str(os.getpid())
        env = {
            "LH_HOME": home,
            "PREFECT_HOME": home + "/prefect",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        }
        run("amp: alias 10^6 echo (run)", AMP_ALIAS_RUN, CHILD_RUN, timeout=400, env=env)
        run("amp: refs x3 chain 13 nodes (run)", AMP_REFS, CHILD_RUN, timeout=400, env=env)
    if "amp9" in which:
        home = tempfile.gettempdir() + "/wf-probe-home-" + str(os.getpid())
        env = {
            "LH_HOME": home,
            "PREFECT_HOME": home + "/prefect",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        }

        def doubling_chain(nodes, repeat=2):  # as in tests/flows/test_workflow_limits.py
            ref = "$n{k}.output"
            rows = ["  - {id: n0, mode: fixture.echo, with: {value: 'a \"quoted\" seed'}}\n"]
            for k in range(1, nodes):
                text = " ".join([ref.format(k=k - 1)] * repeat)
                rows.append(
                    f'  - {{id: n{k}, mode: fixture.echo, depends_on: [n{k - 1}], with: {{value: "{text}"}}}}\n'
                )
            return "name: doubling\nnodes:\n" + "".join(rows)

        run("amp: refs x3 chain 9 nodes (run)", doubling_chain(9, 3), CHILD_RUN, timeout=600, env=env)
