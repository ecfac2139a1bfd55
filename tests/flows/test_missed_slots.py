"""Slots missed while nothing served the deployments: Prefect starts them all at once when serving
resumes (seven drift-nightly runs after a week down, all checking the same present). The newest
due slot runs; each older one ends Cancelled, naming the slot that covers it. Triggered runs and
slots not yet due never count."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from flows.missed_slots import AUTO_SCHEDULED, covering_slot
from tests.fixtures.serve import forget_deployment, lakehouse_serve

pytestmark = pytest.mark.prefect
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _runs_at(client, deployment_id, offsets_h: list[float], tags: list[str]) -> list:
    from prefect.states import Scheduled

    now = datetime.now(UTC)
    return [
        client.create_flow_run_from_deployment(
            deployment_id, state=Scheduled(scheduled_time=now + timedelta(hours=h)), tags=tags
        )
        for h in offsets_h
    ]


def test_only_a_later_due_scheduled_slot_covers_a_run(prefect_server):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("missed-slots-probe")
        deployment_id = client.create_deployment(flow_id=flow_id, name="every-hour")
        oldest, older, newest_due, not_due = _runs_at(client, deployment_id, [-3, -2, -1, 1], [AUTO_SCHEDULED])
        (triggered,) = _runs_at(client, deployment_id, [-0.5], [])
        now = datetime.now(UTC)
        assert covering_slot(client, oldest, now) == newest_due.expected_start_time
        assert covering_slot(client, older, now) == newest_due.expected_start_time
        assert covering_slot(client, newest_due, now) is None  # the next slot is not due yet
        assert covering_slot(client, not_due, now + timedelta(hours=2)) is None
        assert covering_slot(client, triggered, now) is None  # a run someone asked for always runs


def test_serve_runs_the_newest_missed_slot_and_cancels_the_older(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client

    env = {k: v for k, v in os.environ.items() if not k.startswith("LH_")}
    env |= {
        "PREFECT_API_URL": prefect_server,
        "LH_HOME": str(tmp_path / "home"),
        "LH_CONFIG": os.devnull,
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    with get_client(sync_client=True) as client:
        forget_deployment(client, "tables-gc/tables-gc")
        with lakehouse_serve(env, tmp_path, tmp_path / "serve.log") as serving:
            deployment = serving.deployment(client, "tables-gc/tables-gc")
            missed = _runs_at(client, deployment.id, [-72, -48, -24], [AUTO_SCHEDULED])
            states = {}
            for _ in range(240):  # bounded poll, not timed
                states = {r.id: client.read_flow_run(r.id).state for r in missed}
                if all(s.type.value in FINAL for s in states.values()):
                    break
                time.sleep(1)
            oldest, older, newest = (states[r.id] for r in missed)
            assert newest.type.value == "COMPLETED", f"{newest}\n{serving.tail()}"
            covering = f"{missed[2].expected_start_time:%Y-%m-%d %H:%M} UTC covers this slot"
            for skipped in (oldest, older):
                assert skipped.type.value == "CANCELLED", f"{skipped}\n{serving.tail()}"
                assert skipped.message.startswith("skipped: the run scheduled for ") and covering in skipped.message
