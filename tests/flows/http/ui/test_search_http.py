"""The Search page over plain HTTP: each bad input is an inline message naming the control, an HTMX
search answers the results region only, and a rating needs the page's CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from flows.http import create_app
from lakehouse.config import Settings
from tests.fixtures.vectors import HEALTH_MODEL
from tests.flows.http.ui.search_home import copy_health, text_of

HTMX = {"HX-Request": "true"}


@pytest.fixture(scope="module")
def site(tmp_path_factory, health_home):
    home = copy_health(health_home, tmp_path_factory.mktemp("search-http"))
    with TestClient(create_app(Settings(home=home, embed_model=HEALTH_MODEL)), base_url="http://127.0.0.1") as client:
        token = re.search(r'name="csrf-token" content="(\w+)"', client.get("/ui/search").text)
        assert token
        yield client, home, {"X-CSRF-Token": token.group(1)}


def test_a_first_visit_offers_every_corpus_and_searches_nothing(site):
    client, _home, _csrf = site
    response = client.get("/ui/search")
    assert response.status_code == 200
    assert re.search(r'name="corpus" value="health"\s+checked', response.text)
    assert "health 96 rows · filter keys: group" in text_of(response.text)
    assert "table" not in response.text.split('id="results"')[1]


def test_an_htmx_search_answers_the_results_only(site):
    client, _home, _csrf = site
    response = client.get("/ui/search", params={"q": "x-ray imaging", "corpus": "health", "top": "3"}, headers=HTMX)
    assert response.status_code == 200 and response.headers["vary"] == "HX-Request"
    assert "<html" not in response.text
    text = text_of(response.text)
    assert text.startswith("3 hits for “x-ray imaging” in health")
    assert text.count("This is the one") == 3 and "cosine 0." in text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "", "corpus": "health"}, "Query: type what to search for"),
        ({"q": "nurse"}, "Corpora: choose at least one corpus"),
        ({"q": "nurse", "corpus": "helth"}, "Corpora: no corpus named 'helth'; did you mean 'health'?"),
        ({"q": "nurse", "corpus": "health", "top": "ten"}, "Top N: 'ten' is not a whole number"),
        ({"q": "nurse", "corpus": "health", "top": "0"}, "Top N: must be between 1 and 1000, got 0"),
        ({"q": "nurse", "corpus": "health", "filter": "group"}, "Metadata filter: 'group': expected KEY=VALUE"),
        ({"q": "nurse", "corpus": "health", "filter": '{"group": '}, "Metadata filter: not valid JSON"),
        (
            {"q": "nurse", "corpus": "health", "filter": '{"group": ' + "[" * 5000 + "]" * 5000 + "}"},
            "Metadata filter: not valid JSON (nested too deeply at character 1)",
        ),
        (
            {"q": "nurse", "corpus": "health", "filter": "{}"},
            'Metadata filter: expected a JSON object such as {"group"',
        ),
        ({"q": "nurse", "corpus": "health", "filter": "grp=29-1"}, "health has no metadata key 'grp'"),
        ({"q": "nurse", "corpus": "health", "where": "Title =="}, "SQL pre-filter: 'Title ==' on table 'health'"),
        ({"q": "x" * 5000, "corpus": "health"}, "Query: String should have at most 4096 characters"),
    ],
)
def test_a_bad_input_is_named_inline(site, params, message):
    client, _home, _csrf = site
    response = client.get("/ui/search", params=params, headers=HTMX)
    assert response.status_code == 200  # htmx swaps it in where the results go
    assert 'class="error"' in response.text and message in text_of(response.text)


def test_a_plain_load_of_a_bad_search_keeps_its_status(site):
    client, _home, _csrf = site
    response = client.get("/ui/search", params={"q": "nurse", "corpus": "helth"})
    assert response.status_code == 400 and "<html" in response.text
    assert "no corpus named 'helth'" in text_of(response.text)
    assert 'value="helth" checked' in response.text  # kept in the form, marked unknown, to untick


def test_no_hits_says_which_filter_dropped_them(site):
    client, _home, _csrf = site
    response = client.get("/ui/search", params={"q": "nurse", "corpus": "health", "filter": "group=99-9"}, headers=HTMX)
    assert "No hits for “nurse” in health. The metadata filter dropped all" in text_of(response.text)


def test_rating_without_the_csrf_token_is_refused_and_stores_nothing(site):
    client, home, _csrf = site
    rating = {"query": "nurse", "corpus": "health", "id": "29-1141.00", "verdict": "good"}
    response = client.post("/ui/search/rate", data=rating)
    assert response.status_code == 403
    assert "missing or invalid CSRF token" in text_of(response.text)
    assert not (home / "evidence.jsonl").exists()


def test_rating_an_unknown_id_says_so_in_the_row(site):
    client, home, csrf = site
    rating = {"query": "nurse", "corpus": "health", "id": "29-1141.0", "verdict": "pick"}
    response = client.post("/ui/search/rate", data=rating, headers=csrf)
    text = text_of(response.text)
    assert "corpus 'health' has no id '29-1141.0'" in text and text.startswith("rating rejected")
    assert "Rating not recorded" in text
    assert not (home / "evidence.jsonl").exists()


def test_an_unknown_verdict_is_named(site):
    client, _home, csrf = site
    rating = {"query": "nurse", "corpus": "health", "id": "29-1141.00", "verdict": "great"}
    response = client.post("/ui/search/rate", data=rating, headers=csrf)
    assert "unknown rating 'great' (good, bad or pick)" in text_of(response.text)
