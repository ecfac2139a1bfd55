"""`lakehouse api` on a PostgreSQL catalog that goes away (a restart, a network cut): tables, SQL
(run in a SQL worker process) and ingest answer 503 with the catalog's own message, not a 500
`internal_error` (SQLAlchemy's error through the worker) or a 409 `table_conflict` (an ingest took
the refused connections for lost commit races); once it is back they answer."""

from __future__ import annotations

import httpx

from tests.fixtures.http import api_process, assert_error
from tests.fixtures.tcp_proxy import TcpProxy

UNREACHABLE = r"the catalog database postgresql\+psycopg://lakehouse:\*\*\*@127\.0\.0\.1:\d+/.* cannot be reached"


def test_the_api_answers_503_while_its_catalog_is_gone_and_200_after(postgres, tmp_path):
    proxy = TcpProxy(postgres.port).start()
    url = postgres.url(postgres.create_database()).replace(f":{postgres.port}/", f":{proxy.port}/")
    env = {"LH_CATALOG_URL": url, "LH_CATALOG_CONNECT_TIMEOUT_S": "2"}
    try:
        with api_process(tmp_path, env=env) as (api, _), httpx.Client(base_url=api, timeout=120) as c:
            (tmp_path / "people.csv").write_text("id,city\n1,Chicago\n2,Peoria\n")
            with open(tmp_path / "people.csv", "rb") as fh:
                assert c.post("/v1/ingest", data={"table": "people"}, files={"file": fh}).status_code == 200
            sql = {"sql": "SELECT count(*) AS n FROM people"}
            assert c.post("/v1/sql", json=sql).json()["rows"] == [[2]]
            proxy.cut()
            assert_error(c.get("/v1/tables"), 503, "catalog_unavailable", match=UNREACHABLE)
            assert_error(c.post("/v1/sql", json=sql), 503, "catalog_unavailable", match=UNREACHABLE)
            with open(tmp_path / "people.csv", "rb") as fh:  # was a 409: 8 "lost races" to a database that was down
                refused = c.post("/v1/ingest", data={"table": "people"}, files={"file": fh})
            assert_error(refused, 503, "catalog_unavailable", match=UNREACHABLE)
            proxy.start()
            assert c.post("/v1/sql", json=sql).json()["rows"] == [[2]]
            assert "lakehouse.people" in c.get("/v1/tables").text
    finally:
        proxy.cut()
