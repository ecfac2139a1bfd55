"""`/v1/ingest` (multipart upload), `/v1/tables` and `/v1/sql` over a real server."""

from __future__ import annotations

import pytest

from tests.fixtures.http import assert_error
from tests.fixtures.tables import INGEST_CASES

CSV = b"id,name,score\n1,Ann,1.5\n2,Bob,2.5\n3,Cy,3.5\n"


def table_snapshot(api, name: str):
    info = api.lakehouse.tables.describe(name)
    return info["current_snapshot_id"], info["rows"]


@pytest.fixture(scope="module")
def people(http_client):
    response = http_client.post("/v1/ingest", data={"table": "people"}, files={"file": ("people.csv", CSV, "text/csv")})
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_ingests_into_a_table(people, http_api):
    assert (people["status"], people["rows_in"], people["rows_total"]) == ("created", 3, 3)
    ingest_ops = [o for o in http_api.lakehouse.observer.ops() if o.get("mode") == "ingest"]
    assert ingest_ops[-1]["source"] == "http" and ingest_ops[-1]["status"] == "completed"


def test_same_upload_again_is_a_reported_noop(people, http_client, http_api):
    before = table_snapshot(http_api, "people")
    again = http_client.post("/v1/ingest", data={"table": "people"}, files={"file": ("people.csv", CSV)}).json()
    assert again["status"] == "already_ingested" and table_snapshot(http_api, "people") == before


def test_upsert_on_key(people, http_client):
    delta = b"id,name,score\n2,Bob,9.0\n4,Dee,4.5\n"
    body = http_client.post(
        "/v1/ingest", data={"table": "people", "key": "id"}, files={"file": ("delta.csv", delta)}
    ).json()
    assert (body["status"], body["rows_total"]) == ("upserted", 4)


def test_tables_lists_the_table(people, http_client):
    body = http_client.get("/v1/tables").json()
    assert "lakehouse.people" in body["tables"] and body["count"] == len(body["tables"])


def test_sql_select(people, http_client):
    body = http_client.post("/v1/sql", json={"sql": "SELECT name FROM people WHERE score > 2 ORDER BY name"}).json()
    assert body["columns"] == ["name"] and [r[0] for r in body["rows"]][:1] == ["Bob"]


def test_ragged_upload_is_400_naming_the_uploaded_file_and_line(people, http_client, http_api):
    before = table_snapshot(http_api, "people")
    bad = b"id,name,score\n5,Eve,1.0\n6,Fay\n"
    response = http_client.post("/v1/ingest", data={"table": "people"}, files={"file": ("ragged.csv", bad)})
    error = assert_error(response, 400, "ingest_error", match=r"ragged\.csv.*line 3")
    assert "inbox" not in error["message"]  # our temporary path is not shown
    assert table_snapshot(http_api, "people") == before


def test_a_deeply_nested_upload_is_400_and_the_server_stays_up(people, http_client, http_api):
    """40,000 levels: Arrow's JSON reader overflowed the C stack on it, and the API process died."""
    before = table_snapshot(http_api, "people")
    deep = (INGEST_CASES / "nested_40000_levels.jsonl").read_bytes()
    response = http_client.post("/v1/ingest", data={"table": "people"}, files={"file": ("deep.jsonl", deep)})
    assert_error(response, 400, "ingest_error", match=r"deep\.jsonl, line 2: nested too deeply to read; at most 64")
    assert table_snapshot(http_api, "people") == before
    assert http_client.get("/v1/tables").status_code == 200


@pytest.mark.parametrize("table", ["lakehouse._lh_ops", "corpus_people"])
def test_an_upload_into_a_lakehouse_table_is_400_naming_it(http_client, http_api, table):
    response = http_client.post("/v1/ingest", data={"table": table}, files={"file": ("people.csv", CSV)})
    assert_error(response, 400, "table_error", match=rf"^table 'lakehouse\.{table.split('.')[-1]}' belongs to ")
    assert not http_api.lakehouse.tables.exists(table)


def test_ingest_without_table_is_422(http_client):
    response = http_client.post("/v1/ingest", files={"file": ("x.csv", CSV)})
    assert_error(response, 422, "invalid_request", match=r"table: Field required")


def test_ingest_bad_format_is_422(http_client):
    response = http_client.post("/v1/ingest", data={"table": "t", "format": "xlsx"}, files={"file": ("x.csv", CSV)})
    assert_error(response, 422, "invalid_request", match=r"format")


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE people",
        "SELECT 1; SELECT 2",
        "COPY people TO '/tmp/x.csv'",
        "SELECT * FROM read_text('/etc/passwd')",
    ],
)
def test_sql_that_is_not_one_read_only_select_is_refused(people, http_client, http_api, sql):
    before = table_snapshot(http_api, "people")
    response = http_client.post("/v1/sql", json={"sql": sql})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] in ("sql_rejected", "sql_error")
    assert table_snapshot(http_api, "people") == before


def test_sql_wrong_field_name_suggests_sql(http_client):
    assert_error(
        http_client.post("/v1/sql", json={"sq": "SELECT 1"}),
        422,
        "invalid_request",
        match=r"unknown field 'sq'; did you mean 'sql'\?",
    )


def test_sql_unknown_table_is_an_error_naming_it(people, http_client):
    response = http_client.post("/v1/sql", json={"sql": "SELECT * FROM peopel"})
    assert_error(response, 400, "sql_error", match=r"(?s)peopel does not exist.*did you mean 'people'\?")
