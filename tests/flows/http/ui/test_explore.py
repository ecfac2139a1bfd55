"""Console page Explore in a real browser against a real `lakehouse api`: the tables list, one
table's schema, snapshots and paged rows, time travel to an older snapshot, and promote / roll back
of a corpus generation behind a confirmation (checked through the library afterwards)."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.fixtures.browser import shoot
from tests.fixtures.console_home import FIRST_ROWS, MORE_ROWS, live_generation

TOTAL = FIRST_ROWS + MORE_ROWS


@pytest.fixture(scope="module")
def explore(shared_api):
    """(url, LH_HOME root, snapshot ids): `cities` with 2 snapshots, corpus `notes` with 2 generations."""
    return shared_api.url, shared_api.root, shared_api.snapshots


def test_tables_list_schema_snapshots_and_paged_rows(console, explore):
    url, _root, snapshots = explore
    console.goto(url + "/ui/explore")
    listed = console.locator("#tables-list tr", has_text="lakehouse.cities")
    expect(listed).to_contain_text(str(TOTAL))
    expect(console.locator("#tables-list")).to_contain_text("lakehouse.corpus_notes")
    internal = console.locator("#tables-list tbody tr").last  # the lakehouse's own tables come last, labelled
    expect(internal).to_contain_text("lakehouse._lh_console_test")
    expect(internal).to_contain_text("internal")
    expect(listed).not_to_contain_text("internal")
    shoot(console, "explore-tables")

    listed.get_by_role("link").click()
    view = console.locator("#table-view")
    expect(view.get_by_role("heading", name="lakehouse.cities")).to_be_visible()
    expect(console).to_have_url(re.compile(r"/ui/explore\?table=lakehouse\.cities$"))
    schema = view.get_by_role("table", name="schema")
    for column, type_ in (("id", "long"), ("name", "string"), ("state", "string"), ("population", "long")):
        expect(schema.locator("tr", has_text=column).first).to_contain_text(type_)
    history = view.get_by_role("table", name="snapshots")
    expect(history.locator("tbody tr")).to_have_count(2)
    expect(history.locator("tr", has_text=str(snapshots["second"]))).to_contain_text("current")
    expect(history.locator("tr", has_text=str(snapshots["second"]))).to_contain_text(str(MORE_ROWS))
    expect(history.locator("tr", has_text=str(snapshots["first"]))).to_contain_text(str(FIRST_ROWS))
    expect(console.locator("#rows-range")).to_contain_text(f"rows 1–50 of {TOTAL}")
    expect(console.get_by_role("table", name="rows").locator("tbody tr")).to_have_count(50)
    shoot(console, "explore-table")

    console.get_by_role("button", name="Next →").click()
    expect(console.locator("#rows-range")).to_contain_text(f"rows 51–{TOTAL} of {TOTAL}")
    expect(console.get_by_role("table", name="rows").locator("tbody tr")).to_have_count(TOTAL - 50)
    expect(console.get_by_role("button", name="Next →")).to_be_disabled()
    console.get_by_role("button", name="← Prev").click()
    expect(console.locator("#rows-range")).to_contain_text(f"rows 1–50 of {TOTAL}")
    shoot(console, "explore-rows-paged")


def test_time_travel_shows_the_older_snapshots_rows(console, explore):
    url, _root, snapshots = explore
    console.goto(url + "/ui/explore?table=cities")
    expect(console.locator("#rows-range")).to_contain_text(f"of {TOTAL}")

    console.get_by_label("Time travel: rows as of").select_option(str(snapshots["first"]))
    expect(console.locator("#rows-range")).to_contain_text(f"rows 1–50 of {FIRST_ROWS}")
    expect(console.locator("#rows-range")).to_contain_text(f"as of snapshot {snapshots['first']}")
    console.get_by_role("button", name="Next →").click()
    expect(console.locator("#rows-range")).to_contain_text(f"rows 51–{FIRST_ROWS} of {FIRST_ROWS}")
    rows = console.get_by_role("table", name="rows")
    expect(rows).to_contain_text(f"city-{FIRST_ROWS:03d}")
    expect(rows).not_to_contain_text(f"city-{FIRST_ROWS + 1:03d}")  # added by the later snapshot
    shoot(console, "explore-time-travel")

    # the snapshot list's own button goes back to the current snapshot's rows
    console.get_by_role("button", name=f"rows as of snapshot {snapshots['second']}").click()
    expect(console.locator("#rows-range")).to_contain_text(f"rows 1–50 of {TOTAL}")


def test_promote_and_rollback_ask_first_then_switch_the_live_generation(console, explore):
    url, root, _snapshots = explore
    assert live_generation(root) == 2
    console.goto(url + "/ui/explore")
    corpus = console.get_by_role("region", name="corpus notes")
    expect(corpus.get_by_role("table", name="generations of notes").locator("tbody tr")).to_have_count(2)
    expect(corpus).to_contain_text("live: generation 2")
    shoot(console, "explore-corpora")

    asked: list[str] = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    console.once("dialog", dismiss)
    corpus.get_by_role("button", name="Roll back").click()
    expect(corpus).to_contain_text("live: generation 2")
    assert asked and "Roll back corpus notes" in asked[0]
    assert live_generation(root) == 2  # declined: nothing changed

    console.once("dialog", lambda dialog: dialog.accept())
    corpus.get_by_role("button", name="Roll back").click()
    expect(corpus.get_by_role("status")).to_have_text("rolled back: generation 1 is live (was 2)")
    expect(corpus).to_contain_text("live: generation 1")
    assert live_generation(root) == 1
    shoot(console, "explore-rolled-back")

    console.once("dialog", lambda dialog: dialog.accept())
    corpus.get_by_role("button", name="promote generation 2").click()
    expect(corpus.get_by_role("status")).to_have_text("promoted: generation 2 is live (was 1)")
    assert live_generation(root) == 2
    shoot(console, "explore-promoted")


# plain HTTP: what a bad request gets ------------------------------------------------------------
@pytest.fixture
def session(explore):
    """An httpx client holding a console session cookie, and that session's CSRF token."""
    url, _root, _snapshots = explore
    with httpx.Client(base_url=url, timeout=60) as client:
        page = client.get("/ui/explore")
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
        assert page.status_code == 200 and token, page.text[:500]
        yield client, token.group(1)


def test_promote_without_the_csrf_token_is_refused_and_changes_nothing(session, explore):
    client, _token = session
    before = live_generation(explore[1])
    for action, form in (("promote", {"name": "notes", "generation": "1"}), ("rollback", {"name": "notes"})):
        response = client.post(f"/ui/explore/corpus/{action}", data=form)
        assert response.status_code == 403, action
        assert "CSRF token" in response.text
    assert live_generation(explore[1]) == before


@pytest.mark.parametrize(
    ("generation", "message"),
    [
        ("9", "corpus 'notes' has no generation 9"),
        ("abc", "generation must be a generation number (1, 2, ...), got 'abc'"),  # was "must be >= 1"
    ],
)
def test_promoting_a_generation_that_is_not_kept_is_shown_inline(session, explore, generation, message):
    client, token = session
    before = live_generation(explore[1])
    form = {"name": "notes", "generation": generation, "csrf_token": token}
    response = client.post("/ui/explore/corpus/promote", data=form)
    assert response.status_code == 200
    assert message in html.unescape(response.text)
    assert live_generation(explore[1]) == before


@pytest.mark.parametrize("action", ["promote", "rollback"])
def test_a_switch_confirmed_on_a_page_another_change_made_stale_is_refused(session, explore, action):
    client, token = session
    before = live_generation(explore[1])
    page = client.get("/ui/explore")
    assert f'name="live" value="{before}"' in page.text  # each form sends what its page showed
    form = {"name": "notes", "generation": "1", "live": str(before + 5), "csrf_token": token}
    response = client.post(f"/ui/explore/corpus/{action}", data=form)
    assert response.status_code == 200
    said = f"corpus 'notes': generation {before} is live now, not {before + 5} as you saw it"
    assert said in html.unescape(response.text)
    assert live_generation(explore[1]) == before


def test_an_unknown_table_is_named_with_a_suggestion(session):
    client, _token = session
    page = client.get("/ui/explore", params={"table": "citys"})
    assert page.status_code == 404
    assert "citys" in page.text and "cities" in page.text  # the message suggests the real one
    fragment = client.get("/ui/explore/table", params={"name": "citys"})
    assert fragment.status_code == 200 and 'class="error"' in fragment.text


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ("abc", "snapshot must be a snapshot id (a number), got 'abc'"),
        ("123", "has no snapshot 123"),
        ("\u0967", "snapshot must be a snapshot id (a number), got '\u0967'"),  # Devanagari one: int() reads 1
    ],
    ids=["not-a-number", "unknown", "another-scripts-digit"],
)
def test_a_bad_snapshot_is_shown_in_the_rows_region(session, snapshot, message):
    client, _token = session
    response = client.get("/ui/explore/rows", params={"name": "cities", "snapshot": snapshot})
    assert response.status_code == 200
    assert 'id="rows" class="error"' in response.text  # replaces the rows region, which stays targetable
    assert message in html.unescape(response.text)
