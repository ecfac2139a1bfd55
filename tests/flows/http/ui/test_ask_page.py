"""The Ask page in a real browser against a real `lakehouse api` whose `local_judge` tier is the fake
LLM server: the grounded answer with its cited hits, an invented citation flagged, and a question
no hit answers told so without a model request."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.ask import INVENTED, SOURDOUGH, XRAY, cite_first_two, cite_invented, judge_models, source_ids
from tests.fixtures.browser import shoot
from tests.fixtures.http import api_process
from tests.fixtures.llm_server import running_fake_llm
from tests.flows.http.ui.search_home import HOME_ENV, copy_health


@pytest.fixture(scope="module")
def site(tmp_path_factory, health_home):
    base = tmp_path_factory.mktemp("ask-page")
    copy_health(health_home, base)
    # one fake server for the module's one API process (slow to start): each test resets it
    with running_fake_llm() as llm:
        env = HOME_ENV | {"LH_MODELS": judge_models(llm).model_dump_json()}
        with api_process(base, env=env) as (url, _proc):
            yield url, llm


@pytest.fixture
def llm(site):
    _url, fake = site
    fake.requests.clear()
    return fake


def ask(page, question: str) -> None:
    page.get_by_label("Question").fill(question)
    page.get_by_label("Question").press("Enter")  # Enter asks (Shift+Enter: a new line)
    page.locator("#answer .panel").first.wait_for()


def test_the_answer_shows_its_cited_hits(console, site, llm):
    url, _ = site
    llm.reply = cite_first_two
    console.goto(url + "/ui/ask")
    assert console.locator(".notice").count() == 0  # a model is configured
    ask(console, XRAY)
    [request] = llm.requests
    cited = source_ids(request["body"])[:2]
    answer = console.locator("#answer").inner_text()
    assert f"Radiologic technologists [{cited[0]}] and radiologists [{cited[1]}]" in answer
    assert "grounded" in answer and "Answered by openai/fake-model" in answer
    assert console.locator("table.cited tbody tr td:first-child").all_inner_texts() == cited
    shoot(console, "ask-answer")
    ops = httpx.get(f"{url}/v1/observer/ops", params={"source": "ui", "mode": "ask"}).json()["ops"]
    assert ops[-1]["status"] == "completed"


def test_an_invented_citation_is_flagged(console, site, llm):
    url, _ = site
    llm.reply = cite_invented
    console.goto(url + "/ui/ask")
    ask(console, XRAY)
    flagged = console.locator("#answer").get_by_role("alert").inner_text()
    assert f"Invented citations: {INVENTED} — not among the hits the model read." in flagged
    assert "not grounded" in console.locator("#answer h2").first.inner_text()


def test_a_question_no_hit_answers_asks_no_model(console, site, llm):
    url, _ = site
    console.goto(url + "/ui/ask")
    ask(console, SOURDOUGH)
    text = console.locator("#answer").inner_text()
    assert f"No relevant hit for “{SOURDOUGH}”" in text and "no model was asked" in text
    assert llm.requests == []
    shoot(console, "ask-no-relevant-hit")
