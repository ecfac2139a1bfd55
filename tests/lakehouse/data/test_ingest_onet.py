"""Real data: the O*NET occupations (TSV) and the BLS state wages (CSV with suppressed values)."""

from __future__ import annotations

import csv

import pytest

from lakehouse.data.ingest import ingest_file
from tests.fixtures.tables import ONET_TSV, WAGES_CSV

CODE = "O*NET-SOC Code"


@pytest.fixture(scope="module")
def lh(module_lakehouse):
    return module_lakehouse


@pytest.fixture(scope="module")
def first(lh):
    return ingest_file(lh.tables, ONET_TSV, "onet")


def test_onet_ingest_gives_1016_rows(lh, first):
    assert (first.status, first.rows_in, first.rows_total) == ("created", 1016, 1016)
    assert (first.rows_inserted, first.rows_updated) == (1016, 0)  # every row of a create is new
    info = lh.tables.describe("onet")
    assert [f["name"] for f in info["schema"]] == [CODE, "Title", "Description"]
    assert info["rows"] == 1016 and info["current_snapshot_id"] == first.snapshot_id
    assert info["snapshots"][0]["summary"]["lakehouse.source-sha256"] == first.source_sha256


def test_same_content_again_is_already_ingested_without_new_snapshot(lh, first):
    again = ingest_file(lh.tables, ONET_TSV, "lakehouse.onet")
    assert again.status == "already_ingested"
    assert again.snapshot_id == first.snapshot_id == lh.tables.current_snapshot_id("onet")
    assert len(lh.tables.describe("onet")["snapshots"]) == 1


def _delta(tmp_path, rows):
    path = tmp_path / "onet_delta.tsv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow([CODE, "Title", "Description"])
        writer.writerows(rows)
    return path


def test_upsert_three_changed_two_new_gives_1018_rows(lh, first, tmp_path):
    changed = {
        "53-3032.00": "Heavy Truck Drivers (revised)",
        "11-1011.00": "Chief Executives (revised)",
        "15-1252.00": "Software Developers (revised)",
    }
    rows = [[code, title, "changed description"] for code, title in changed.items()]
    rows += [["99-9991.00", "Drone Fleet Dispatchers", "new"], ["99-9992.00", "Battery Swap Technicians", "new"]]
    result = ingest_file(lh.tables, _delta(tmp_path, rows), "onet", key=CODE)
    assert (result.status, result.rows_in, result.rows_total) == ("upserted", 5, 1018)
    assert (result.rows_updated, result.rows_inserted) == (3, 2)
    info = lh.tables.describe("onet")
    assert len(info["snapshots"]) == 2 and info["snapshots"][-1]["operation"] == "overwrite"
    got = lh.sql.query(
        f'SELECT "{CODE}", "Title" FROM onet WHERE "{CODE}" IN '
        "('53-3032.00', '11-1011.00', '15-1252.00', '99-9991.00', '99-9992.00') ORDER BY 1"
    ).rows
    assert dict(got) == {**changed, "99-9991.00": "Drone Fleet Dispatchers", "99-9992.00": "Battery Swap Technicians"}
    assert lh.sql.query(f'SELECT count(DISTINCT "{CODE}") FROM onet').rows == [[1018]]
    # time travel: the first snapshot still has the original title
    old = lh.tables.read_arrow("onet", snapshot_id=first.snapshot_id, row_filter=f"\"{CODE}\" == '53-3032.00'")
    assert old.column("Title").to_pylist() == ["Heavy and Tractor-Trailer Truck Drivers"]
    # the same delta again is a no-op
    again = ingest_file(lh.tables, _delta(tmp_path, rows), "onet", key=CODE)
    assert again.status == "already_ingested" and again.snapshot_id == result.snapshot_id


def test_bls_wages_suppressed_values_are_null_and_codes_keep_zeros(lh):
    result = ingest_file(lh.tables, WAGES_CSV, "wages")
    assert (result.status, result.rows_total) == ("created", 38512)
    types = {f["name"]: f["type"] for f in lh.tables.describe("wages")["schema"]}
    assert types["area_code"] == "string" and types["annual_median_wage"] == "long"
    assert types["hourly_median_wage"] == "double"
    nulls = lh.sql.query("SELECT count(*) FROM wages WHERE hourly_median_wage IS NULL").rows[0][0]
    assert nulls == 3224  # the '-' cells of the file
    assert lh.sql.query("SELECT DISTINCT area_code FROM wages WHERE area_name = 'National'").rows == [["0000000"]]


def test_truck_join_with_illinois_wage(lh):
    rows = lh.sql.query(
        f'SELECT o."{CODE}", w.annual_median_wage FROM onet o JOIN wages w '
        f'ON substr(o."{CODE}", 1, 7) = w.soc_code '
        "WHERE w.area_name = 'Illinois' AND o.Title ILIKE '%truck%' ORDER BY 1"
    ).rows
    assert ["53-7051.00", 47720] in rows and ["53-3033.00", 47380] in rows
