"""A client that gives up on a slow query (a console or a script with a timeout) left its SQL worker
running for nobody to the time limit: with the one worker taken, every other query waited 5 s and
failed with 503 `sql_busy`. The query stops when its client goes, and the op says so; the console's
SQL page too."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from lakehouse.config import Settings
from lakehouse.data.sql import workers
from lakehouse.observe.observer import Observer
from tests.fixtures.http import serve

LONG = "SELECT sum(hash(i)) FROM range(100000000000) t(i)"  # hours, unless stopped


def test_a_query_whose_client_left_frees_its_worker(tmp_path):
    settings = Settings(home=tmp_path / "home", sql_isolation="process", sql_workers=1, sql_timeout_s=600)
    try:
        with serve(settings) as live, live.client(timeout=60) as c:
            with pytest.raises(httpx.ReadTimeout), live.client(timeout=2) as impatient:
                impatient.post("/v1/sql", json={"sql": LONG})

            answer = c.post("/v1/sql", json={"sql": "SELECT 1 AS one"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["rows"] == [[1]]

            deadline = time.monotonic() + 30  # the op of the abandoned query is written as its worker ends
            while not (ops := [op for op in Observer(settings.ops_log).ops(limit=10) if op["status"] == "failed"]):
                assert time.monotonic() < deadline, "the abandoned query left no op"
                time.sleep(0.1)
        assert "query stopped: its caller went away before the answer (its worker was ended)" in ops[0]["error"]
    finally:
        workers.close_all()


def test_a_console_query_whose_browser_left_frees_its_worker(tmp_path):
    settings = Settings(home=tmp_path / "home", sql_isolation="process", sql_workers=1, sql_timeout_s=600)
    try:
        with serve(settings) as live, live.client(timeout=60) as c:
            page = c.get("/ui/sql")  # no token: the console is open on loopback, with a session for its forms
            csrf = re.search(r'name="csrf_token" value="(\w+)"', page.text)
            assert csrf, page.text
            with pytest.raises(httpx.ReadTimeout), live.client(timeout=2, cookies=c.cookies) as impatient:
                impatient.post("/ui/sql/run", data={"sql": LONG, "csrf_token": csrf.group(1)})

            answer = c.post("/v1/sql", json={"sql": "SELECT 1 AS one"})
            assert answer.status_code == 200, answer.text
    finally:
        workers.close_all()
