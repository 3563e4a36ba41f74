"""Migration 0017 fingerprints the newest stored score of each lead and type, as scoring
computes fingerprints, and its downgrade takes the table and the id default away again."""

from __future__ import annotations

import json
import os
import uuid

import psycopg

from agentconnect.migrations_runner import downgrade, upgrade
from agentconnect.scoring.facts import Factor
from agentconnect.scoring.repository import factors_json, fingerprint
from tests.fixtures.postgres import create_test_database, drop_test_database

COMPANY, CONTACT, LEAD = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
OLD = [Factor("opens", 5.0, "1 opens, 1.00 after decay")]
NEW = [Factor("opens", 12.5, '3 opens, "2.50" after decay \\ é')]
FIT = [Factor("industry", 30, "industry software")]


def _history(connection: psycopg.Connection[tuple[object, ...]]) -> None:
    connection.execute(
        "INSERT INTO companies (id, name, default_timezone, settings)"
        " VALUES (%s, 'Before 0017', 'UTC', '{}')",
        (COMPANY,),
    )
    connection.execute(
        "INSERT INTO contacts (id, company_id, lifecycle_stage, opt_in_status, do_not_contact,"
        " tags, custom_fields, lead_score)"
        " VALUES (%s, %s, 'lead', 'unknown', false, '[]', '{}', 0)",
        (CONTACT, COMPANY),
    )
    connection.execute(
        "INSERT INTO leads (id, company_id, contact_id, title, stage, qualification_status, score,"
        " currency, qualification_data) VALUES (%s, %s, %s, 'Deal', 'lead', 'pending', 0, 'USD',"
        " '{}')",
        (LEAD, COMPANY, CONTACT),
    )
    rows = [  # (type, score, factors, computed when)
        ("engagement", 5, OLD, "2026-01-01"),
        ("engagement", 13, NEW, "2026-02-01"),  # the newest engagement row
        ("demographic", 30, FIT, "2026-01-01"),
        ("manual", 80, [Factor("manual", 80, "knows them")], "2026-03-01"),  # never fingerprinted
    ]
    for score_type, score, factors, at in rows:
        connection.execute(
            "INSERT INTO lead_scores (id, company_id, lead_id, score_type, score, factors,"
            " computed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (uuid.uuid4(), COMPANY, LEAD, score_type, score, factors_json(factors), at),
        )


def test_existing_scores_are_fingerprinted_and_downgrade_undoes_it(postgres_server: str) -> None:
    name = f"agentconnect_scoring_0017_{os.getpid()}"
    url = create_test_database(postgres_server, name, migrated=False)
    try:
        upgrade(url, "0016")
        with psycopg.connect(url) as connection:
            _history(connection)
        upgrade(url, "0017")
        with psycopg.connect(url) as connection:
            stored = connection.execute(
                "SELECT company_id, lead_id, fingerprints, scored_at::date::text"
                " FROM lead_score_fingerprints"
            ).fetchall()
            assert stored == [
                (
                    COMPANY,
                    LEAD,
                    {
                        "engagement": fingerprint(13, factors_json(NEW)),
                        "demographic": fingerprint(30, factors_json(FIT)),
                    },
                    "2026-02-01",
                )
            ]
            # a score row needs no id from its writer any more
            connection.execute(
                "INSERT INTO lead_scores (company_id, lead_id, score_type, score, factors)"
                " VALUES (%s, %s, 'workflow', 10, %s)",
                (COMPANY, LEAD, json.dumps([])),
            )
            connection.rollback()
        downgrade(url, "0016")
        with psycopg.connect(url) as connection:
            table = connection.execute(
                "SELECT to_regclass('lead_score_fingerprints') IS NULL"
            ).fetchone()
            default = connection.execute(
                "SELECT column_default FROM information_schema.columns"
                " WHERE table_name = 'lead_scores' AND column_name = 'id'"
            ).fetchone()
            scores = connection.execute("SELECT count(*) FROM lead_scores").fetchone()
        assert table == (True,)
        assert default == (None,)
        assert scores == (4,)  # the history itself is untouched
    finally:
        drop_test_database(postgres_server, name)
