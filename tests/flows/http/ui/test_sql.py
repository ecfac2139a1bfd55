"""Console page SQL in a real browser against a real `lakehouse api`: a query runs from the editor
(Ctrl+Enter) or an example chip into the result grid; a write is refused by the read-only guard,
inline, and changes nothing; the CSV download holds the same rows as `POST /v1/sql`."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from lakehouse.config import Settings
from lakehouse.core import Lakehouse
from tests.fixtures.browser import shoot
from tests.fixtures.console_home import FIRST_ROWS, MORE_ROWS

TOTAL = FIRST_ROWS + MORE_ROWS


@pytest.fixture(scope="module")
def sql_api(shared_api):
    """(url, LH_HOME root): table `cities` (65 rows in 2 snapshots)."""
    return shared_api.url, shared_api.root


def run(page, sql: str) -> None:
    editor = page.get_by_role("textbox", name="Query")
    editor.fill(sql)
    editor.press("Control+Enter")


def table_state(root: Path) -> tuple[int, int, list[str]]:
    """(rows, snapshots, table names) read through the library."""
    lh = Lakehouse(Settings(home=root / "home"))
    try:
        info = lh.tables.describe("cities")
        return info["rows"], len(info["snapshots"]), lh.tables.list()
    finally:
        lh.close()


def test_a_query_runs_into_the_grid(console, sql_api):
    url, _root = sql_api
    console.goto(url + "/ui/sql")
    run(console, "SELECT name, state FROM cities WHERE population >= 63000 ORDER BY id")
    grid = console.get_by_role("table", name="query result")
    expect(grid.locator("tbody tr")).to_have_count(3)
    expect(grid.locator("thead")).to_have_text("namestate")
    expect(grid.locator("tbody tr").first).to_have_text("city-063Maine")
    expect(console.locator("#sql-count")).to_contain_text("3 rows · 2 columns")
    shoot(console, "sql-result")


def test_the_grid_says_how_many_rows_it_leaves_out(console, sql_api):
    url, _root = sql_api
    console.goto(url + "/ui/sql")
    run(console, "SELECT a.id, b.id AS other FROM cities a, cities b")
    expect(console.locator("#sql-count")).to_contain_text(f"first 500 of {TOTAL * TOTAL:,} rows")
    expect(console.get_by_role("table", name="query result").locator("tbody tr")).to_have_count(500)
    shoot(console, "sql-row-cap")


def test_an_example_chip_runs(console, sql_api):
    url, _root = sql_api
    console.goto(url + "/ui/sql")
    console.get_by_role("button", name="SELECT count(*) AS rows FROM cities").click()
    expect(console.get_by_role("textbox", name="Query")).to_have_value("SELECT count(*) AS rows FROM cities")
    expect(console.get_by_role("table", name="query result").locator("tbody")).to_have_text(str(TOTAL))


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DELETE FROM cities", "DELETE statements are not allowed: the SQL surface is read-only"),
        ("CREATE TABLE copy AS SELECT * FROM cities", "CREATE statements are not allowed"),
    ],
    ids=["delete", "create"],
)
def test_a_write_is_refused_inline_and_changes_nothing(console, sql_api, statement, refusal):
    url, root = sql_api
    before = table_state(root)
    console.goto(url + "/ui/sql")
    run(console, statement)
    expect(console.locator("#sql-result").get_by_role("alert")).to_contain_text(refusal)
    expect(console.get_by_role("textbox", name="Query")).to_have_value(statement)  # still there to fix
    shoot(console, f"sql-refused-{statement.split()[0].lower()}")
    assert table_state(root) == before == (TOTAL, 2, before[2])
    assert "lakehouse.copy" not in before[2]


def test_csv_download_holds_the_querys_rows(console, sql_api):
    url, _root = sql_api
    query = "SELECT id, name, population FROM cities WHERE state = 'Utah' ORDER BY id DESC"
    console.goto(url + "/ui/sql")
    run(console, query)
    expect(console.locator("#sql-count")).to_contain_text("rows")
    with console.expect_download() as info:
        console.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == "query.csv"
    lines = list(csv.reader(io.StringIO(Path(download.path()).read_text())))

    expected = httpx.post(url + "/v1/sql", json={"sql": query}, timeout=60).json()
    assert lines[0] == expected["columns"] == ["id", "name", "population"]
    assert lines[1:] == [[str(v) for v in row] for row in expected["rows"]]
    assert len(lines) - 1 == expected["row_count"] > 10
    shoot(console, "sql-csv")


# plain HTTP: what a bad request gets ------------------------------------------------------------
@pytest.fixture
def session(sql_api):
    """An httpx client holding a console session cookie, and that session's CSRF token."""
    url, _root = sql_api
    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/ui/sql")
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
        assert page.status_code == 200 and token, page.text[:500]
        yield client, token.group(1)


def test_running_without_the_csrf_token_is_refused(session):
    client, _token = session
    response = client.post("/ui/sql/run", data={"sql": "SELECT 1"})
    assert response.status_code == 403
    assert "CSRF token" in response.text


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("", "empty SQL: give one SELECT statement"),
        ("SELECT * FROM citys", "citys"),
        ("SELEC name FROM cities", "SQL does not parse"),
        ("SELECT 1; SELECT 2", "exactly one statement is allowed, got 2"),
        ("SELECT * FROM read_csv('/etc/passwd')", r"read_csv\(\) is not allowed"),
    ],
    ids=["empty", "unknown-table", "syntax", "two-statements", "file-read"],
)
def test_a_bad_query_answers_its_message_inline(session, sql, message):
    client, token = session
    response = client.post("/ui/sql/run", data={"sql": sql, "csrf_token": token})
    assert response.status_code == 200  # HTMX swaps it in where the grid would be
    assert 'class="error"' in response.text
    assert re.search(message, html.unescape(response.text)), response.text


def test_a_long_query_downloads_as_csv(session):
    """The page posts the query: in a GET's address, one this long (a 230 KB request line once
    URL-encoded) was cut off by the server and the download cancelled."""
    client, token = session
    values = ", ".join(str(i) for i in range(15_000))  # about 94,000 characters
    sql = f"SELECT range AS n FROM range(10) WHERE range IN ({values}) ORDER BY n"
    response = client.post("/ui/sql/csv", data={"sql": sql, "csrf_token": token})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines() == ["n", *map(str, range(10))]
    refused = client.post("/ui/sql/csv", data={"sql": sql})  # the page's token, as every POST
    assert refused.status_code == 403


def test_a_refused_csv_download_says_why(session):
    client, _token = session
    response = client.get("/ui/sql/csv", params={"sql": "DROP TABLE cities"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("query refused: DROP statements are not allowed")


def test_console_queries_are_recorded_with_source_ui(session):
    client, token = session
    client.post("/ui/sql/run", data={"sql": "SELECT 'recorded' AS marker", "csrf_token": token})
    ops = client.get("/v1/observer/ops", params={"source": "ui", "mode": "sql.query"}).json()["ops"]
    # (a long query's op holds a summary of its input, not the query)
    assert any(op["input"].get("sql") == "SELECT 'recorded' AS marker" for op in ops), ops[-3:]
