"""Benchmark: the CSV contact import against a bare COPY of the same contacts.

    python -m bench.import_contacts --rows 100000

In a scratch database on the given server it generates N contacts, then times
1. import: the real path, `import_contacts(ImportStaging(...))` in one unit of work, commit
   included, into an empty `contacts` table;
2. re-import: the same file again, so every row updates an existing contact;
3. COPY: `TRUNCATE contacts CASCADE`, then a plain `COPY contacts FROM STDIN` of the same contacts,
   commit included.
It checks that the import and the COPY stored the same rows, prints the times and ratios, and
exits non-zero when anything is off. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from agentconnect.contacts.import_repository import ImportStaging
from agentconnect.contacts.importer import ImportReport, import_contacts
from agentconnect.db import Database
from bench.common import (
    BenchmarkFailed,
    main_with,
    say,
    scratch_database,
    server_version,
)
from bench.fake_contacts import COPY_COLUMNS, generate, write_copy_csv, write_import_csv

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRATCH_DATABASE = "agentconnect_bench"
TARGET_RATIO = 5.0  # DESIGN goal: the import stays within 5x of a bare COPY
COPY_BLOCK_BYTES = 1 << 20

# What a contact holds once stored, in a fixed order: equal fingerprints mean the import and
# the COPY did the same work.
_FINGERPRINT = """
SELECT count(*), md5(coalesce(string_agg(
    (first_name, last_name, email, phone, company_name, job_title, industry, company_size,
     timezone, lifecycle_stage, lead_source, opt_in_status, do_not_contact, tags,
     custom_fields, lead_score, last_contacted_at, notes, company_id)::text,
    E'\\n' ORDER BY email), ''))
FROM contacts
"""


@dataclass(frozen=True)
class Files:
    import_csv: Path
    copy_csv: Path


@dataclass(frozen=True)
class Figures:
    rows: int
    copy_s: float
    import_s: float
    reimport_s: float


# --- the scratch database -------------------------------------------------------------------


def create_company(url: str) -> uuid.UUID:
    company_id = uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO companies (id, name, default_timezone, settings)"
            " VALUES (%s, 'Benchmark Corp', 'UTC', '{}')",
            (company_id,),
        )
    return company_id


def settle(url: str) -> None:
    """Flush dirty buffers before a timed phase, so a checkpoint started by the previous phase's
    writes does not land in the next phase's time."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            say("  (no privilege to CHECKPOINT; timings may be noisier)")


def fingerprint(url: str) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute(_FINGERPRINT).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


# --- the timed phases -----------------------------------------------------------------------


async def _import_in_unit_of_work(
    url: str, company_id: uuid.UUID, binary: IO[bytes]
) -> tuple[float, ImportReport]:
    database = Database.from_url(url, pool_size=1)
    try:
        # Open the pooled connection first: an upload request finds one ready, so connecting
        # is not part of what is measured.
        async with database.engine.connect():
            pass
        started = time.perf_counter()
        async with database.unit_of_work() as session:
            report = await import_contacts(ImportStaging(session, company_id), binary)
        return time.perf_counter() - started, report
    finally:
        await database.dispose()


def time_import(url: str, company_id: uuid.UUID, csv_path: Path) -> tuple[float, ImportReport]:
    with csv_path.open("rb") as binary:
        return asyncio.run(_import_in_unit_of_work(url, company_id, binary))


def time_copy(url: str, copy_csv: Path) -> float:
    """TRUNCATE (untimed), then COPY the file and commit (timed)."""
    statement = sql.SQL("COPY contacts ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in COPY_COLUMNS)
    )
    with psycopg.connect(url) as conn:
        # CASCADE: other tables (leads ...) reference contacts; in the scratch database they
        # are empty, so this empties contacts only.
        conn.execute("TRUNCATE contacts CASCADE")
        conn.commit()
        settle(url)
        started = time.perf_counter()
        with copy_csv.open("rb") as file, conn.cursor() as cursor, cursor.copy(statement) as copy:
            while block := file.read(COPY_BLOCK_BYTES):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - started


def check_report(report: ImportReport, *, created: int, updated: int) -> None:
    if report.error_count or report.created != created or report.updated != updated:
        raise BenchmarkFailed(
            f"expected created={created} updated={updated} and no errors, got "
            f"created={report.created} updated={report.updated} "
            f"errors={report.error_count} (first: {report.errors[:3]})"
        )


# --- the run ----------------------------------------------------------------------------------


def prepare_files(rows: int, seed: int, company_id: uuid.UUID, folder: Path) -> Files:
    contacts = generate(rows, seed)
    files = Files(import_csv=folder / "contacts.csv", copy_csv=folder / "contacts-copy.csv")
    write_import_csv(contacts, files.import_csv)
    write_copy_csv(contacts, company_id, seed, files.copy_csv)
    return files


def measure(url: str, company_id: uuid.UUID, files: Files, rows: int) -> Figures:
    settle(url)
    say("import ...")
    import_s, report = time_import(url, company_id, files.import_csv)
    check_report(report, created=rows, updated=0)
    imported = fingerprint(url)

    settle(url)
    say("re-import ...")
    reimport_s, report = time_import(url, company_id, files.import_csv)
    check_report(report, created=0, updated=rows)

    say("COPY ...")
    copy_s = time_copy(url, files.copy_csv)
    if fingerprint(url) != imported:
        raise BenchmarkFailed("the COPY stored different contacts than the import")
    return Figures(rows=rows, copy_s=copy_s, import_s=import_s, reimport_s=reimport_s)


def render(figures: Figures, postgres: str) -> str:
    def line(name: str, seconds: float) -> str:
        return (
            f"{name:<12}{seconds:>10.2f}{figures.rows / seconds:>12,.0f}"
            f"{seconds / figures.copy_s:>10.1f}x"
        )

    ratio = figures.import_s / figures.copy_s
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    return "\n".join(
        [
            f"contact import benchmark: {figures.rows:,} rows, "
            f"Python {platform.python_version()}, PostgreSQL {postgres}",
            f"{'':<12}{'seconds':>10}{'rows/s':>12}{'vs COPY':>11}",
            line("COPY", figures.copy_s),
            line("import", figures.import_s),
            line("re-import", figures.reimport_s),
            f"target: import within {TARGET_RATIO:g}x of COPY: {verdict} ({ratio:.1f}x)",
        ]
    )


def run(args: argparse.Namespace) -> Figures:
    with scratch_database(args.database_url, args.database_name, keep=args.keep_database) as url:
        company_id = create_company(url)
        with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
            say(f"generating {args.rows:,} contacts ...")
            files = prepare_files(args.rows, args.seed, company_id, Path(folder))
            figures = measure(url, company_id, files, args.rows)
        print(render(figures, server_version(url)))
        return figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="contacts in the CSV")
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="server to use")
    parser.add_argument("--database-name", default=SCRATCH_DATABASE, help="scratch database")
    parser.add_argument("--seed", type=int, default=20_261_123, help="data generator seed")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    return main_with(parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
