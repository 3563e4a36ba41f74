"""SQL of the CSV import: a temporary staging table, COPY into it, and a set-based merge."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.webhooks import events

# Order of the staged values; also the COPY column list.
STAGED_COLUMNS = (
    "row_no",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "job_title",
    "industry",
    "company_size",
    "timezone",
    "lifecycle_stage",
    "lead_source",
    "opt_in_status",
    "do_not_contact",
    "tags",
    "custom_fields",
    "last_contacted_at",
    "notes",
)
# Plain columns that an import overwrites when the cell is not empty.
_OVERWRITTEN = [c for c in STAGED_COLUMNS if c not in ("row_no", "custom_fields")]
_DEFAULTS = {
    "lifecycle_stage": "'lead'",
    "opt_in_status": "'unknown'",
    "do_not_contact": "false",
    "tags": "'[]'::jsonb",
    "custom_fields": "'{}'::jsonb",
}

_CREATE = """
CREATE TEMP TABLE IF NOT EXISTS contact_import_rows (
    row_no integer PRIMARY KEY,
    first_name text, last_name text, email text, phone text, company_name text,
    job_title text, industry text, company_size text, timezone text,
    lifecycle_stage text, lead_source text, opt_in_status text, do_not_contact boolean,
    tags jsonb, custom_fields jsonb, last_contacted_at timestamptz, notes text,
    match_id uuid
) ON COMMIT DROP
"""

_MATCH_BY_EMAIL = """
UPDATE contact_import_rows s SET match_id = c.id
FROM contacts c
WHERE c.company_id = :company_id AND s.email IS NOT NULL AND c.email = s.email
"""

# A phone identifies the contact only when the e-mails do not contradict each other.
_MATCH_BY_PHONE = """
UPDATE contact_import_rows s SET match_id = c.id
FROM contacts c
WHERE s.match_id IS NULL AND s.phone IS NOT NULL
  AND c.company_id = :company_id AND c.phone = s.phone
  AND (s.email IS NULL OR c.email IS NULL)
"""

_REFUSE_PHONE_TAKEN = """
DELETE FROM contact_import_rows s
USING contacts c
WHERE c.company_id = :company_id AND c.phone = s.phone AND c.id IS DISTINCT FROM s.match_id
RETURNING s.row_no, s.phone
"""

# Two rows of one batch that reach the same contact (one by e-mail, one by phone): the first
# wins, the other is reported rather than merged in an arbitrary order.
_REFUSE_SAME_MATCH = """
DELETE FROM contact_import_rows s
USING contact_import_rows first
WHERE s.match_id = first.match_id AND s.row_no > first.row_no
RETURNING s.row_no, first.row_no
"""

# Built from the fixed column list above, never from input.
_UPDATE = (
    "UPDATE contacts c SET "
    + ", ".join(f"{col} = COALESCE(s.{col}, c.{col})" for col in _OVERWRITTEN)
    + ", custom_fields = c.custom_fields || COALESCE(s.custom_fields, '{}'::jsonb)"
    + ", updated_at = now() "
    + "FROM contact_import_rows s WHERE c.company_id = :company_id AND c.id = s.match_id"
)

_INSERTED = [c for c in STAGED_COLUMNS if c != "row_no"]
_INSERT = (
    "INSERT INTO contacts (id, company_id, lead_score, "
    + ", ".join(_INSERTED)
    + ") SELECT gen_random_uuid(), :company_id, 0, "
    + ", ".join(
        f"COALESCE(s.{c}, {_DEFAULTS[c]})" if c in _DEFAULTS else f"s.{c}" for c in _INSERTED
    )
    + " FROM contact_import_rows s WHERE s.match_id IS NULL ORDER BY s.row_no"
)


CREATED = "contact.created"
_CREATED_WANTED = f"SELECT event_wanted(:company_id, '{CREATED}')"


@dataclass(frozen=True)
class MergeResult:
    created: int
    updated: int
    refused: list[tuple[int, str]]


class ImportStaging:
    """One import's staging table, living as long as the transaction."""

    def __init__(self, session: AsyncSession, company_id: uuid.UUID) -> None:
        self.session = session
        self.company_id = company_id
        self.params = {"company_id": company_id}
        self.announce_created = False

    async def prepare(self) -> None:
        await self.session.execute(text(_CREATE))
        await self.session.execute(text("TRUNCATE contact_import_rows"))
        # Asked once per import: without a listener the new ids are never brought back.
        self.announce_created = bool(await self.session.scalar(text(_CREATED_WANTED), self.params))

    async def merge(self, rows: list[tuple[Any, ...]]) -> MergeResult:
        await self._copy(rows)
        run = self.session.execute
        # Autovacuum never analyzes temporary tables: without fresh statistics the planner
        # takes the batch for a handful of rows and matches phones with a nested loop over
        # every contact imported so far (quadratic; 42 s of a 54 s import of 100k rows).
        await run(text("ANALYZE contact_import_rows"))
        await run(text(_MATCH_BY_EMAIL), self.params)
        await run(text(_MATCH_BY_PHONE), self.params)
        refused = [
            (r.row_no, f"phone {r.phone} already belongs to another contact")
            for r in (await run(text(_REFUSE_PHONE_TAKEN), self.params)).all()
        ]
        refused += [
            (r[0], f"matches the same contact as row {r[1]}")
            for r in (await run(text(_REFUSE_SAME_MATCH))).all()
        ]
        updated = (await run(text(_UPDATE), self.params)).rowcount  # type: ignore[attr-defined]
        if self.announce_created:
            ids = list((await run(text(_INSERT + " RETURNING id"), self.params)).scalars())
            await events.emit_contact_events(self.session, self.company_id, CREATED, ids)
            created = len(ids)
        else:
            created = (await run(text(_INSERT), self.params)).rowcount  # type: ignore[attr-defined]
        await run(text("TRUNCATE contact_import_rows"))
        return MergeResult(created=created, updated=updated, refused=refused)

    async def _copy(self, rows: list[tuple[Any, ...]]) -> None:
        # COPY is the fastest way into PostgreSQL; it runs on the session's own connection so
        # it shares the request's transaction.
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        columns = ", ".join(STAGED_COLUMNS)
        statement = f"COPY contact_import_rows ({columns}) FROM STDIN"
        async with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                await copy.write_row(row)
