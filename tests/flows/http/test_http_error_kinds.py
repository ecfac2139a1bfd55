"""HTTP answers come from the error's kind, in one place (flows/http/errors.py): a conflict is 409, an
unavailable dependency 503, a provider failure 502; an internal error is a 500 naming only an id."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from lakehouse.data.errors import StorageError, TableConflict
from lakehouse.search.errors import CorpusExists
from modes.context import ModeContext
from modes.errors import FixtureFailure
from modes.registry import mode
from tests.fixtures.http import assert_error

ERRORS = {
    "table_conflict": lambda: TableConflict("jobs", 3),
    "corpus_exists": lambda: CorpusExists("corpus 'jobs' already exists; use --replace"),
    "storage": lambda: StorageError("cannot reach S3 endpoint 127.0.0.1:9: [Errno 111] refused"),
    "internal": lambda: FixtureFailure("our own bug, key=sk-live-secret"),
}


class KindIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: str


class KindOut(BaseModel):
    pass


@mode("testkinds.raise")
def raise_kind(inp: KindIn, ctx: ModeContext) -> KindOut:
    """Raise one of ERRORS."""
    raise ERRORS[inp.error]()


@pytest.mark.parametrize(
    "error, status, type_, match",
    [
        ("table_conflict", 409, "table_conflict", r"table 'jobs' was changed by another writer during each of 3"),
        ("corpus_exists", 409, "corpus_exists", r"corpus 'jobs' already exists"),
        ("storage", 503, "storage_error", r"cannot reach S3 endpoint 127\.0\.0\.1:9: \[Errno 111\] refused"),
    ],
)
def test_the_status_comes_from_the_kind(http_client, error, status, type_, match):
    # before: a conflict was a 400 (a ValueError) and an unreachable store a 500 with no message
    response = http_client.post("/v1/modes/testkinds.raise", json={"error": error})
    assert_error(response, status, type_, match=match)


def test_an_internal_error_is_a_500_that_names_only_an_error_id(http_client):
    response = http_client.post("/v1/modes/testkinds.raise", json={"error": "internal"})
    error = assert_error(response, 500, "internal_error", match=r"^internal error [0-9a-f]{12} \(FixtureFailure\)")
    assert "sk-live" not in response.text and "bug" not in response.text
    assert set(error["details"]) == {"error_id"}


def test_mode_routes_declare_the_statuses_the_kinds_give(http_client):
    responses = http_client.get("/openapi.json").json()["paths"]["/v1/modes/{name}"]["post"]["responses"]
    assert {"400", "403", "404", "409", "500", "502", "503"} <= set(responses)
