"""CLI start-up: `lakehouse --help` and every `lakehouse <cmd> --help` vs `python -c pass`, and a
one-shot `lakehouse search` with and without a running `lakehouse api` (issue 10).

    .venv/bin/python -m bench.cli_startup [--repeats 7] [--search-repeats 3] [--no-search]

Every figure is the median wall time of fresh processes, measured in the same run as the
`python -c pass` baseline. The search part ingests 40 O*NET occupations into a temporary LH_HOME,
builds a corpus, then times `lakehouse search ... --json` in-process (LH_CLI_USE_API=false: the
embedding model loads every time) and through a `lakehouse api` started on 127.0.0.1 (after one
warm-up call that loads the model in the API).
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

REPO = Path(__file__).resolve().parents[1]
LAKEHOUSE = Path(sys.executable).with_name("lakehouse")
TARGET_S = 0.3


def measure(argv: list[str], env: dict[str, str], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + sys) of `repeats` fresh processes.

    CPU time is what the process itself costs; wall time also holds waiting for a busy machine's CPUs."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def wall(argv: list[str], env: dict[str, str], repeats: int) -> float:
    return measure(argv, env, repeats)[0]


def command_paths() -> list[list[str]]:
    """Every command and group of the CLI, from the CLI itself (help only: nothing heavy is imported)."""
    script = """
import json, typer.main
from flows.cli import app
def walk(group, path=()):
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        yield [*path, name]
        if hasattr(command, "list_commands"):
            yield from walk(command, (*path, name))
print(json.dumps(list(walk(typer.main.get_command(app)))))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def help_times(env: dict[str, str], repeats: int) -> None:
    baseline = measure([sys.executable, "-c", "pass"], env, repeats)
    rows = [("python -c pass", baseline)]
    rows.append(("lakehouse --help", measure([str(LAKEHOUSE), "--help"], env, repeats)))
    for path in command_paths():
        rows.append((f"lakehouse {' '.join(path)} --help", measure([str(LAKEHOUSE), *path, "--help"], env, repeats)))
    print(f"median of {repeats} fresh processes; target <= {TARGET_S} s; load average {os.getloadavg()[0]:.1f}\n")
    print("| command | wall s | cpu s | wall minus python -c pass |")
    print("|---|---:|---:|---:|")
    for name, (seconds, cpu) in rows:
        print(f"| `{name}` | {seconds:.3f} | {cpu:.3f} | {seconds - baseline[0]:+.3f} |")
    helps = [m for _, m in rows[1:]]
    walls, cpus = [w for w, _ in helps], [c for _, c in helps]
    slowest = max(rows[1:], key=lambda r: r[1][0])
    over_wall, over_cpu = sum(w > TARGET_S for w in walls), sum(c > TARGET_S for c in cpus)
    print(f"\n{len(helps)} --help commands: wall median {statistics.median(walls):.3f} s, slowest")
    print(f"{slowest[1][0]:.3f} s ({slowest[0]}), over {TARGET_S} s: {over_wall}; cpu median")
    print(f"{statistics.median(cpus):.3f} s, max {max(cpus):.3f} s, over {TARGET_S} s: {over_cpu}")


def search_times(env: dict[str, str], repeats: int) -> None:
    home = Path(env["LH_HOME"])
    sample = home / "occupations-40.tsv"
    home.mkdir(parents=True, exist_ok=True)
    lines = (REPO / "examples/data/occupations.tsv").read_text(encoding="utf-8").splitlines()
    sample.write_text("\n".join(lines[:41]) + "\n", encoding="utf-8")
    run = [str(LAKEHOUSE)]
    subprocess.run([*run, "ingest", str(sample), "--table", "occ"], env=env, cwd=REPO, check=True, capture_output=True)
    build = ["corpus", "build", "occ", "--table", "occ", "--text", "Title,Description", "--id-column", "O*NET-SOC Code"]
    subprocess.run([*run, *build], env=env, cwd=REPO, check=True, capture_output=True)
    search = [*run, "search", "forklift operator", "--corpus", "occ", "--json"]
    local = wall(search, {**env, "LH_CLI_USE_API": "false"}, repeats)
    api = subprocess.Popen(
        [*run, "api", "--port", "0", "--log-level", "warning"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        state = home / "api.json"
        deadline = time.monotonic() + 180
        while not state.exists():
            if api.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("lakehouse api did not start")
            time.sleep(0.1)
        while subprocess.run(search, env=env, cwd=REPO, capture_output=True).returncode != 0:  # warm-up
            if time.monotonic() > deadline:
                raise SystemExit("lakehouse api did not answer")
            time.sleep(0.5)
        routed = wall(search, env, repeats)
    finally:
        api.terminate()
        api.wait(timeout=60)
    print(f"\none-shot `lakehouse search ... --json`, median of {repeats}:\n")
    print("| path | wall s |")
    print("|---|---:|")
    print(f"| in-process (LH_CLI_USE_API=false: loads the embedding model) | {local:.2f} |")
    print(f"| through a running `lakehouse api` (model already loaded) | {routed:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--search-repeats", type=int, default=3)
    parser.add_argument("--no-search", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lakehouse-bench-cli-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
        env.update(LH_HOME=str(Path(tmp) / "home"), LH_CONFIG=str(Path(tmp) / "none.toml"))
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        help_times(env, args.repeats)
        if not args.no_search:
            search_times(env, args.search_repeats)


if __name__ == "__main__":
    main()
