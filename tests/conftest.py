"""Test-wide isolation: every test session gets its own LH_HOME, Prefect home and offline env.

Area fixtures live in `tests/fixtures/<area>.py` and are listed in `pytest_plugins` below.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before anything imports prefect or litellm: keep everything offline and under a temp home.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="lakehouse-test-"))
# Removed when this process ends: each pytest process (each xdist worker too) makes one, and a
# developer's /tmp collected one per run.
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
os.environ["LH_HOME"] = str(_SESSION_HOME / "home")
os.environ["LH_CONFIG"] = os.devnull  # no settings file (a missing one is refused)
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("PREFECT_API_URL", None)
for _key in [k for k in os.environ if k.startswith("LH_") and k not in ("LH_HOME", "LH_CONFIG")]:
    del os.environ[_key]
# Tests start their Prefect servers themselves (fixtures); a CLI run must not leave one behind.
os.environ["LH_PREFECT_AUTOSTART"] = "false"

import hypothesis  # noqa: E402
import pytest  # noqa: E402

from lakehouse.config import Settings, reset_settings  # noqa: E402
from lakehouse.core import Lakehouse  # noqa: E402

# Tests never assert wall-clock time, and hypothesis's 200 ms deadline is one: on a loaded 2-core machine an
# example that takes 4 ms alone took 300 ms and failed the suite.
hypothesis.settings.register_profile(
    "lakehouse", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("lakehouse")

pytest_plugins = [
    "tests.fixtures.prefect",
    "tests.fixtures.llm_server",
    "tests.fixtures.learning",
    # http before the plugins that import its helpers (postgres: free_port), or pytest cannot
    # rewrite its asserts
    "tests.fixtures.http",
    "tests.fixtures.s3",
    "tests.fixtures.postgres",
    "tests.fixtures.tables",
    "tests.fixtures.vectors",
    "tests.fixtures.lift",
    "tests.fixtures.browser",
    "tests.fixtures.small_disk",
]


@pytest.fixture
def lh_home(tmp_path, monkeypatch) -> Iterator[Path]:
    """A fresh LH_HOME for one test; settings are re-read from the environment."""
    home = tmp_path / "lh"
    monkeypatch.setenv("LH_HOME", str(home))
    reset_settings()
    yield home
    reset_settings()


@pytest.fixture
def settings(lh_home) -> Settings:
    return Settings()


@pytest.fixture
def lakehouse(settings) -> Iterator[Lakehouse]:
    lh = Lakehouse(settings)
    yield lh
    lh.close()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a hypothesis test, drain Prefect's events worker if a flow run in this process started
    it: its websocket's keepalive pings draw from the global `random` in Prefect's event-loop
    thread, and a ping during a draw reads to hypothesis as a strategy using `random`
    (HypothesisDeprecationWarning, at random in whichever property test ran then). A later flow
    run starts a new worker."""
    if getattr(getattr(item, "obj", None), "is_hypothesis_test", False) and "prefect.events.worker" in sys.modules:
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all()
