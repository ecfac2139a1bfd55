"""Arrow date64 values that are not whole days (a time of day in a date) are refused naming the
value and its row, not cut to the day by the cast to Iceberg's date."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakehouse.data.errors import SchemaConflict


def test_a_date64_with_a_time_of_day_is_refused_naming_the_value_and_row(lakehouse):
    days = pa.array([0, 86_400_000, 86_400_005], pa.date64())
    with pytest.raises(
        SchemaConflict,
        match=r"column 'd': value 1970-01-02 00:00:00.005000 in data row 3 has a time of day: a date holds whole "
        r"days \(so does Arrow's date64\); store the column as a timestamp",
    ):
        lakehouse.tables.write_arrow("days", pa.table({"d": days}))
    assert not lakehouse.tables.exists("days")


def test_whole_days_of_date64_are_stored_as_dates(lakehouse):
    lakehouse.tables.write_arrow("whole_days", pa.table({"d": pa.array([0, 86_400_000], pa.date64())}))
    assert lakehouse.sql.query("SELECT CAST(d AS VARCHAR) FROM whole_days ORDER BY d").rows == [
        ["1970-01-01"],
        ["1970-01-02"],
    ]
