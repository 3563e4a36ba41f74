"""Where the CSV import spends its time: a phase breakdown, and optionally a cProfile.

    python -m bench.profile_import --rows 100000 [--cprofile 25]

Runs the import and then the re-import of the same generated file (as bench.import_contacts
does) and splits each one's wall-clock time into
- the COPY of each batch into the staging table,
- each merge statement, summed over the batches,
- the rest: reading the CSV and validating rows in Python, plus the commit.
Statements are timed around the driver call, so their time includes the server's work.
With --cprofile N it also prints the N functions with the most own time; the profiler slows
Python code down, so use those figures for proportions within Python, not for wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import re
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import event

from agentconnect.contacts.import_repository import ImportStaging
from agentconnect.contacts.importer import ImportReport, import_contacts
from agentconnect.db import Database
from bench.common import BenchmarkFailed, say, scratch_database
from bench.fake_contacts import generate, write_import_csv
from bench.import_contacts import DEFAULT_SERVER, check_report, create_company, settle

SCRATCH_DATABASE = "agentconnect_bench_profile"
STAGING_COPY = "COPY into the staging table"


@dataclass
class Breakdown:
    total_s: float = 0.0
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1


class TimedStaging(ImportStaging):
    """The real staging, with a clock around its COPY (which bypasses SQLAlchemy's events)."""

    def __init__(self, session: Any, company_id: uuid.UUID, breakdown: Breakdown) -> None:
        super().__init__(session, company_id)
        self.breakdown = breakdown

    async def _copy(self, rows: list[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        await super()._copy(rows)
        self.breakdown.add(STAGING_COPY, time.perf_counter() - started)


def statement_label(statement: str) -> str:
    """A statement's head and tail on one line: the two match-id UPDATEs differ only at the end."""
    flat = re.sub(r"\s+", " ", statement).strip()
    return flat if len(flat) <= 90 else f"{flat[:40]} ... {flat[-45:]}"


def clock_statements(database: Database, breakdown: Breakdown) -> None:
    engine = database.engine.sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def _started(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["statement_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _finished(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        elapsed = time.perf_counter() - conn.info.pop("statement_started")
        breakdown.add(statement_label(statement), elapsed)


async def _timed_import(
    url: str, company_id: uuid.UUID, binary: IO[bytes], breakdown: Breakdown
) -> ImportReport:
    database = Database.from_url(url, pool_size=1)
    try:
        async with database.engine.connect():
            pass
        clock_statements(database, breakdown)
        started = time.perf_counter()
        async with database.unit_of_work() as session:
            report = await import_contacts(TimedStaging(session, company_id, breakdown), binary)
        breakdown.total_s = time.perf_counter() - started
        return report
    finally:
        await database.dispose()


def profile_import(
    url: str, company_id: uuid.UUID, csv_path: Path, profiler: cProfile.Profile | None
) -> tuple[Breakdown, ImportReport]:
    breakdown = Breakdown()
    with csv_path.open("rb") as binary:
        if profiler is None:
            report = asyncio.run(_timed_import(url, company_id, binary, breakdown))
        else:
            report = profiler.runcall(
                asyncio.run, _timed_import(url, company_id, binary, breakdown)
            )
    return breakdown, report


def render_breakdown(title: str, breakdown: Breakdown) -> str:
    lines = [f"{title}: {breakdown.total_s:.2f} s"]
    accounted = 0.0
    for label, seconds in sorted(breakdown.seconds.items(), key=lambda item: -item[1]):
        accounted += seconds
        share = seconds / breakdown.total_s
        calls = breakdown.calls[label]
        lines.append(f"  {seconds:8.2f} s {share:6.1%}  x{calls:<5} {label}")
    rest = breakdown.total_s - accounted
    share = rest / breakdown.total_s
    lines.append(f"  {rest:8.2f} s {share:6.1%}         Python: CSV reading, validation, commit")
    return "\n".join(lines)


def render_profile(profiler: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(pstats.SortKey.TIME).print_stats(top)
    return out.getvalue()


def run(args: argparse.Namespace) -> None:
    with scratch_database(args.database_url, args.database_name) as url:
        company_id = create_company(url)
        with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
            csv_path = Path(folder) / "contacts.csv"
            say(f"generating {args.rows:,} contacts ...")
            write_import_csv(generate(args.rows, args.seed), csv_path)
            for title, created, updated in (
                ("import", args.rows, 0),
                ("re-import", 0, args.rows),
            ):
                settle(url)
                say(f"{title} ...")
                profiler = cProfile.Profile() if args.cprofile else None
                breakdown, report = profile_import(url, company_id, csv_path, profiler)
                check_report(report, created=created, updated=updated)
                print(render_breakdown(f"{title} of {args.rows:,} rows", breakdown))
                if profiler is not None:
                    print(render_profile(profiler, args.cprofile))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Phase breakdown of the CSV import.")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_SERVER)
    parser.add_argument("--database-name", default=SCRATCH_DATABASE)
    parser.add_argument("--seed", type=int, default=20_261_123)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="print top N")
    args = parser.parse_args(argv)
    try:
        run(args)
    except BenchmarkFailed as failure:
        say(f"profile failed: {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
