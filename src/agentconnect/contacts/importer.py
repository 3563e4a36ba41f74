"""Streaming CSV import: parse and validate rows in Python, merge them in SQL a batch at a time.

Rows are validated one by one (a bad row is reported and skipped), then each batch is copied
into a temporary table and merged into `contacts` with a handful of set-based statements:
match by e-mail, then by phone; update the matches, insert the rest.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from agentconnect.contacts.fields import (
    CSV_CONVERTERS,
    CUSTOM_PREFIX,
    IDENTITY_FIELDS,
    check_custom_fields,
)
from agentconnect.contacts.import_repository import STAGED_COLUMNS, ImportStaging
from agentconnect.errors import InvalidInput

BATCH_SIZE = 5_000
MAX_ERRORS_REPORTED = 1_000
# Undecodable bytes survive decoding as lone surrogates (errors="surrogateescape"), so a bad
# row can be told apart from the good ones instead of failing the whole file.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    def error(self, row: int, msg: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_REPORTED:
            self.errors.append({"row": row, "msg": msg})


def _text_stream(binary: IO[bytes]) -> io.TextIOWrapper:
    head = binary.read(4)
    binary.seek(0)
    encoding = "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # spreadsheet programs' "Unicode text" export
    return io.TextIOWrapper(binary, encoding=encoding, errors="surrogateescape", newline="")


@dataclass(frozen=True)
class _Header:
    positions: list[tuple[int, str]]  # (cell index, staged column) for contact fields
    custom: list[tuple[int, str]]  # (cell index, custom field key)
    width: int


def _read_header(cells: list[str], report: ImportReport) -> _Header:
    names = [cell.strip().lower() for cell in cells]
    if _UNDECODABLE.search("".join(names)):
        raise InvalidInput("the header row is not valid UTF-8; save the file as UTF-8 CSV")
    if "\x00" in "".join(names):
        raise InvalidInput("the header row contains a NUL character")
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        raise InvalidInput(f"the header names these columns twice: {', '.join(duplicated)}")
    positions, custom = [], []
    for index, name in enumerate(names):
        if name in CSV_CONVERTERS:
            positions.append((index, name))
        elif name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
            custom.append((index, cells[index].strip()[len(CUSTOM_PREFIX) :]))
        elif name:
            report.ignored_columns.append(cells[index].strip())
    if not positions and not custom:
        raise InvalidInput(
            "no contact columns in the header; expected some of: "
            + ", ".join(sorted(CSV_CONVERTERS))
            + " (or custom.KEY)"
        )
    return _Header(positions=positions, custom=custom, width=len(cells))


def _convert(
    cells: list[str], header: _Header, row_no: int
) -> tuple[dict[str, Any] | None, str | None]:
    """The staged values of one row, or the reason it is refused."""
    if len(cells) > header.width:
        return None, f"has {len(cells)} cells but the header has {header.width}"
    joined = "".join(cells)
    if _UNDECODABLE.search(joined):
        return None, "is not valid UTF-8 text; save the file as UTF-8 CSV"
    if "\x00" in joined:
        return None, "contains a NUL character"
    values: dict[str, Any] = {"row_no": row_no}
    for index, name in header.positions:
        raw = cells[index] if index < len(cells) else ""
        if raw == "" or raw.isspace():
            continue
        try:
            values[name] = CSV_CONVERTERS[name](raw)
        except ValueError as error:
            return None, f"{name}: {error}"
    if not any(values.get(k) for k in IDENTITY_FIELDS):
        return None, "needs at least one of: " + ", ".join(IDENTITY_FIELDS)
    if header.custom:
        extra = {
            key: cells[i].strip() for i, key in header.custom if i < len(cells) and cells[i].strip()
        }
        if extra:
            merged = {**values.get("custom_fields", {}), **extra}
            try:
                values["custom_fields"] = check_custom_fields(merged)
            except ValueError as error:
                return None, str(error)
    return values, None


def _records(reader: Any, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells) for every record; unreadable records are reported.

    A quoted cell may span lines, so the number is the record's first line in the file, as a
    spreadsheet or text editor shows it (the header is line 1).
    """
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            report.error(start, f"cannot be read as CSV: {error}")
            continue
        if cells and any(c.strip() for c in cells):
            yield start, cells


def _staged_tuple(values: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        json.dumps(values[c]) if c in ("tags", "custom_fields") and c in values else values.get(c)
        for c in STAGED_COLUMNS
    )


async def import_contacts(staging: ImportStaging, binary: IO[bytes]) -> ImportReport:
    report = ImportReport()
    reader = csv.reader(_text_stream(binary))
    try:
        first = next(reader, None)
    except csv.Error as error:
        raise InvalidInput(f"the header row cannot be read as CSV: {error}") from None
    except UnicodeError:
        raise InvalidInput("the file is not text; upload a UTF-8 CSV file") from None
    if first is None or not any(cell.strip() for cell in first):
        raise InvalidInput("the file is empty: it needs a header row naming the columns")
    header = _read_header(first, report)
    await staging.prepare()

    batch: list[tuple[Any, ...]] = []
    # E-mails and phones in the current batch: a repeat within one batch would make the
    # merge ambiguous, so the batch is merged first and the repeat lands in the next one.
    keys: set[str] = set()
    try:
        for row_no, cells in _records(reader, report):
            values, problem = _convert(cells, header, row_no)
            if values is None:
                report.error(row_no, problem or "is invalid")
                continue
            row_keys = {k for k in (values.get("email"), values.get("phone")) if k}
            if keys & row_keys or len(batch) >= BATCH_SIZE:
                await _merge(staging, batch, report)
                batch, keys = [], set()
                await asyncio.sleep(0)  # let other requests run between batches
            batch.append(_staged_tuple(values))
            keys |= row_keys
    except UnicodeError:
        report.error(0, "the rest of the file could not be decoded; save it as UTF-8 CSV")
    await _merge(staging, batch, report)
    report.errors.sort(key=lambda e: e["row"])
    return report


async def _merge(
    staging: ImportStaging, batch: list[tuple[Any, ...]], report: ImportReport
) -> None:
    if not batch:
        return
    result = await staging.merge(batch)
    report.created += result.created
    report.updated += result.updated
    for row_no, msg in result.refused:
        report.error(row_no, msg)
