"""The playbook-lift harness on a real index (the O*NET slice of `vector_world`, real MiniLM,
real hnswlib): verbatim replay with the labels judge, out-of-domain counting, the paraphrase pass,
a model judge over real HTTP, bad query files, and the report writers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from lakehouse.common.recordfile import InputFileError
from lakehouse.config import ModelsSettings, ModelTier
from lakehouse.learning.lift.harness import LiftError, LiftRun, run_lift, verbatim_report
from lakehouse.learning.lift.judge import LabelsJudge, ModelJudge, parse_answer
from lakehouse.learning.lift.queries import LiftQuery, read_queries
from lakehouse.learning.lift.report import markdown, write_reports
from lakehouse.learning.lift.types import LiftResult
from lakehouse.llm.chat import ChatClient
from lakehouse.search.vectors import CorpusNotFound
from tests.fixtures.lift import write_queries

# cold ranks in `occupations` (top 5) noted beside each query
VERBATIM = [
    {"query": "staff nurse RN", "expected": ["29-1141.00"]},  # rank 2: a discovery
    {"query": "OTR semi truck driver", "expected": ["53-3032.00"]},  # rank 3
    {"query": "grill cook", "expected": ["35-2014.00"]},  # rank 5
    {"query": "CDL truck driver", "expected": ["53-3032.00"]},  # rank 4
    {"query": "barista", "expected": ["35-3023.01"]},  # rank 1: already right
    {"query": "dishwasher", "expected": ["35-9021.00"]},  # rank 1
    {"query": "forklift driver", "expected": ["53-7051.00"]},  # not in the top 5: the label is recorded anyway
    {"query": "best pizza near me"},  # no labels: nothing acceptable
]
TRAIN = [
    {"query": "registered nurse", "expected": ["29-1141.00"]},
    {"query": "tractor trailer driver", "expected": ["53-3032.00"]},
    {"query": "food prep worker", "expected": ["35-2021.00"]},
    {"query": "MIG welder", "expected": ["51-4121.00"]},
]
TEST = [
    {"query": "staff nurse RN", "expected": ["29-1141.00"]},  # cold rank 2
    {"query": "OTR semi truck driver", "expected": ["53-3032.00"]},  # cold rank 2
    {"query": "kitchen prep", "expected": ["35-2021.00"]},  # cold rank 5
    {"query": "TIG welder for a fabrication shop", "expected": ["51-4121.00"]},  # cold rank 2, 0.004 behind
    {"query": "barista", "expected": ["35-3023.01"]},  # nothing similar was recorded
]


@pytest.fixture(scope="module")
def verbatim(vector_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("lift-verbatim")
    run = LiftRun(vector_world, ["occupations"], LabelsJudge(), out / "playbooks.jsonl", top_k=5)
    result = run.verbatim(read_queries(write_queries(out / "q.jsonl", VERBATIM)))
    return result, run, out


def test_verbatim_replay_lifts_every_discovery(verbatim):
    result, _, _ = verbatim
    assert list(result.report) == [
        "queries",
        "discoveries",
        "lifts",
        "lift_rate",
        "boosts",
        "mean_delta_top1_distance",
        "out_of_domain",
        "recall_at_1_cold",
        "recall_at_1_warm",
    ]
    report = result.report
    assert report["queries"] == 8
    assert report["discoveries"] == 5  # the forklift driver's label, outside the cold top 5, is one too
    assert report["lifts"] == 5 and report["lift_rate"] == 1.0
    assert report["out_of_domain"] == 1  # only the query without labels
    assert report["recall_at_1_cold"] == round(2 / 7, 6)  # barista, dishwasher
    assert report["recall_at_1_warm"] == 1.0
    assert report["mean_delta_top1_distance"] < 0
    assert report["boosts"] >= 7  # every judged query's own playbook boosts it


def test_rows_say_why_each_query_counts(verbatim):
    rows = {r["query"]: r for r in verbatim[0].rows}
    nurse = rows["staff nurse RN"]
    assert nurse["pick"]["id"] == "29-1141.00" and nurse["pick"]["rank"] == 2
    assert nurse["discovery"] and nurse["pick_top1_warm"] and not nurse["hit_at_1_cold"] and nurse["hit_at_1_warm"]
    assert not rows["barista"]["discovery"] and rows["barista"]["pick_top1_cold"]
    forklift = rows["forklift driver"]
    assert forklift["pick"]["id"] == "53-7051.00" and forklift["pick"]["rank"] is None  # the label, taken as truth
    assert forklift["discovery"] and not forklift["pick_top1_cold"] and forklift["pick_top1_warm"]
    assert rows["best pizza near me"]["out_of_domain"] and rows["best pizza near me"]["hit_at_1_cold"] is None


def test_each_run_records_only_into_its_own_fresh_store(verbatim, vector_world):
    result, run, out = verbatim
    recorded = [json.loads(line) for line in (out / "playbooks.jsonl").read_text().splitlines()]
    assert len(recorded) == 7  # one per labelled query; the query without labels records nothing
    assert {r["answer"] for r in recorded} >= {"29-1141.00", "53-3032.00", "35-2014.00"}
    assert not vector_world.settings.playbook_log.exists()  # the lakehouse's own store is untouched
    with pytest.raises(LiftError, match="already holds playbooks; a lift run needs a fresh store"):
        LiftRun(vector_world, ["occupations"], LabelsJudge(), out / "playbooks.jsonl")


def test_paraphrase_pass_improves_recall_on_queries_never_recorded(vector_world, tmp_path):
    run = LiftRun(vector_world, ["occupations"], LabelsJudge(), tmp_path / "pb.jsonl", top_k=5)
    result = run.paraphrase(
        read_queries(write_queries(tmp_path / "train.jsonl", TRAIN)),
        read_queries(write_queries(tmp_path / "test.jsonl", TEST), require_expected=True),
    )
    report = result.report
    assert report["train_queries"] == 4 and report["recorded"] == 4 and report["test_queries"] == 5
    assert report["recall_at_1_cold"] == 0.2  # barista
    assert report["recall_at_1_warm"] > report["recall_at_1_cold"]
    assert report["improved"] >= 2 and report["worsened"] == 0
    assert report["recall_at_10_warm"] >= report["recall_at_10_cold"] == 1.0
    barista = next(r for r in result.rows if r["query"] == "barista")
    assert barista["cold_top1"]["id"] == "35-3023.01" and barista["cold_top1"]["title"] == "Baristas"
    assert barista["expected_titles"] == ["Baristas"]
    recorded = {json.loads(line)["query"] for line in (tmp_path / "pb.jsonl").read_text().splitlines()}
    assert recorded == {t["query"] for t in TRAIN}  # test queries are never recorded


def test_model_judge_over_real_http(vector_world, fake_llm, tmp_path):
    def reply(body):
        request = body["messages"][-1]["content"].splitlines()[0]
        if "pizza" in request:
            return '{"pick": 0, "score": 0, "reason": "not a job"}'
        if "dishwasher" in request:
            return "I think the second one"  # unreadable: a judge error, not out-of-domain
        return 'Sure. {"pick": 2, "score": 0.9, "reason": "closest duties"}'

    fake_llm.reply = reply
    chat = ChatClient(ModelsSettings(tiers={"judge": ModelTier(model="openai/fake-model", api_base=fake_llm.url)}))
    queries = [{"query": q} for q in ("barista", "dishwasher", "best pizza near me", "waitress")]
    run = LiftRun(vector_world, ["occupations"], ModelJudge(chat, "judge"), tmp_path / "pb.jsonl", top_k=5)
    result = run.verbatim(read_queries(write_queries(tmp_path / "q.jsonl", queries)))
    rows = {r["query"]: r for r in result.rows}
    assert rows["barista"]["pick"]["rank"] == 2 and rows["barista"]["pick"]["score"] == 0.9
    assert rows["dishwasher"]["judge_error"].startswith("judge judge: no JSON object with a 'pick'")
    assert not rows["dishwasher"]["out_of_domain"]
    assert result.report["out_of_domain"] == 1
    assert result.report["discoveries"] == 2 and result.report["lifts"] == 2
    assert result.report["recall_at_1_cold"] is None  # no labels at all
    prompt = fake_llm.requests[0]["body"]["messages"]
    assert prompt[0]["role"] == "system" and "pick 0" in prompt[0]["content"]
    assert "1. [occupations:35-3023.01]" in prompt[1]["content"]


def test_report_files(verbatim, tmp_path):
    result, _, _ = verbatim
    paths = write_reports(result, tmp_path / "out")
    assert json.loads(open(paths["json"]).read())["report"] == result.report
    assert open(paths["chart"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    markdown = open(paths["markdown"]).read()
    assert "| lift_rate | 1.000 |" in markdown and paths["chart"] in markdown
    assert len(open(paths["queries"]).read().splitlines()) == 8


def test_run_lift_writes_reports_under_a_new_run_directory(vector_world, tmp_path):
    queries = write_queries(tmp_path / "q.jsonl", VERBATIM[:2])
    first, paths = run_lift(vector_world, ["occupations"], queries=queries, top_k=5)
    second, _ = run_lift(vector_world, ["occupations"], queries=queries, top_k=5)
    assert first.meta["playbook_store"] != second.meta["playbook_store"]
    assert first.report == second.report  # the second run saw none of the first run's playbooks
    assert paths["markdown"].startswith(str(vector_world.settings.home_dir / "lift"))


# bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, message",
    [
        ('{"query": "welder"}\n{"query": "cook"\n', r"q\.jsonl line 2, column 17: not valid JSON \(Expecting ','"),
        ('{"query": "welder", "expectd": ["51-4121.00"]}\n', r"q\.jsonl line 1, field 'expectd': Extra inputs"),
        ('{"query": "   "}\n', r"q\.jsonl line 1, field 'query': must not be blank"),
        ('["welder"]\n', r"q\.jsonl line 1: expected a JSON object"),
        (
            '{"query": "welder", "expected": {"id": 1}}\n',
            r"q\.jsonl line 1, field 'expected': Input should be a valid list",
        ),
        ("\n\n", r"q\.jsonl: no queries \(the file is empty\)"),
    ],
)
def test_malformed_query_files_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "q.jsonl"
    path.write_text(content)
    with pytest.raises(InputFileError, match=message):
        read_queries(path)


def test_bad_files_stop_the_run_before_anything_is_stored(vector_world, tmp_path):
    out = tmp_path / "out"
    unknown = write_queries(
        tmp_path / "unknown.jsonl",
        [{"query": "welder", "expected": ["51-4121.00"]}, {"query": "nurse", "expected": ["99-9999.99"]}],
    )
    with pytest.raises(InputFileError, match=r"unknown\.jsonl line 2, field 'expected': id '99-9999\.99' is in none"):
        run_lift(vector_world, ["occupations"], queries=unknown, out_dir=out)
    train = write_queries(tmp_path / "train.jsonl", TRAIN)
    overlap = write_queries(
        tmp_path / "test.jsonl", [TEST[0], {"query": "Registered  NURSE", "expected": ["29-1141.00"]}]
    )
    with pytest.raises(
        InputFileError,
        match=r"test\.jsonl line 2, field 'query': 'Registered  NURSE' is also a train "
        r"query \(.*train\.jsonl line 1\)",
    ):
        run_lift(vector_world, ["occupations"], train=train, test=overlap, out_dir=out)
    punctuated = write_queries(tmp_path / "test3.jsonl", [{"query": " registered-nurse!", "expected": ["29-1141.00"]}])
    with pytest.raises(
        InputFileError, match=r"test3\.jsonl line 1, field 'query': 'registered-nurse!' is also a train"
    ):
        run_lift(vector_world, ["occupations"], train=train, test=punctuated, out_dir=out)  # memory would replay it
    unlabelled = write_queries(tmp_path / "test2.jsonl", [{"query": "kitchen prep"}])
    with pytest.raises(InputFileError, match=r"test2\.jsonl line 1, field 'expected': required here"):
        run_lift(vector_world, ["occupations"], train=train, test=unlabelled, out_dir=out)
    with pytest.raises(CorpusNotFound, match="corpus 'occupation' not found; did you mean 'occupations'"):
        run_lift(vector_world, ["occupation"], queries=train, out_dir=out)
    with pytest.raises(LiftError, match="give either a queries file"):
        run_lift(vector_world, ["occupations"], queries=train, train=train, test=train, out_dir=out)
    assert not out.exists()


# pure parts ----------------------------------------------------------------------------------
def _paraphrase_row(line: int, expected: str, top_id: str, stage: str = "adapted") -> dict:
    top = {"corpus": "occupations", "id": top_id, "title": f"{top_id} | All Other", "distance": 0.5}
    row = {"line": line, "query": f"q{line}", "expected": [expected], "warm_rank": 2}
    return row | {f"{stage}_rank": 1 if top_id == expected else 2, f"{stage}_top1": top}


def test_the_paraphrase_report_names_the_rows_that_take_queries_not_theirs():
    row = _paraphrase_row
    report = {f"recall_at_{k}_{stage}": 0.5 for k in (1, 10) for stage in ("cold", "warm", "adapted")}
    rows = [row(1, "51-9199.00", "51-9199.00")] + [row(n, f"other-{n}", "51-9199.00") for n in range(2, 6)]
    rows += [row(6, "35-2014.00", "35-2014.00"), row(7, "x", "35-2014.00"), row(8, "y", "35-2014.00")]
    rows += [dict(row(9, "z", "w"), query="welder | night\nshift")]
    text = markdown(LiftResult("paraphrase", report, rows))
    assert "Rows the adapted pass puts first for queries that are not theirs (3 or more" in text
    # first for 5 queries, 4 of them not its own; a '|' in the row's first line stays inside its cell
    assert "| occupations | 51-9199.00 | 51-9199.00 \\| All Other | 5 | 4 | 1 |" in text
    hubs, misses = text.split("Test queries not at top-1 adapted (7):")  # the last pass's misses
    assert "35-2014.00 |" not in hubs  # 2 wrong: under the bar
    assert "| line | query | expected | cold top-1 | warm top-1 | adapted top-1 |" in misses
    # a query's '|' and line break stay in its cell; each top hit shows its id and first line
    assert "| 9 | welder \\| night shift | z |  |  | w w \\| All Other |" in misses
    plain = [row(1, "a", "a"), row(2, "b", "b")]
    assert "Rows the" not in markdown(LiftResult("paraphrase", report, plain))


def test_without_an_adapted_pass_the_report_lists_the_warm_misses():
    report = {f"recall_at_{k}_{stage}": 0.5 for k in (1, 10) for stage in ("cold", "warm")}
    miss = _paraphrase_row(1, "a", "b", stage="warm") | {"expected_titles": ["Alpha | One"]}
    rows = [miss, _paraphrase_row(2, "c", "c", stage="warm")]
    text = markdown(LiftResult("paraphrase", report, rows))
    assert "Test queries not at top-1 warm (1):" in text and "adapted" not in text
    assert "| 1 | q1 | a Alpha \\| One |  | b b \\| All Other |" in text  # expected and top hit with first lines


def test_a_report_without_discoveries_has_no_lift_rate():
    row = {
        "discovery": False,
        "pick_top1_warm": True,
        "pick": {"id": "a"},
        "cold_top1": {"distance": 0.3},
        "warm_top1": {"distance": 0.1},
        "boosted": True,
        "out_of_domain": False,
        "hit_at_1_cold": True,
        "hit_at_1_warm": True,
    }
    report = verbatim_report([row])
    assert report["lift_rate"] is None and report["discoveries"] == 0
    assert report["mean_delta_top1_distance"] == -0.2


@given(pick=st.integers(0, 10), score=st.floats(0.01, 1.0), chatter=st.text(alphabet="abc .:\n", max_size=30))
def test_parse_answer_reads_the_json_inside_any_chatter(pick, score, chatter):
    text = f"{chatter}{json.dumps({'pick': pick, 'score': score, 'reason': 'r'})}{chatter}"
    assert parse_answer(text, 10) == (pick, min(1.0, score), "r")


def test_parse_answer_refuses_picks_outside_the_list():
    with pytest.raises(ValueError, match="'pick' 11 is outside 0..10"):
        parse_answer('{"pick": 11}', 10)


_ids = st.lists(st.from_regex(r"[0-9]{2}-[0-9]{4}\.[0-9]{2}", fullmatch=True), min_size=1, max_size=3)


@hsettings(max_examples=50)
@given(
    rows=st.lists(
        st.fixed_dictionaries({"query": st.text(min_size=1, max_size=40).filter(str.strip), "expected": _ids}),
        min_size=1,
        max_size=5,
    )
)
def test_query_files_round_trip(tmp_path_factory, rows):
    path = write_queries(tmp_path_factory.mktemp("rt") / "q.jsonl", rows)
    read = read_queries(path)
    assert [(line.item.query, line.item.expected) for line in read] == [
        (r["query"].strip(), r["expected"]) for r in rows
    ]
    assert [line.line for line in read] == list(range(1, len(rows) + 1))


def test_a_single_expected_id_may_be_given_as_text():
    assert LiftQuery.model_validate({"query": "welder", "expected": "51-4121.00"}).expected == ["51-4121.00"]
