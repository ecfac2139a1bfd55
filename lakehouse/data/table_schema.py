"""Arrow data against Iceberg tables: which Arrow types Iceberg can store, and fitting incoming
data to an existing table's schema (safe widening, new columns, missing columns as nulls).

Kept apart from `tables.py` because ingest uses it before any table is touched: every check here
runs before a write, so a conflict never leaves a half-written table.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io.pyarrow import UnsupportedPyArrowTypeException, _pyarrow_to_schema_without_ids
from pyiceberg.schema import make_compatible_name

from lakehouse.data.errors import SchemaConflict

_DAY_MS = 86_400_000


def iceberg_storable_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type Iceberg can store for `t` (e.g. CSV's timestamp[s] -> timestamp[us])."""
    if pa.types.is_null(t):
        return pa.string()  # an all-empty column: text is the least surprising guess
    if pa.types.is_dictionary(t):
        return iceberg_storable_type(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        # Iceberg reads a list back as large_list<large_string>: both sides must meet on one type
        # or a second file with the same list column would not fit its own table.
        value = t.value_field
        return pa.list_(pa.field(value.name, iceberg_storable_type(value.type), nullable=value.nullable))
    if pa.types.is_struct(t):  # its fields by the same rules (an all-null field is text, as a column is)
        return pa.struct([pa.field(f.name, iceberg_storable_type(f.type), nullable=f.nullable) for f in t])
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC" if t.tz else None)
    if pa.types.is_time(t):
        return pa.time64("us")
    if pa.types.is_date64(t):
        return pa.date32()
    if t in (pa.int8(), pa.int16(), pa.uint8(), pa.uint16()):
        return pa.int32()
    if t in (pa.uint32(), pa.uint64()):
        return pa.int64()
    if t == pa.float16():
        return pa.float32()
    return t


def check_column_names(names: list[str], where: str, kind: str = "column") -> None:
    """Names must be non-empty and distinct ignoring case: SQL (DuckDB) cannot tell `A` from `a`,
    so a table holding both could never be queried. Nor may two names become one when Iceberg's
    file format rewrites the characters it cannot hold (`O*NET` is written as `O_x2ANET`)."""
    seen: dict[str, str] = {}
    for position, name in enumerate(names, start=1):
        if not name or not name.strip():
            raise SchemaConflict(where, f"{kind} {position} has an empty name")
        control = next((c for c in name if unicodedata.category(c) == "Cc"), None)
        if control is not None:  # NUL, ESC, ...: a terminal would act on them wherever the name is shown
            raise SchemaConflict(
                where, f"{kind} {position} name {name!r} holds a control character U+{ord(control):04X}"
            )
        if seen.get(name.casefold()) == name:
            raise SchemaConflict(where, f"{kind} name {name!r} appears more than once")
        if name.casefold() in seen:
            raise SchemaConflict(where, _case_twins(seen[name.casefold()], name))
        seen[name.casefold()] = name
    _check_stored_names(names, where, kind)


def _check_stored_names(names: list[str], where: str, kind: str = "column") -> None:
    stored: dict[str, str] = {}
    for name in names:
        as_stored = make_compatible_name(name)
        if as_stored in stored:
            raise SchemaConflict(
                where,
                f"{kind}s {stored[as_stored]!r} and {name!r} would both be stored as {as_stored!r} "
                "(Iceberg's file format rewrites characters it cannot hold in a name); rename one",
            )
        stored[as_stored] = name


def _case_twins(first: str, second: str) -> str:
    return f"columns {first!r} and {second!r} differ only in case, which SQL cannot tell apart; rename one"


def to_storable(data: pa.Table, where: str = "data") -> pa.Table:
    """`data` with every column cast to a type Iceberg stores; SchemaConflict naming the column
    whose names, type or values Iceberg cannot hold."""
    check_column_names(data.column_names, where)
    for f in data.schema:
        _check_field_names(f.type, where, f.name)
    target = pa.schema([pa.field(f.name, iceberg_storable_type(f.type)) for f in data.schema])
    _check_storable_types(target, where)
    if target == data.schema.remove_metadata():
        return data
    try:
        return data.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for f, want in zip(data.schema, target, strict=True):
        try:
            data.column(f.name).cast(want.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaConflict(where, _unstorable_values(data.column(f.name), want.type, exc), f.name) from None
    return data.cast(target)


def _check_field_names(kind: pa.DataType, where: str, column: str) -> None:
    """The names of struct fields, at any depth, follow the rules of column names."""
    if pa.types.is_struct(kind):
        try:
            check_column_names([kind.field(i).name for i in range(kind.num_fields)], where, "field")
        except SchemaConflict as exc:
            raise SchemaConflict(where, exc.detail, column) from None
    if pa.types.is_nested(kind):
        for i in range(kind.num_fields):
            _check_field_names(kind.field(i).type, where, column)


def _check_storable_types(schema: pa.Schema, where: str) -> None:
    """SchemaConflict naming the first column Iceberg has no type for (decimal256, duration, ...)."""
    try:
        _pyarrow_to_schema_without_ids(schema)
        return
    except (UnsupportedPyArrowTypeException, TypeError, ValueError):
        pass  # one column at a time, to say which
    for f in schema:
        try:
            _pyarrow_to_schema_without_ids(pa.schema([f]))
        except (UnsupportedPyArrowTypeException, TypeError, ValueError):
            raise SchemaConflict(where, f"its type {f.type} cannot be stored in an Iceberg table", f.name) from None


def _unstorable_values(column: pa.ChunkedArray, want: pa.DataType, exc: Exception) -> str:
    """Why a column's values do not fit the type Iceberg stores it as."""
    if pa.types.is_timestamp(want) or pa.types.is_time(want):
        what = "timestamps" if pa.types.is_timestamp(want) else "times"
        return f"a value has nanoseconds: {what} finer than microseconds cannot be stored; round them first"
    if pa.types.is_integer(want):
        return f"value {pc.max(column).as_py()} is larger than a long integer (the largest Iceberg stores) can hold"
    if pa.types.is_date64(column.type):
        # refused, not kept as a timestamp: the writer declared dates, and Arrow's date64 holds whole
        # days; the cast to Iceberg's date would have dropped the time without a word
        millis = column.cast(pa.int64())
        row = pc.index(pc.not_equal(pc.subtract(millis, pc.multiply(pc.divide(millis, _DAY_MS), _DAY_MS)), 0), True)
        moment = pa.scalar(millis[row.as_py()].as_py(), pa.timestamp("ms"))
        return (
            f"value {moment} in data row {row.as_py() + 1} has a time of day: a date holds whole days (so does "
            "Arrow's date64); store the column as a timestamp"
        )
    return f"its values cannot be stored as {want} ({exc})"


def plain_arrow_schema(iceberg_schema) -> pa.Schema:
    """The table's schema as Arrow, without field-id metadata and with small string types."""
    fields = []
    for f in iceberg_schema.as_arrow():
        fields.append(pa.field(f.name, iceberg_storable_type(f.type), nullable=f.nullable))
    return pa.schema(fields)


def _widens(have: pa.DataType, want: pa.DataType) -> bool:
    """Casts that keep every value (checked again by a safe cast)."""
    if pa.types.is_null(have):
        return True
    if pa.types.is_integer(have) and (pa.types.is_integer(want) or pa.types.is_floating(want)):
        return True
    if pa.types.is_floating(have) and pa.types.is_floating(want):
        return pa.types.is_float64(want) or have == want
    if pa.types.is_decimal(have) and pa.types.is_decimal(want):
        return want.scale == have.scale and want.precision >= have.precision
    if pa.types.is_date(have) and pa.types.is_date(want):
        return True
    if pa.types.is_timestamp(have) and pa.types.is_timestamp(want):
        return (have.tz is None) == (want.tz is None)
    return False


def _fields_added(have: pa.DataType, incoming: pa.DataType, within: str = "") -> list[str]:
    """The fields (dotted, at any depth) the incoming objects have and the table's column lacks."""
    if pa.types.is_struct(have) and pa.types.is_struct(incoming):
        known = {field.name: field.type for field in have}
        added = []
        for field in incoming:
            if field.name in known:
                added += _fields_added(known[field.name], field.type, f"{within}{field.name}.")
            else:
                added.append(within + field.name)
        return added
    if _is_list(have) and _is_list(incoming):
        return _fields_added(have.value_type, incoming.value_type, within)
    if pa.types.is_map(have) and pa.types.is_map(incoming):
        return _fields_added(have.item_type, incoming.item_type, within)
    return []


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _nested_fields_added(added: list[str], table_type) -> str:
    names = ", ".join(repr(name) for name in added)
    return (
        f"the objects have field(s) {names} that the table's {table_type} lacks, and fields cannot be added "
        "inside an existing column (only new columns can): leave them out, give them a column of their own, "
        "or ingest into a new table"
    )


@dataclass
class Fitted:
    data: pa.Table
    new_columns: list[str] = field(default_factory=list)


def fit_to_table(data: pa.Table, iceberg_schema, where: str) -> Fitted:
    """Cast `data` to the table's types; new columns are kept (schema evolution), missing ones
    become nulls. Raises SchemaConflict naming the column and both types."""
    table_fields = {f.name: f for f in iceberg_schema.fields}
    arrow_types = {f.name: f.type for f in plain_arrow_schema(iceberg_schema)}
    folded = {name.casefold(): name for name in table_fields}
    columns, fields, new_columns = [], [], []
    for f in data.schema:
        column = data.column(f.name)
        if f.name not in table_fields and f.name.casefold() in folded:
            raise SchemaConflict(where, f"{_case_twins(folded[f.name.casefold()], f.name)} (the first is the table's)")
        if f.name not in table_fields:
            new_columns.append(f.name)
        elif f.type != arrow_types[f.name]:
            want = arrow_types[f.name]
            conflict = f"the table has type {table_fields[f.name].field_type}, the incoming data has {f.type}"
            if not _widens(f.type, want):
                added = _fields_added(want, f.type)
                if added:
                    raise SchemaConflict(where, _nested_fields_added(added, table_fields[f.name].field_type), f.name)
                raise SchemaConflict(where, conflict, f.name)
            try:
                column = column.cast(want, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaConflict(where, f"{conflict} ({exc})", f.name) from None
            f = pa.field(f.name, want)
        required = f.name in table_fields and table_fields[f.name].required
        if required and column.null_count:
            raise SchemaConflict(
                where,
                f"required by the table, but {column.null_count} of the {len(column)} row(s) have no value",
                f.name,
            )
        columns.append(column)
        # a required column must arrive as a non-nullable field (pyiceberg refuses a nullable one)
        fields.append(pa.field(f.name, column.type, nullable=not required))
    for name, tf in table_fields.items():
        if name in data.column_names:
            continue
        if tf.required:
            raise SchemaConflict(where, "required by the table but missing", name)
        columns.append(pa.nulls(len(data), arrow_types[name]))
        fields.append(pa.field(name, arrow_types[name]))
    order = list(table_fields) + new_columns
    if new_columns:
        _check_stored_names(order, where)
    fitted = pa.Table.from_arrays(columns, schema=pa.schema(fields)).select(order)
    return Fitted(fitted, new_columns)
