"""`/v1/matrix/*` over a real server: three small corpora (real MiniLM), search, relevance, corpora,
playbooks one by one and in bulk."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.http import assert_error

CORPORA = {
    "warehouse": [
        ("w1", "Forklift operator moving pallets in a cold-storage warehouse", "53"),
        ("w2", "Order picker filling shipments on the night shift", "53"),
        ("w3", "Shipping and receiving clerk checking freight deliveries", "43"),
    ],
    "care": [
        ("c1", "Registered nurse caring for patients in intensive care", "29"),
        ("c2", "Home health aide helping elderly clients with daily tasks", "31"),
        ("c3", "Pharmacy technician preparing prescriptions", "29"),
    ],
    "trades": [
        ("t1", "Electrician installing commercial wiring and panels", "47"),
        ("t2", "Pipe welder joining steel in a shipyard", "51"),
        ("t3", "Industrial truck driver operating reach trucks and forklifts", "53"),
    ],
}


def csv_of(rows) -> bytes:
    lines = ["id,description,major_group"] + [f'{i},"{text}",{group}' for i, text, group in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def corpora(http_client):
    for name, rows in CORPORA.items():
        upload = http_client.post(
            "/v1/ingest", data={"table": f"jobs_{name}"}, files={"file": (f"{name}.csv", csv_of(rows))}
        )
        assert upload.status_code == 200, upload.text
        built = http_client.post(
            "/v1/modes/corpus.build",
            json={
                "name": name,
                "table": f"jobs_{name}",
                "text_cols": ["description"],
                "id_col": "id",
                "metadata_cols": ["major_group"],
            },
        )
        assert built.status_code == 200, built.text
    return list(CORPORA)


def search(client, **body):
    response = client.post("/v1/matrix/search", json={"corpora": ["warehouse", "care", "trades"], **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_search_merges_three_corpora_with_attribution(corpora, http_client, http_api):
    body = search(http_client, query="forklift driver for a warehouse", relevance=False, top_n=6)
    assert body["downgrade"]["mode"] == "composed"
    assert {h["corpus"] for h in body["hits"]} == {"warehouse", "care", "trades"}
    top = [(h["corpus"], h["id"]) for h in body["hits"][:2]]
    assert ("warehouse", "w1") in top or ("trades", "t3") in top
    op = http_api.lakehouse.observer.ops(limit=1)[0]
    assert (op["mode"], op["source"]) == ("matrix.search", "http")


def test_search_metadata_filter_reports_dropped(corpora, http_client):
    body = search(http_client, query="forklift", filter={"major_group": "53"}, relevance=False)
    assert body["metadata_filter_dropped"] > 0
    assert all(h["metadata"]["major_group"] in ("53", 53) for h in body["hits"])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"query_text": "forklift", "corpora": ["care"]}, r"unknown field 'query_text'; did you mean 'query'\?"),
        ({"query": "forklift", "corpora": []}, r"corpora: List should have at least 1 item"),
        ({"query": "forklift", "corpora": ["care"], "top_k": 0}, r"top_k: Input should be greater than or equal to 1"),
    ],
)
def test_bad_search_is_422_naming_the_field(http_client, body, match):
    assert_error(http_client.post("/v1/matrix/search", json=body), 422, "invalid_request", match=match)


def test_search_of_an_unknown_corpus_is_404(corpora, http_client):
    response = http_client.post("/v1/matrix/search", json={"query": "x", "corpora": ["warehouse", "cares"]})
    assert_error(response, 404, "corpus_not_found", match="cares")


def test_relevance_keeps_relevant_hits(corpora, http_client):
    hits = search(http_client, query="nurse for intensive care patients", relevance=False, top_n=9)["hits"]
    body = http_client.post(
        "/v1/matrix/relevance", json={"query": "nurse for intensive care patients", "hits": hits}
    ).json()
    assert body["count"] + body["dropped"] == len(hits)
    assert body["hits"][0]["id"] == "c1"


def test_relevance_bad_hits_is_422(http_client):
    response = http_client.post("/v1/matrix/relevance", json={"query": "x", "hits": [{"id": "w1"}]})
    assert_error(response, 422, "invalid_request", match=r"hits\[0\]\.corpus: Field required")


def test_corpora_lists_the_three(corpora, http_client):
    body = http_client.get("/v1/matrix/corpora").json()
    names = {c["name"] if isinstance(c, dict) else c for c in body["corpora"]}
    assert {"warehouse", "care", "trades"} <= names and body["count"] == len(body["corpora"])


def test_record_one_playbook(corpora, http_client):
    body = http_client.post(
        "/v1/matrix/playbooks", json={"query": "reach truck driver", "answer": "t3", "corpus": "trades", "score": 1.0}
    ).json()
    assert body["recorded"] == 1 and body["failed"] == 0 and body["results"][0]["id"]


def test_record_playbook_missing_fields_is_422(http_client):
    assert_error(
        http_client.post("/v1/matrix/playbooks", json={"query": "x", "answer": "t3"}),
        422,
        "invalid_request",
        match=r"missing corpus, score",
    )


@pytest.mark.parametrize(
    ("entry", "status", "kind", "match"),
    [
        ({"corpus": "nosuch"}, 404, "corpus_not_found", r"corpus 'nosuch'"),
        ({"answer": "t999"}, 400, "playbook_error", r"corpus .trades. has no id .t999."),
        ({"score": 2}, 400, "", r"score"),
    ],
)
def test_one_playbook_that_cannot_be_recorded_is_an_error_and_stores_nothing(
    corpora, http_client, http_api, entry, status, kind, match
):
    """A client that reads the status code must not believe a refused entry was stored (it was a 200
    with `failed: 1`); a batch still reports each entry (bulk, below)."""
    before = len(http_api.lakehouse.playbooks.entries())
    body = {"query": "reach truck driver", "answer": "t3", "corpus": "trades", "score": 1.0, **entry}
    response = http_client.post("/v1/matrix/playbooks", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (kind or error["type"]) == error["type"] and re.search(match, error["message"]), error
    assert len(http_api.lakehouse.playbooks.entries()) == before


def test_bulk_playbooks_report_each_entry(corpora, http_client):
    body = http_client.post(
        "/v1/matrix/playbooks/bulk",
        json={
            "entries": [
                {"query": "icu nurse", "answer": "c1", "corpus": "care", "score": 1.0},
                {"query": "icu nurse", "answer": "c1", "corpus": "care"},  # no score
                {"query": "welder", "answer": "t2", "corpus": "trades", "score": 0.8},
            ]
        },
    ).json()
    assert (body["recorded"], body["failed"]) == (2, 1)
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert body["results"][1]["error"] and "score" in body["results"][1]["error"]


def test_bulk_playbooks_need_a_non_empty_list(http_client):
    assert_error(
        http_client.post("/v1/matrix/playbooks/bulk", json={"entries": []}),
        422,
        "invalid_request",
        match=r"entries: List should have at least 1 item",
    )
    assert_error(
        http_client.post("/v1/matrix/playbooks/bulk", json={"entry": []}),
        422,
        "invalid_request",
        match=r"unknown field 'entry'; did you mean 'entries'\?",
    )
