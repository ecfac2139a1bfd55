"""Parquet -> Arrow under a memory budget.

A Parquet file's compression and dictionaries can hide a ~10,000x expansion: a 130 KB upload
decoded to 1 GB (one 100-character value repeated 10 million times). The file is therefore read
one row group at a time, its text columns kept as dictionaries, and each row group is measured as
it will be once decoded before it is decoded; the footer's counts refuse a file whose values alone
are past the budget before anything is read. The budget is the setting
`ingest_parquet_max_decoded_bytes`. What the footer says is trusted: a row group whose footer
understates its values costs its own decoding before it is measured.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.data.ingest.errors import IngestError
from lakehouse.data.table_schema import SchemaConflict, check_column_names

_SETTING = "ingest_parquet_max_decoded_bytes"
# Decoded bytes per value of each physical type at least (text: its offset; its characters are
# counted from the dictionary or the page as read).
_VALUE_BYTES = {"BOOLEAN": 1 / 8, "INT32": 4, "INT64": 8, "INT96": 8, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 4}
_DICTIONARY_KINDS = {"STRING", "NONE", "ENUM"}  # text and plain bytes; a decimal in bytes is a number


def read_parquet(path: str, data: memoryview, max_decoded_bytes: int) -> pa.Table:
    try:
        footer = pq.ParquetFile(pa.BufferReader(data))
        text_leaves = [
            column.path
            for column in (footer.schema.column(i) for i in range(footer.metadata.num_columns))
            if column.physical_type == "BYTE_ARRAY" and column.logical_type.type in _DICTIONARY_KINDS
        ]
        _check_footer(path, footer, max_decoded_bytes)
        reader = pq.ParquetFile(pa.BufferReader(data), read_dictionary=text_leaves)
        table = _read_row_groups(path, reader, max_decoded_bytes)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        _check_parquet_names(path, data)
        raise IngestError(path, f"not a readable Parquet file: {exc}") from None
    try:  # Parquet does not promise UTF-8 text; Iceberg's statistics (and SQL) need it
        table.validate(full=True)
    except pa.ArrowInvalid:
        _refuse_invalid_text(path, table)
    return table


def _too_big(path: str, decoded: float, limit: int, when: str) -> IngestError:
    return IngestError(
        path,
        f"the file decodes to {_size(decoded)} in memory {when}, more than the {_size(limit)} an ingest may "
        f"decode (setting {_SETTING}, LH_{_SETTING.upper()}): split the file or raise the setting",
    )


def _size(count: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{int(count)} bytes"


def _check_footer(path: str, footer: pq.ParquetFile, limit: int) -> None:
    """Refuse, unread, a file whose values take more than `limit` bytes at least (counted from the
    footer: each column's values times their width, or its pages uncompressed if that is more)."""
    metadata = footer.metadata
    total = 0.0
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            width = _VALUE_BYTES.get(chunk.physical_type, footer.schema.column(index).length)
            total += max(chunk.num_values * width, chunk.total_uncompressed_size)
    if total > limit:
        raise _too_big(path, total, limit, "at least (by its footer)")


def _read_row_groups(path: str, reader: pq.ParquetFile, limit: int) -> pa.Table:
    """Every row group read as it is stored (text as dictionaries, bounded by the footer's check)
    and measured before any is decoded: a refused file costs its compact form, not the budget."""
    groups, decoded = [], 0
    for group in range(reader.num_row_groups):
        compact = reader.read_row_group(group)
        decoded += sum(_decoded_bytes(chunk) for column in compact.columns for chunk in column.chunks)
        if decoded > limit:
            read = f"its first {group + 1} of {reader.num_row_groups} row groups"
            raise _too_big(path, decoded, limit, f"at least ({read})")
        groups.append(compact)
    if not groups:
        return _decoded_schema(reader.schema_arrow).empty_table()
    for index, compact in enumerate(groups):  # one at a time: each compact group is let go as it is decoded
        groups[index] = compact.cast(_decoded_schema(compact.schema))
    del compact
    return pa.concat_tables(groups)


def _decoded_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(_undictionaried(f.type)) for f in schema], metadata=schema.metadata)


def _decoded_bytes(array: pa.Array) -> int:
    """What `array` takes once its dictionaries are decoded, without decoding them."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        values = array.dictionary
        offsets_and_validity = (4 if _variable_width(kind.value_type) else 0) * len(array) + len(array) // 8
        if _variable_width(kind.value_type):
            characters = pc.sum(pc.take(pc.binary_length(values), array.indices)).as_py() or 0
        else:
            characters = len(array) * max(kind.value_type.bit_width // 8, 1)
        return characters + offsets_and_validity
    if pa.types.is_struct(kind):
        return len(array) // 8 + sum(_decoded_bytes(array.field(i)) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        return 4 * (len(array) + 1) + len(array) // 8 + _decoded_bytes(array.values)
    if pa.types.is_fixed_size_list(kind):
        return len(array) // 8 + _decoded_bytes(array.values)
    return array.nbytes


def _variable_width(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or (pa.types.is_large_binary(kind))
    )


def _undictionaried(kind: pa.DataType) -> pa.DataType:
    """`kind` with each dictionary (at any depth) replaced by its values' type."""
    if pa.types.is_dictionary(kind):
        return kind.value_type
    if pa.types.is_map(kind):
        key, item = kind.key_field, kind.item_field
        return pa.map_(key.with_type(_undictionaried(key.type)), item.with_type(_undictionaried(item.type)))
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_undictionaried(field.type)) for field in kind])
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(_undictionaried(kind.value_type)))
    if pa.types.is_large_list(kind):
        return pa.large_list(kind.value_field.with_type(_undictionaried(kind.value_type)))
    if pa.types.is_fixed_size_list(kind):
        return pa.list_(kind.value_field.with_type(_undictionaried(kind.value_type)), kind.list_size)
    return kind


def _check_parquet_names(path: str, data: memoryview) -> None:
    """Two columns of one name make the reader fail obscurely: say that instead."""
    try:
        names = pq.ParquetFile(pa.BufferReader(data)).schema_arrow.names
    except (pa.ArrowInvalid, OSError):
        return  # not readable at all: the caller says so
    try:
        check_column_names(names, "file")
    except SchemaConflict as exc:
        raise IngestError(path, exc.detail) from None


def _refuse_invalid_text(path: str, table: pa.Table) -> None:
    for name in table.column_names:
        row = 0
        for chunk in table.column(name).chunks:
            try:
                chunk.validate(full=True)
            except pa.ArrowInvalid as exc:
                values = chunk.cast(pa.binary()).to_pylist() if pa.types.is_string(chunk.type) else []
                bad = next((i for i, v in enumerate(values) if not _utf8(v)), None)
                if bad is not None:
                    message = f"the value in data row {row + bad + 1} is not valid UTF-8 text"
                    raise IngestError(path, message, column=name) from None
                raise IngestError(path, f"its values are not valid: {exc}", column=name) from None
            row += len(chunk)
    raise IngestError(path, "the file's data is not valid (Arrow's checks fail)")


def _utf8(value: bytes | None) -> bool:
    try:
        (value or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
