"""One corpus whose manifest cannot be read (a truncated write) is shown as unavailable, with why,
on the Search and Ask pages: the other corpora are still searched (the whole page answered 400)."""

from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient

from flows.http import create_app
from lakehouse.config import Settings
from tests.fixtures.vectors import HEALTH_MODEL
from tests.flows.http.ui.search_home import copy_health, text_of


@pytest.fixture(scope="module")
def client(tmp_path_factory, health_home):
    home = copy_health(health_home, tmp_path_factory.mktemp("damaged"))
    vectors = home / "objects" / "_vectors"
    shutil.copytree(vectors / "health", vectors / "broken")
    manifest = vectors / "broken" / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:100])
    with TestClient(create_app(Settings(home=home, embed_model=HEALTH_MODEL)), base_url="http://127.0.0.1") as client:
        yield client


def test_the_other_corpora_are_still_searched(client):
    page = client.get("/ui/search", params={"q": "x-ray imaging", "corpus": "health", "top": "3"})
    assert page.status_code == 200
    text = text_of(page.text)
    assert re.search(r"broken unavailable _vectors/broken/manifest\.json: unreadable corpus manifest", text)
    assert "health 96 rows" in text and "29-2034" in text  # the hits


def test_searching_the_damaged_one_says_why(client):
    page = client.get("/ui/search", params={"q": "x-ray imaging", "corpus": "broken"})
    assert page.status_code == 400
    assert "corpus 'broken' cannot be searched: _vectors/broken/manifest.json: unreadable" in text_of(page.text)


def test_the_ask_page_opens(client):
    page = client.get("/ui/ask")
    assert page.status_code == 200 and "broken unavailable" in text_of(page.text)
