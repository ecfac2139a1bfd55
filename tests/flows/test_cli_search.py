"""`lakehouse corpus|search|playbook`: happy paths, and every bad input answered with a clear
error and exit 1 (never a traceback, nothing stored)."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.cli import invoke_cli
from tests.fixtures.vectors import jobs_table, workers_table

BUILD_JOBS = [
    "corpus",
    "build",
    "jobs",
    "--table",
    "jobs",
    "--text",
    "title,description",
    "--id",
    "job_id",
    "--meta-cols",
    "city,state,shift",
]
BUILD_WORKERS = [
    "corpus",
    "build",
    "workers",
    "--table",
    "workers",
    "--text",
    "headline,profile",
    "--id",
    "worker_id",
    "--meta-cols",
    "state,shift",
]


@pytest.fixture
def cli(lakehouse, minilm, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    lakehouse.tables.write_arrow("jobs", jobs_table(), mode="overwrite")
    lakehouse.tables.write_arrow("workers", workers_table(), mode="overwrite")
    return invoke_cli


@pytest.fixture
def built(cli):
    cli(*BUILD_JOBS)
    cli(*BUILD_WORKERS)
    return cli


def test_corpus_build_list_show_drop(cli, lakehouse):
    out = json.loads(cli(*BUILD_JOBS, "--json").stdout)
    assert (out["status"], out["count"]) == ("created", 16)
    assert "corpus workers created: +12 rows" in cli(*BUILD_WORKERS).stdout
    listed = json.loads(cli("corpus", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["jobs", "workers"]
    shown = json.loads(cli("corpus", "show", "jobs", "--json").stdout)
    assert shown["model"] == "minilm" and shown["source"]["metadata_cols"] == ["city", "state", "shift"]
    assert "corpus jobs" in cli("corpus", "show", "jobs").stdout
    assert json.loads(cli("corpus", "add", "jobs", "--json").stdout)["status"] == "up_to_date"
    assert json.loads(cli("corpus", "delete", "jobs", "--ids", "J-113", "--json").stdout)["count"] == 15
    assert json.loads(cli("corpus", "rebuild", "jobs", "--json").stdout)["count"] == 15
    assert "dropped corpus workers" in cli("corpus", "drop", "workers").stdout
    assert [c["name"] for c in json.loads(cli("corpus", "list", "--json").stdout)] == ["jobs"]


def test_corpus_errors_exit_1_and_store_nothing(cli, lakehouse):
    assert (
        "has no column 'titel' (given as --text); did you mean 'title'"
        in cli("corpus", "build", "jobs", "--table", "jobs", "--text", "titel", "--id-column", "job_id", code=1).stderr
    )
    assert (
        "table 'jbos' not found"
        in cli("corpus", "build", "x", "--table", "jbos", "--text", "t", "--id-column", "i", code=1).stderr
    )
    assert lakehouse.store.list("_vectors/") == []
    assert "corpus 'nope' not found" in cli("corpus", "show", "nope", code=1).stderr
    assert "corpus 'nope' not found" in cli("corpus", "drop", "nope", code=1).stderr
    cli(*BUILD_JOBS)
    assert "already exists" in cli(*BUILD_JOBS, code=1).stderr
    assert "no live row with id(s) ['J-0']" in cli("corpus", "delete", "jobs", "--ids", "J-0", code=1).stderr


def test_corpus_build_title_option(cli, lakehouse):
    assert json.loads(cli(*BUILD_JOBS, "--json").stdout)["manifest"]["source"]["title_col"] == "title"
    plain = json.loads(cli(*BUILD_JOBS, "--replace", "--title", "none", "--json").stdout)
    assert plain["manifest"]["source"]["title_col"] is None
    bad = cli(*BUILD_JOBS, "--replace", "--title", "titel", code=1).stderr
    assert "has no column 'titel' (given as --title); did you mean 'title'" in bad
    assert lakehouse.corpora.show("jobs")["source"]["title_col"] is None  # the refused replace changed nothing
    assert "--title" in cli("corpus", "build", "--help").stdout


def test_search_json_shape_filters_and_attribution(built):
    out = json.loads(
        built(
            "search",
            "forklift operator for a night shift",
            "--corpus",
            "jobs,workers",
            "--top",
            "4",
            "--no-relevance",
            "--json",
        ).stdout
    )
    assert set(out) >= {"hits", "metadata_filter_dropped"} and len(out["hits"]) == 4
    assert set(out["hits"][0]) == {"corpus", "id", "text", "score", "distance", "metadata", "boosted_by"}
    assert {h["corpus"] for h in out["hits"]} == {"jobs", "workers"}
    il = json.loads(
        built(
            "search",
            "forklift operator",
            "--corpus",
            "jobs,workers",
            "--filter",
            "state=IL",
            "--no-relevance",
            "--top",
            "20",
            "--json",
        ).stdout
    )
    assert il["metadata_filter_dropped"] > 0 and all(h["metadata"]["state"] == "IL" for h in il["hits"])
    both = json.loads(
        built(
            "search",
            "forklift operator",
            "--corpus",
            "jobs,workers",
            "--filter",
            "state=IL",
            "--filter",
            "state=WI",
            "--no-relevance",
            "--top",
            "20",
            "--json",
        ).stdout
    )
    assert {h["metadata"]["state"] for h in both["hits"]} == {"IL", "WI"}
    where = json.loads(built("search", "welder", "--corpus", "jobs", "--where", "state = 'WI'", "--json").stdout)
    assert where["hits"] and all(h["metadata"]["state"] == "WI" for h in where["hits"])
    table = built("search", "welder", "--corpus", "jobs")
    assert "Structural Welder" in table.stdout or "Welder" in table.stdout


def test_search_errors(built):
    assert "corpus 'job' not found; did you mean 'jobs'" in built("search", "x", "--corpus", "job", code=1).stderr
    assert (
        "--filter 'state': expected KEY=VALUE"
        in built("search", "x", "--corpus", "jobs", "--filter", "state", code=1).stderr
    )
    assert "give either TEXT or --batch FILE" in built("search", "--corpus", "jobs", code=1).stderr
    assert "failed" in built("search", "x", "--corpus", "jobs", "--where", "nope = 1", code=1).stderr


def test_search_batch_prints_one_result_per_line(built, tmp_path):
    queries = ["forklift operator", "registered nurse in intensive care", "java developer"]
    path = tmp_path / "queries.jsonl"
    path.write_text("".join(json.dumps({"query": q}) + "\n" for q in queries) + "\n")
    lines = built("search", "--batch", str(path), "--corpus", "jobs,workers", "--top", "3").stdout.splitlines()
    results = [json.loads(line) for line in lines]
    assert [r["query"] for r in results] == queries
    top = [r["hits"][0]["id"] for r in results]
    assert top[0] == "J-101" and top[1] in {"J-107", "W-205"}  # the ICU nurse job or the ICU nurse
    assert top[2] in {"J-114", "W-209"}  # the Java job or the Java engineer


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "queries.jsonl: no such file"),
        (
            '{"query": "ok"}\n{"query": "broken"\n',
            "queries.jsonl line 2, column 19: not valid JSON (Expecting ',' delimiter)",
        ),
        (
            '{"query": "ok"}\n{"text": "no query"}\n',
            'queries.jsonl line 2: expected an object with a non-empty string "query"',
        ),
        ("\n\n", "queries.jsonl: no queries"),
        (b"\xff\xfe bad bytes", "queries.jsonl line 1: not valid UTF-8 (byte offset 0)"),
    ],
)
def test_bad_batch_files(built, tmp_path, content, message):
    path = tmp_path / "queries.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = built("search", "--batch", str(path), "--corpus", "jobs", code=1)
    assert message in result.stderr and result.stdout == ""


def test_playbook_record_import_and_boost(built, lakehouse, tmp_path):
    query = "forklift operator"
    cold = json.loads(built("search", query, "--corpus", "jobs", "--no-relevance", "--json").stdout)
    pick = cold["hits"][3]["id"]
    recorded = json.loads(
        built(
            "playbook", "record", "--query", query, "--answer", pick, "--corpus", "jobs", "--score", "1", "--json"
        ).stdout
    )
    assert recorded["recorded"] == 1
    warm = json.loads(built("search", query, "--corpus", "jobs", "--no-relevance", "--json").stdout)
    assert warm["hits"][0]["id"] == pick and warm["hits"][0]["boosted_by"] == [recorded["results"][0]["id"]]
    off = json.loads(built("search", query, "--corpus", "jobs", "--no-relevance", "--no-playbook", "--json").stdout)
    assert off["hits"] == cold["hits"]

    path = tmp_path / "pb.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(e)
            for e in [
                {"query": "ICU nurse", "answer": "J-107", "corpus": "jobs", "score": 1},
                {"query": "ICU nurse", "answer": "J-999", "corpus": "jobs", "score": 1},
                {"query": "line cook", "answer": "J-112", "corpus": "jobs", "score": -0.5},
            ]
        )
        + "\n"
    )
    result = built("playbook", "import", str(path), "--json", code=1)  # one entry failed
    report = json.loads(result.stdout)
    assert (report["recorded"], report["failed"]) == (2, 1)
    assert report["results"][1] == {"index": 1, "id": None, "error": "corpus 'jobs' has no id 'J-999'"}
    assert "1 of 3 entries failed" in result.stderr
    found = json.loads(built("playbook", "lookup", "ICU nurse", "--json").stdout)
    assert [m["answer"] for m in found["matches"]] == ["J-107"]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "pb.jsonl: no such file"),
        (
            '{"query": "a", "answer": "J-101", "corpus": "jobs", "score": 1}\nnot json\n',
            "pb.jsonl line 2, column 1: not valid JSON (Expecting value); nothing was recorded",
        ),
        ("", "pb.jsonl: no entries"),
    ],
)
def test_bad_playbook_files_record_nothing(built, lakehouse, tmp_path, content, message):
    path = tmp_path / "pb.jsonl"
    if content is not None:
        path.write_text(content)
    assert message in built("playbook", "import", str(path), code=1).stderr
    assert not lakehouse.settings.playbook_log.exists() or lakehouse.settings.playbook_log.read_text() == ""


def test_playbook_record_rejects_a_bad_score(built, lakehouse):
    result = built(
        "playbook", "record", "--query", "q", "--answer", "J-101", "--corpus", "jobs", "--score", "7", code=1
    )
    assert "Input should be less than or equal to 1" in result.stdout + result.stderr


def test_every_command_has_help(cli):
    for args in (
        ["corpus", "--help"],
        ["corpus", "build", "--help"],
        ["search", "--help"],
        ["playbook", "import", "--help"],
    ):
        assert "Usage" in cli(*args).stdout


def test_corpus_build_takes_text_columns_comma_separated_or_repeated(tmp_path, monkeypatch):
    """`--text Title --text Description` once kept only the last column (a silent, costly mistake)."""
    from lakehouse.core import Lakehouse

    monkeypatch.setenv("LH_HOME", str(tmp_path / "lh"))
    monkeypatch.setenv("LH_EMBED_MODEL", "wordllama")
    source = tmp_path / "jobs.csv"
    source.write_text("code,title,duty\nA1,Forklift Operator,moves pallets\nB2,Registered Nurse,cares for patients\n")
    invoke_cli("ingest", str(source), "--table", "jobs", "--format", "csv")
    invoke_cli("corpus", "build", "rep", "--table", "jobs", "--id-column", "code", "--text", "title", "--text", "duty")
    invoke_cli(
        "corpus",
        "build",
        "com",
        "--table",
        "jobs",
        "--id-column",
        "code",
        "--text",
        "title,duty",
        "--meta-cols",
        "title",
    )
    lh = Lakehouse()
    for name in ("rep", "com"):
        assert lh.corpora.manifest(name).source.text_cols == ["title", "duty"]
    assert lh.corpora.manifest("com").source.metadata_cols == ["title"]
    assert lh.corpora.manifest("rep").source.metadata_cols == []
