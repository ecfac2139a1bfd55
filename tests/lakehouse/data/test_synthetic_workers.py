"""The synthetic workers generator: deterministic, weighted by real BLS employment, pay near the BLS
wage, every row valid. Expectations are computed here from the raw source files, not from the
generator's own tables."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
from scipy import stats

from lakehouse.data import synthetic_workers as sw
from lakehouse.errors import UserError

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"
ROWS = 6000


@pytest.fixture(scope="module")
def workers(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("workers") / "workers.parquet"
    sw.write_workers(out, ROWS, seed=11)
    return pq.read_table(out).to_pylist()


@pytest.fixture(scope="module")
def cities() -> dict[str, tuple[str, set[str]]]:
    """area name -> (postal code, its cities)."""
    out: dict[str, tuple[str, set[str]]] = {}
    with (DATA / "us_state_cities.csv").open() as fh:
        for r in csv.DictReader(fh):
            out.setdefault(r["area_name"], (r["state"], set()))[1].add(r["city"])
    return out


@pytest.fixture(scope="module")
def oews(cities) -> list[dict]:
    """The state rows of the OEWS file for occupations O*NET lists, with the state's postal code."""
    with (DATA / "occupations.tsv").open(encoding="utf-8-sig") as fh:
        socs = {r["O*NET-SOC Code"][:7] for r in csv.DictReader(fh, delimiter="\t")}
    with (DATA / "oews_2025_state_occupation_wages.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["soc_code"] in socs and r["area_name"] in cities]
    for r in rows:
        r["state"] = cities[r["area_name"]][0]
    return rows


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path):
    a, b, c = (
        sw.write_workers(tmp_path / f"{name}.parquet", 1500, seed=seed) for name, seed in (("a", 1), ("b", 1), ("c", 2))
    )
    assert a.sha256 == b.sha256 and (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert c.sha256 != a.sha256
    j1, j2 = (sw.write_workers(tmp_path / f"{name}.jsonl", 1500, seed=1) for name in ("j1", "j2"))
    assert j1.sha256 == j2.sha256 and j1.format == "jsonl"
    # the JSON lines hold the same rows as the Parquet file
    assert pajson.read_json(tmp_path / "j1.jsonl").to_pylist() == pq.read_table(tmp_path / "a.parquet").to_pylist()


def test_a_smaller_table_is_a_prefix_of_a_larger_one(monkeypatch):
    monkeypatch.setattr(sw, "BATCH_ROWS", 500)  # cross batch boundaries without 50,000-row batches
    small = pa.Table.from_batches(list(sw.generate(700, seed=5)))
    large = pa.Table.from_batches(list(sw.generate(1210, seed=5)))
    assert [b.num_rows for b in sw.generate(1210, seed=5)] == [500, 500, 210]
    assert large.slice(0, 700).equals(small)
    assert large["worker_id"][-1].as_py() == "W0001210"


def test_every_row_is_valid(workers, cities):
    with (DATA / "occupations.tsv").open(encoding="utf-8-sig") as fh:
        titles = {r["O*NET-SOC Code"]: r["Title"] for r in csv.DictReader(fh, delimiter="\t")}
    city_sets = dict(cities.values())
    assert [w["worker_id"] for w in workers] == [f"W{i:07d}" for i in range(1, ROWS + 1)]
    for w in workers:
        assert None not in w.values(), w
        assert titles[w["occupation_code"]] == w["occupation_title"] and w["soc_code"] == w["occupation_code"][:7]
        assert w["city"] in city_sets[w["state"]], w
        assert set(w["certifications"]) <= set(sw.CERTS) and len(set(w["certifications"])) == len(w["certifications"])
        assert not {"CDL-A", "CDL-B"} <= set(w["certifications"])
        assert "HAZMAT" not in w["certifications"] or {"CDL-A", "CDL-B"} & set(w["certifications"])
        assert 0 <= w["years_experience"] <= 45 and w["availability"] in sw.AVAILABILITY
        assert w["pay_expectation"] > 0 and f"${w['pay_expectation']:.2f}" in w["profile"]
        assert f"{w['city']}, {w['state']}" in w["profile"] and w["job_title"].lower() in w["profile"].lower()
        assert all(cert in w["profile"] for cert in w["certifications"])
        assert not re.search(r"\b(Mr|Mrs|Ms)\.", w["profile"])  # name-free


def test_states_follow_bls_employment(workers, oews):
    employment: Counter[str] = Counter()
    for r in oews:
        if r["employment"].isdigit():
            employment[r["state"]] += int(r["employment"])
    seen = Counter(w["state"] for w in workers)
    total = sum(employment.values())
    expected = {s: ROWS * e / total for s, e in employment.items()}
    big = [s for s in expected if expected[s] >= 5]  # chi-square needs >= 5 expected per cell
    observed = [seen[s] for s in big] + [ROWS - sum(seen[s] for s in big)]
    wanted = [expected[s] for s in big] + [ROWS - sum(expected[s] for s in big)]
    assert stats.chisquare(observed, wanted).pvalue > 0.001
    # and not uniform: the big states are the big states
    assert seen.most_common(2)[0][0] == "CA" and seen["CA"] > 10 * seen["VT"]


def test_occupation_groups_follow_bls_employment(workers, oews):
    employment: Counter[str] = Counter()
    for r in oews:
        if r["employment"].isdigit():
            employment[r["soc_code"][:2]] += int(r["employment"])
    seen = Counter(w["soc_code"][:2] for w in workers)
    groups = sorted(employment)
    total = sum(employment.values())
    rho = stats.spearmanr([employment[g] for g in groups], [seen[g] for g in groups]).statistic
    assert rho > 0.9
    assert stats.chisquare([seen[g] for g in groups], [ROWS * employment[g] / total for g in groups]).pvalue > 0.001


def test_pay_is_near_the_bls_wage_of_the_occupation_in_the_state(workers, oews):
    hourly = {
        (r["state"], r["soc_code"]): float(r["hourly_median_wage"])
        for r in oews
        if r["hourly_median_wage"][:1].isdigit()
    }
    ratios = [
        w["pay_expectation"] / hourly[w["state"], w["soc_code"]]
        for w in workers
        if (w["state"], w["soc_code"]) in hourly
    ]
    assert len(ratios) > 0.8 * ROWS
    assert min(ratios) >= sw.PAY_LOW - 0.01 and max(ratios) <= sw.PAY_HIGH + 0.01
    assert 0.95 < float(np.median(ratios)) < 1.08
    assert float(np.std(ratios)) > 0.03  # noisy, not a copy of the wage


def test_certifications_follow_the_occupation_family(workers):
    def share(prefix: str, cert: str) -> float:
        group = [w for w in workers if w["occupation_code"].startswith(prefix)]
        assert len(group) >= 40, prefix
        return sum(cert in w["certifications"] for w in group) / len(group)

    assert share("47-", "OSHA-10") > 0.35 and share("43-", "OSHA-10") < 0.08
    assert share("35-", "ServSafe Food Handler") > 0.3 and share("41-", "ServSafe Food Handler") == 0
    assert share("53-", "Forklift") > 0.15 and share("29-", "BLS") > 0.5


@pytest.mark.parametrize(
    "name, rows, message",
    [
        ("w.csv", 10, r"unknown suffix '\.csv'.*CSV cannot hold the certifications list"),
        ("w", 10, r"unknown suffix '\(none\)'"),
        ("w.parquet", 0, "--rows must be between 1 and 20,000,000, not 0"),
        ("missing/w.parquet", 10, "directory .*missing does not exist"),
    ],
)
def test_bad_requests_write_nothing(tmp_path, name, rows, message):
    with pytest.raises(UserError, match=message):
        sw.write_workers(tmp_path / name, rows)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_path_is_a_user_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(UserError, match="cannot write .*a-file/w.parquet: .*a-file is not a directory"):
        sw.write_workers(blocker / "w.parquet", 10)
    (tmp_path / "dir.parquet").mkdir()
    with pytest.raises(UserError, match="dir.parquet: it is a directory"):
        sw.write_workers(tmp_path / "dir.parquet", 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "dir.parquet"]
