"""A scheduled job whose slot a later due slot covers ends at once, as Cancelled.

When nothing served the deployments for a while (`lakehouse serve` or the worker down for a
week), Prefect starts every slot that passed the moment serving resumes: seven drift-nightly
runs at once, each checking the same present state. The jobs read the home as it is now, so the
newest due slot does the work and the older ones say which run covers them. Only runs Prefect's
scheduler made (tagged `auto-scheduled`) are skipped, never a triggered one; when the server
cannot be asked, the run goes on (two runs of a job cost time, a skipped one a night).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect.states import Cancelled, State

AUTO_SCHEDULED = "auto-scheduled"  # the tag Prefect's scheduler gives every run it makes


def covering_slot(client: Any, run: Any, now: datetime) -> datetime | None:
    """The newest slot of `run`'s deployment later than `run`'s and due by `now`, if `run` is
    a scheduled one and there is such a slot."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    ours = run.expected_start_time
    if run.deployment_id is None or AUTO_SCHEDULED not in (run.tags or []) or ours is None:
        return None
    due = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[run.deployment_id]),
            tags=FlowRunFilterTags(all_=[AUTO_SCHEDULED]),
            expected_start_time=FlowRunFilterExpectedStartTime.model_validate({"after_": ours, "before_": now}),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=2,  # `after_` includes our own slot
    )
    later = [r.expected_start_time for r in due if r.id != run.id and r.expected_start_time > ours]
    return later[0] if later else None


def skip_if_a_later_slot_covers() -> State | None:
    """In a scheduled job's flow: a Cancelled state to return when a later due slot covers this
    run's; None to go on. The run is the one the flow's context holds (no read of it); the server
    is asked only for a run its scheduler made."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None or AUTO_SCHEDULED not in (run.tags or []):
        return None
    try:
        with get_client(sync_client=True) as client:
            covering = covering_slot(client, run, datetime.now(UTC))
    except Exception:  # noqa: BLE001 (a server that cannot answer this never costs a night's run)
        return None
    if covering is None:
        return None
    return Cancelled(
        message=f"skipped: the run scheduled for {covering:%Y-%m-%d %H:%M} UTC covers this slot "
        f"({run.expected_start_time:%Y-%m-%d %H:%M} UTC), missed while nothing served the deployment"
    )
