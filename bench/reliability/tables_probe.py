"""RELIABILITY probe: real `lakehouse ingest` CLI processes racing (run with the tree on PYTHONPATH)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

TREE, N, TRIALS, LABEL = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
OUT = Path(tempfile.gettempdir()) / "tables-probe" / LABEL
shutil.rmtree(OUT, ignore_errors=True)
OUT.mkdir(parents=True)
PY = str(Path(__file__).resolve().parents[2] / ".venv/bin/python")
CLI = "import sys; from flows.cli import app; sys.argv[0]='lakehouse'; app()"
A = OUT / "a.csv"
B = OUT / "b.csv"
SEED = OUT / "seed.csv"
pacsv.write_csv(pa.table({"id": list(range(10, 10 + N)), "v": ["a"] * N}), A)
pacsv.write_csv(pa.table({"id": list(range(10**7, 10**7 + N)), "v": ["b"] * N}), B)
pacsv.write_csv(pa.table({"id": list(range(10)), "v": ["s"] * 10}), SEED)


def env(home, **extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    e.update(
        LH_HOME=str(home),
        LH_CONFIG=str(OUT / "none.toml"),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        PYTHONPATH=TREE,
        PREFECT_HOME=str(OUT / "prefect"),
        **extra,
    )
    return e


def cli(home, *args, **extra):
    return subprocess.Popen(
        [PY, "-c", CLI, *args],
        env=env(home, **extra),
        cwd=TREE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ids(home):
    code = (
        "import sys,json; from lakehouse.config import Settings; from lakehouse.core import Lakehouse;"
        "lh=Lakehouse(Settings(home=sys.argv[1])); t=lh.tables;"
        "print(json.dumps(sorted(t.read_arrow('t', columns=['id']).column('id').to_pylist()) if t.exists('t') else None))"
    )
    r = subprocess.run([PY, "-c", code, str(home)], env=env(home), cwd=TREE, capture_output=True, text=True)
    return json.loads(r.stdout) if r.stdout.strip() else ("ERR", r.stderr[-300:])


def first_err(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:160] if lines else ""


def parse(o, p):
    try:
        return json.loads(o[0]) if p.returncode == 0 else None
    except Exception:
        return None


want_up = set(range(10)) | set(range(10, 10 + N)) | set(range(10**7, 10**7 + N))
res: dict[str, list[dict[str, Any]]] = {"upsert": [], "create": [], "kill": []}
for trial in range(TRIALS):
    home = OUT / f"up{trial}"
    cli(home, "ingest", str(SEED), "--table", "t", "--key", "id").communicate()
    ps = [cli(home, "ingest", str(f), "--table", "t", "--key", "id", "--json") for f in (A, B)]
    outs = [p.communicate() for p in ps]
    js = [parse(o, p) for o, p in zip(outs, ps, strict=False)]
    got = set(ids(home) or [])
    rec: dict[str, Any] = {
        "rc": [p.returncode for p in ps],
        "status": [j["status"] if j else "error" for j in js],
        "attempts": [j.get("commit_attempts", 1) if j else 0 for j in js],
        "traceback": ["Traceback" in o[1] for o in outs],
        "err": [first_err(o[1]) if p.returncode else "" for p, o in zip(ps, outs, strict=False)],
        "rows": len(got),
        "missing": len(want_up - got),
    }
    for f in (A, B):  # re-ingest each file: must be already_ingested iff its rows are there
        o = cli(home, "ingest", str(f), "--table", "t", "--key", "id", "--json").communicate()[0]
        rec.setdefault("reingest", []).append(json.loads(o)["status"] if o.strip() else "error")
    got = set(ids(home) or [])
    rec["rows_after_reingest"] = len(got)
    rec["missing_after_reingest"] = len(want_up - got)
    res["upsert"].append(rec)
    print("upsert", trial, rec, flush=True)

for trial in range(TRIALS):
    home = OUT / f"cr{trial}"
    ps = [cli(home, "ingest", str(f), "--table", "t", "--json") for f in (A, B)]
    outs = [p.communicate() for p in ps]
    js = [parse(o, p) for o, p in zip(outs, ps, strict=False)]
    created = ids(home) or []
    rec = {
        "rc": [p.returncode for p in ps],
        "status": [j["status"] if j else "error" for j in js],
        "traceback": ["Traceback" in o[1] for o in outs],
        "err": [first_err(o[1]) if p.returncode else "" for p, o in zip(ps, outs, strict=False)],
        "rows": len(created),
        "expected": 2 * N,
    }
    res["create"].append(rec)
    print("create", trial, rec, flush=True)

for trial in range(TRIALS):
    home = OUT / f"kill{trial}"
    p = cli(home, "ingest", str(A), "--table", "t")
    data = home / "warehouse" / "lakehouse" / "t" / "data"
    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline and not list(data.glob("*.parquet")):
        time.sleep(0.01)
    time.sleep(0.05 * trial)  # kill at different points of the write
    p.send_signal(signal.SIGKILL)
    p.wait()
    visible = ids(home)
    files = [f for f in (home / "warehouse").rglob("*") if f.is_file()]
    rec = {
        "killed": p.returncode == -9,
        "table_visible": visible is not None,
        "rows_visible": len(visible) if isinstance(visible, list) else None,
        "files_after_kill": len(files),
        "bytes_after_kill": sum(f.stat().st_size for f in files),
    }
    r = cli(home, "ingest", str(A), "--table", "t", "--json").communicate()
    rec["rerun"] = json.loads(r[0])["status"] if r[0].strip() else first_err(r[1])
    g = cli(home, "gc", "--older-than", "0", "--json").communicate()
    if g[0].strip():
        gj = json.loads(g[0])
        rec["gc_removed"] = gj["removed_count"]
        rec["gc_bytes"] = gj["removed_bytes"]
    else:
        rec["gc"] = first_err(g[1])
    visible = ids(home)
    rec["rows_after"] = len(visible) if isinstance(visible, list) else visible
    res["kill"].append(rec)
    print("kill", trial, rec, flush=True)
(OUT / "results.json").write_text(json.dumps(res, indent=1))
