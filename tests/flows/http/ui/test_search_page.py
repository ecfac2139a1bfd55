"""The Search page in a real browser against a real `lakehouse api`: search, rate a hit "this is the
one", and the same search shows it first (the playbook effect); the rating is an op and evidence."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.browser import shoot
from tests.fixtures.http import api_process
from tests.flows.http.ui.search_home import HOME_ENV, copy_health

QUERY = "x-ray imaging"


@pytest.fixture(scope="module")
def site(tmp_path_factory, health_home):
    base = tmp_path_factory.mktemp("search-page")
    home = copy_health(health_home, base)
    with api_process(base, env=HOME_ENV) as (url, _proc):
        yield url, home


def hit_ids(page) -> list[str]:
    return page.locator("table.hits tbody tr").evaluate_all("rows => rows.map(r => r.dataset.hitId)")


def search_for(page, query: str) -> list[str]:
    """Type the query, press Enter, wait for the results to swap in; the hit ids in rank order."""
    page.evaluate("document.querySelectorAll('#results > *').forEach(e => e.dataset.stale = '1')")
    page.get_by_label("Query").fill(query)
    page.get_by_label("Query").press("Enter")
    page.locator("#results .summary:not([data-stale])", has_text=f"for “{query}”").wait_for()
    return hit_ids(page)


def test_this_is_the_one_puts_the_hit_first_on_the_same_search(console, site):
    url, home = site
    console.goto(url + "/ui/search")
    before = search_for(console, QUERY)
    assert len(before) >= 3
    assert parse_qs(urlsplit(console.url).query)["q"] == [QUERY]  # the URL is the search
    expect_why = console.locator("table.hits tbody tr").first.locator("td.why")
    assert re.search(r"cosine \d\.\d{3}", expect_why.inner_text())
    shoot(console, "search-results")

    picked = before[2]
    row = console.locator(f'tr[data-hit-id="{picked}"]')
    row.get_by_role("button", name=f"This is the one: {picked}").click()
    row.get_by_text("this is the one ✓").wait_for()
    assert "as the one for" in console.locator("#toast").inner_text()
    shoot(console, "search-rated")

    console.get_by_role("button", name="Search", exact=True).click()
    console.locator("table.hits tbody tr").first.and_(console.locator(f'[data-hit-id="{picked}"]')).wait_for()
    first_why = console.locator("table.hits tbody tr").first.locator("td.why").inner_text()
    assert "rated for this query +1.000" in first_why and f"“{QUERY}”" in first_why
    shoot(console, "search-after-rating")

    console.reload()  # a bookmark: the page searches again on load
    assert hit_ids(console)[0] == picked
    assert console.get_by_label("Query").input_value() == QUERY

    ops = httpx.get(f"{url}/v1/observer/ops", params={"source": "ui", "mode": "matrix.feedback"}).json()["ops"]
    assert [op["status"] for op in ops] == ["completed"]
    evidence = [json.loads(line) for line in (home / "evidence.jsonl").read_text().splitlines()]
    [record] = [r for r in evidence if r["meta"]["hit_id"] == picked and r["query"] == QUERY]
    assert (record["meta"]["source"], record["meta"]["verdict"], record["meta"]["note"]) == (
        "ui",
        "good",
        "this is the one",
    )


def test_wrong_demotes_a_hit_and_good_is_recorded(console, site):
    url, _home = site
    console.goto(url + "/ui/search")
    query = "nurse anesthesia"
    before = search_for(console, query)
    wrong, good = before[0], before[1]
    console.locator(f'tr[data-hit-id="{wrong}"]').get_by_role("button", name=f"Rate {wrong} wrong").click()
    console.locator(f'tr[data-hit-id="{wrong}"]').get_by_text("rated wrong ✗").wait_for()
    console.locator(f'tr[data-hit-id="{good}"]').get_by_role("button", name=f"Rate {good} good").click()
    console.locator(f'tr[data-hit-id="{good}"]').get_by_text("rated good ✓").wait_for()
    after = search_for(console, query)
    assert after[0] == good and wrong not in after[:1]


def test_a_bookmarked_search_with_a_bad_filter_names_the_field(console, site):
    url, _home = site
    response = console.goto(url + "/ui/search?q=radiology&corpus=health&filter=grp%3D29-2")
    assert response.status == 400
    message = console.locator("#results .error").inner_text()
    assert "Metadata filter: health has no metadata key 'grp' (its metadata keys: group)" in message
    console.get_by_label("Metadata filter").fill("group=29-2")
    console.get_by_label("Metadata filter").press("Enter")
    console.locator("#results .summary").wait_for()
    assert console.locator("#results .error").count() == 0
    assert set(console.locator("table.hits .badge").all_inner_texts()) == {"group: 29-2"}
    shoot(console, "search-filtered")
