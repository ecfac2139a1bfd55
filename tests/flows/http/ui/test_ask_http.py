"""The Ask page over plain HTTP with no model configured: the page says so on arrival and the
answer region shows the configuration error; bad input is named inline; asking needs the CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from flows.http import create_app
from tests.fixtures.ask import SOURDOUGH, XRAY, ask_settings
from tests.flows.http.ui.search_home import copy_health, text_of


@pytest.fixture(scope="module")
def site(tmp_path_factory, health_home):
    home = copy_health(health_home, tmp_path_factory.mktemp("ask-http"))
    with TestClient(create_app(ask_settings(home)), base_url="http://127.0.0.1") as client:  # no model at all
        page = client.get("/ui/ask")
        token = re.search(r'name="csrf-token" content="(\w+)"', page.text)
        assert token
        yield client, page, {"X-CSRF-Token": token.group(1), "HX-Request": "true"}


def test_the_page_says_no_model_is_configured(site):
    _client, page, _csrf = site
    assert page.status_code == 200
    assert "No model is configured to answer. no LLM model is configured: " in text_of(page.text)


def test_asking_without_a_model_shows_the_configure_a_model_error(site):
    client, _page, csrf = site
    response = client.post("/ui/ask", data={"question": XRAY, "corpus": "health"}, headers=csrf)
    assert response.status_code == 200
    assert text_of(response.text).startswith("Model: no LLM model is configured: ")


def test_a_question_no_hit_answers_needs_no_model(site):
    client, _page, csrf = site
    response = client.post("/ui/ask", data={"question": SOURDOUGH, "corpus": "health"}, headers=csrf)
    assert text_of(response.text).startswith(f"No relevant hit for “{SOURDOUGH}”.")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"question": " ", "corpus": "health"}, "Question: type a question"),
        ({"question": XRAY}, "Corpora: choose at least one corpus"),
        ({"question": XRAY, "corpus": "helth"}, "Corpora: no corpus named 'helth'; did you mean 'health'?"),
        ({"question": XRAY, "corpus": "health", "top": "101"}, "Top N: Input should be less than or equal to 100"),
        ({"question": XRAY, "corpus": "health", "filter": "grp=1"}, "health has no metadata key 'grp'"),
    ],
)
def test_a_bad_input_is_named_inline(site, form, message):
    client, _page, csrf = site
    response = client.post("/ui/ask", data=form, headers=csrf)
    assert 'class="error"' in response.text and message in text_of(response.text)


def test_a_form_posted_without_script_answers_the_whole_page(site):
    client, page, _csrf = site
    token = re.search(r'name="csrf_token" value="(\w+)"', page.text)
    assert token
    form = {"question": SOURDOUGH, "corpus": "health", "csrf_token": token.group(1)}
    response = client.post("/ui/ask", data=form)
    assert response.status_code == 200 and "<html" in response.text
    assert f">{SOURDOUGH}</textarea>" in response.text  # the question kept to edit
    assert f"No relevant hit for “{SOURDOUGH}”." in text_of(response.text)


def test_asking_without_the_csrf_token_is_refused(site):
    client, _page, _csrf = site
    response = client.post("/ui/ask", data={"question": XRAY, "corpus": "health"})
    assert response.status_code == 403
    assert "missing or invalid CSRF token" in text_of(response.text)
