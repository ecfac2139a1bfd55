"""`python -m bench` (or `make bench`): run every benchmark module in bench/, one after another."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
names = [m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")]
failed = []
for name in names:
    print(f"\n## bench.{name}\n", flush=True)
    if subprocess.call([sys.executable, "-m", f"bench.{name}", *sys.argv[1:]]) != 0:
        failed.append(name)
if failed:
    sys.exit(f"benchmarks failed: {', '.join(failed)}")
