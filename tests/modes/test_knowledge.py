"""The knowledge workflow's deterministic modes, called directly (each call is an ObservedOp): loading
documents, the hallucination check, consensus agreement, red-team verdicts with storage, rendering."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lakehouse.common.errors import PathNotAllowed
from lakehouse.data.errors import TableError
from lakehouse.learning.errors import KnowledgeError
from modes.context import ModeContext
from modes.invoke import invoke_mode

DOCS = Path(__file__).resolve().parents[2] / "examples" / "docs"
SOURCE = "In Illinois it employed 84,200 people, and the annual median wage was $60,320."


@pytest.fixture
def ctx(lakehouse):
    return ModeContext.standalone(lakehouse)


def _doc(text: str = SOURCE, doc_id: str = "d") -> dict:
    return {"id": doc_id, "title": doc_id, "source": f"{doc_id}.md", "text": text}


def _claim(quote: str, text: str = "Illinois employed 84,200 of them.", cid: str = "d:c1") -> dict:
    return {"id": cid, "document": "d", "text": text, "quote": quote, "question": "How many?"}


def test_a_folder_loads_its_documents_without_the_readme(ctx):
    out = invoke_mode("knowledge.load_docs", {"source": str(DOCS)}, ctx)
    assert [d["id"] for d in out["documents"]] == [
        "heavy-truck-drivers",
        "industrial-truck-operators",
        "light-truck-drivers",
    ]
    assert out["documents"][0]["title"] == "Heavy and Tractor-Trailer Truck Drivers (O*NET-SOC 53-3032.00)"
    assert out["listing"].startswith("[heavy-truck-drivers] Heavy and Tractor-Trailer Truck Drivers")


def test_an_untrusted_caller_cannot_load_a_folder_outside_the_roots(lakehouse):
    untrusted = ModeContext(lakehouse=lakehouse, source="http")
    with pytest.raises(PathNotAllowed, match="source"):
        invoke_mode("knowledge.load_docs", {"source": str(DOCS)}, untrusted)


def test_a_table_of_documents_loads_by_row(ctx):
    rows = [{"id": "a", "text": "# Alpha\nfirst"}, {"id": "b", "text": "second"}]
    ctx.lakehouse.tables.write_arrow("docs", pa.Table.from_pylist(rows))
    out = invoke_mode("knowledge.load_docs", {"source": "table:docs"}, ctx)
    assert [(d["id"], d["title"], d["source"]) for d in out["documents"]] == [
        ("a", "Alpha", "table:docs#a"),
        ("b", "b", "table:docs#b"),
    ]


def test_an_empty_folder_is_refused(ctx, tmp_path):
    with pytest.raises(KnowledgeError, match=r"no documents in .* \(suffixes \['.md', '.txt'\]\)"):
        invoke_mode("knowledge.load_docs", {"source": str(tmp_path)}, ctx)


def test_the_check_drops_invented_quotes_and_flags_loose_ones(ctx):
    claims = [
        _claim(SOURCE, cid="d:c1"),
        _claim("in illinois it  employed 84,200 people", cid="d:c2"),
        _claim("Illinois employed 90,000 people.", cid="d:c3"),
        _claim(SOURCE, text="Illinois employed 99,999 of them.", cid="d:c4"),
    ]
    out = invoke_mode("knowledge.hallucination_check", {"claims": claims, "documents": [_doc()]}, ctx)
    assert out["dropped"] == [
        {"id": "d:c3", "reason": "quote not found in its source: 'Illinois employed 90,000 people.'"}
    ]
    flags = {c["id"]: c["flags"] for c in out["kept_claims"]}
    assert flags == {
        "d:c1": ["the validate pass did not rate it"],
        "d:c2": [
            "the quote matches its source only after normalising case, spacing or punctuation",
            "the validate pass did not rate it",
        ],
        "d:c4": ["number(s) not in the quote: 99,999", "the validate pass did not rate it"],
    }
    assert out["counts"] == {"name": "hallucination_check", "kept": 3, "dropped": 1, "flagged": 3}


def test_the_first_consensus_pass_never_agrees_and_the_next_one_compares_sets(ctx):
    claims = [_claim(SOURCE, cid="d:c1"), _claim(SOURCE, cid="d:c2")]
    first = invoke_mode("knowledge.agree", {"claims": claims, "keep": ["d:c1", "x:c9"], "iteration": 1}, ctx)
    assert (first["agreed"], first["keep_ids"], first["unknown_ids"]) == (False, ["d:c1"], ["x:c9"])
    assert first["dropped"] == [{"id": "d:c2", "reason": "not kept by this consensus pass"}]
    second = invoke_mode(
        "knowledge.agree",
        {"claims": claims, "keep": ["d:c1", "d:c2"], "previous": ["d:c1"], "iteration": 2},
        ctx,
    )
    assert (second["agreed"], second["changed"]) == (False, ["d:c2"])
    assert second["kept_claims"][1]["flags"] == ["its verdict changed in this pass"]
    third = invoke_mode(
        "knowledge.agree", {"claims": claims, "keep": ["d:c2", "d:c1"], "previous": second["keep_ids"]}, ctx
    )
    assert (third["agreed"], third["changed"], third["counts"]["kept"]) == (True, [], 2)


def test_a_red_team_patch_must_still_quote_its_source_and_a_run_stores_once(ctx):
    claims = [_claim(SOURCE, cid="d:c1"), _claim(SOURCE, cid="d:c2"), _claim(SOURCE, cid="d:c3")]
    verdicts = [
        {"id": "d:c1", "action": "keep", "attack": "holds"},
        {"id": "d:c2", "action": "patch", "attack": "misquoted", "quote": "84,200 people were hired"},
    ]
    payload = {"claims": claims, "documents": [_doc()], "verdicts": verdicts, "table": "kb"}
    out = invoke_mode("knowledge.store", payload, ctx)
    assert out["dropped"] == [
        {"id": "d:c2", "reason": "red-team patch refused: quote not found in its source: '84,200 people were hired'"}
    ]
    assert [(c["id"], c["flags"]) for c in out["kept_claims"]] == [
        ("d:c1", []),
        ("d:c3", ["the red-team pass did not attack it"]),
    ]
    assert (out["rows"], out["traces_added"], isinstance(out["snapshot_id"], int)) == (2, 2, True)
    again = invoke_mode("knowledge.store", payload, ctx)  # a retry of the same direct call
    assert (again["snapshot_id"], again["traces_added"], again["traces_skipped"]) == (None, 0, 2)
    rows = invoke_mode("sql.query", {"sql": "SELECT claim_id FROM kb ORDER BY claim_id"}, ctx)["rows"]
    assert rows == [["d:c1"], ["d:c3"]]


@pytest.mark.parametrize("table", ["_lh_evidence", "lakehouse.corpus_occupations"])
def test_claims_are_never_stored_into_the_lakehouse_own_tables(ctx, table):
    payload = {"claims": [_claim(SOURCE)], "documents": [_doc()], "verdicts": [], "table": table}
    with pytest.raises(TableError, match=r"^table 'lakehouse\.(_lh_evidence|corpus_occupations)' belongs to "):
        invoke_mode("knowledge.store", payload, ctx)
    assert not ctx.lakehouse.tables.exists(table) and not ctx.lakehouse.pathway.traces()


def test_render_groups_claims_by_question_and_says_when_nothing_survived(ctx):
    claims = [_claim(SOURCE, cid="d:c1"), {**_claim(SOURCE, cid="d:c2"), "question": ""}]
    out = invoke_mode("knowledge.render", {"title": "T", "claims": claims, "documents": [_doc()]}, ctx)
    assert out["questions"] == ["How many?", "Other facts"]
    assert "## Sources\n\n- [d] d (d.md)\n" in out["markdown"]
    empty = invoke_mode("knowledge.render", {"title": "T", "claims": [], "documents": [_doc()]}, ctx)
    assert empty["markdown"].startswith("# T\n\nNo claim survived the checks.\n")


def test_render_to_a_folder_or_a_job_report_is_refused_by_name(lakehouse):
    """A folder was an IsADirectoryError (500); a drift report overwritten with Markdown broke the
    console's System page for everyone (a probe)."""
    http = ModeContext(lakehouse=lakehouse, source="http")
    (lakehouse.settings.home_dir / "inbox").mkdir(parents=True, exist_ok=True)
    body = {"title": "T", "claims": [], "documents": [_doc()]}
    with pytest.raises(KnowledgeError, match=r"path: 'inbox' is a folder; name the Markdown file to write"):
        invoke_mode("knowledge.render", {**body, "path": "inbox"}, http)
    with pytest.raises(PathNotAllowed, match=r"path: 'drift/nightly-zzz\.json' would write over the lakehouse's own"):
        invoke_mode("knowledge.render", {**body, "path": "drift/nightly-zzz.json"}, http)
    assert not (lakehouse.settings.home_dir / "drift").exists()
