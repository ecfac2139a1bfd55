"""Console page System over plain HTTP (in-process app): the reports under LH_HOME rendered from
their Markdown with raw HTML escaped, a chart served only from inside the report folders (`..`,
absolute paths and links out are refused with a clear message), the ops tail's fresh rows and a
CSRF-free read-only page."""

from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient

from lakehouse.config import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
REPORT = """\
# Playbook lift (cold vs warm)

| metric | value |
|---|---|
| recall_at_1 | 0.75 |

<script>alert("x")</script> **bold**

![cold vs warm](lift-chart.png)
"""


@pytest.fixture
def home(lh_home):
    lift = lh_home / "lift" / "run1"
    lift.mkdir(parents=True)
    (lift / "lift-report.md").write_text(REPORT)
    (lift / "lift-chart.png").write_bytes(PNG)
    (lh_home / "secret.png").write_bytes(PNG)  # in LH_HOME but outside the report folders
    os.symlink(lh_home / "secret.png", lift / "link-out.png")
    drift = lh_home / "drift"
    drift.mkdir()
    report = {
        "checks": [
            {"check": "scorer", "target": "evidence.jsonl", "status": "ok", "drifted": True, "summary": "<b>x</b>"}
        ],
        "drifted": 1,
        "skipped": 0,
        "failed": 0,
    }
    (drift / "nightly-abc.json").write_text(json.dumps(report))
    os.utime(drift / "nightly-abc.json", (1, 1))  # older: the lift report is the newest
    return lh_home


@pytest.fixture
def client(home):
    import flows  # noqa: F401  (Prefect environment first)
    from flows.http import create_app

    with TestClient(create_app(Settings()), base_url="http://127.0.0.1") as c:
        yield c


def test_the_newest_report_renders_escaped_with_its_chart(client):
    page = client.get("/ui/system")
    assert page.status_code == 200
    assert "<td>recall_at_1</td>" in page.text and "<strong>bold</strong>" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    assert '<img src="/ui/system/reports/chart?path=lift/run1/lift-chart.png" alt="cold vs warm"' in page.text
    chart = client.get("/ui/system/reports/chart", params={"path": "lift/run1/lift-chart.png"})
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/png" and chart.content == PNG


def test_a_drift_report_renders_from_its_json(client):
    view = client.get("/ui/system/reports/view", params={"path": "drift/nightly-abc.json"})
    assert "# Nightly drift" not in view.text and "<h1>Nightly drift checks</h1>" in view.text
    assert "<strong>yes</strong>" in view.text and "&lt;b&gt;x&lt;/b&gt;" in view.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../secret.png", "contains '..'; name the report file inside its folder"),
        ("lift/../secret.png", "contains '..'"),
        ("/etc/passwd", "is absolute; give a path relative to LH_HOME's report folders"),
        ("secret.png", "is outside the report folders"),
        ("lift/run1/link-out.png", "is outside the report folders"),
        ("lift/run1/lift-report.md", "is not a .png file"),
    ],
)
def test_a_chart_outside_the_report_folders_is_refused(client, home, path, message):
    response = client.get("/ui/system/reports/chart", params={"path": path})
    assert response.status_code == 403
    assert message in response.text
    assert response.content != PNG


def test_a_missing_chart_is_404_and_a_bad_report_is_shown_inline(client):
    missing = client.get("/ui/system/reports/chart", params={"path": "lift/run1/none.png"})
    assert missing.status_code == 404 and "does not exist" in missing.text
    view = client.get("/ui/system/reports/view", params={"path": "../ops.jsonl"})
    assert view.status_code == 200
    assert 'class="error"' in view.text and "contains &#39;..&#39;" in view.text


def test_the_ops_tail_marks_the_rows_new_since_the_last_poll(client):
    lakehouse = client.app.state.lakehouse
    from lakehouse.observe.observer import ObservedOp, now_utc

    def record(mode: str) -> str:
        op = ObservedOp.build(ts_start=now_utc(), source="event", mode=mode, status="completed")
        return lakehouse.observer.record(op).op_id

    first = record("deploy.started")
    tail = client.get("/ui/system/ops").text
    assert "deploy.started" in tail and "fresh" not in tail  # a first load marks nothing
    record("deploy.finished")
    tail = client.get("/ui/system/ops", params={"seen": first}).text
    assert tail.index("deploy.finished") < tail.index("deploy.started")  # newest first
    assert tail.count('class="fresh"') == 1
    stats = client.get("/ui/system/stats").text
    assert "deploy.finished" in stats and "event" in stats


def test_a_newest_report_that_does_not_read_is_said_in_its_place_and_the_page_works(client, home):
    """A drift report cut short by a crash (or not a report) made /ui/system a 500 for everyone."""
    (home / "drift" / "nightly-zzz.json").write_text('{"checks": [')  # the newest now
    page = client.get("/ui/system")
    assert page.status_code == 200
    assert 'id="report" class="report"' in page.text and 'class="error" role="alert"' in page.text
    assert "Expecting value" in page.text or "JSON" in page.text
