"""Migration 0016 on a database that already has deliveries: their contents move to
`delivery_contents` and come back on downgrade."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from agentconnect.migrations_runner import downgrade, upgrade
from tests.fixtures.postgres import create_test_database, drop_test_database

BEFORE, AFTER = "0015", "0016"
CONTENT_COLUMNS = ("subject", "body_text", "body_html", "details")


@pytest.fixture
def database_at_0015(postgres_server: str) -> Iterator[str]:
    name = f"agentconnect_contents_{os.getpid()}"
    url = create_test_database(postgres_server, name, migrated=False)
    try:
        upgrade(url, BEFORE)
        yield url
    finally:
        drop_test_database(postgres_server, name)


def _seed(url: str) -> dict[str, Any]:
    """One company, contact, campaign, step and enrollment, and two deliveries as 0015 stored
    them: an email with every content column, and an SMS with only its text."""
    ids = {key: uuid.uuid4() for key in ("company", "contact", "campaign", "step", "enrollment")}
    email, sms = uuid.uuid4(), uuid.uuid4()
    details = {"headers": {"List-Unsubscribe": "<https://crm.test/u/1>"}, "links": ["https://x"]}
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO companies (id, name, default_timezone, settings)"
            " VALUES (%(company)s, 'Acme', 'UTC', '{}')",
            ids,
        )
        conn.execute(
            "INSERT INTO contacts (id, company_id, first_name, email, lifecycle_stage,"
            " lead_source, opt_in_status, do_not_contact, tags, custom_fields, lead_score,"
            " created_at, updated_at)"
            " VALUES (%(contact)s, %(company)s, 'Ada', 'ada@example.com', 'customer', 'website',"
            " 'opted_in', false, '[]', '{}', 50, now(), now())",
            ids,
        )
        conn.execute(
            "INSERT INTO campaigns (id, company_id, name, campaign_type, status, goal_type,"
            " target_criteria, send_time_optimization, cost, currency)"
            " VALUES (%(campaign)s, %(company)s, 'Spring', 'email', 'active', 'none', '{}',"
            " false, 0, 'USD')",
            ids,
        )
        conn.execute(
            "INSERT INTO campaign_messages (id, company_id, campaign_id, sequence_order,"
            " message_type, delay_value, delay_unit, subject, body, variants)"
            " VALUES (%(step)s, %(company)s, %(campaign)s, 1, 'email', 0, 'minutes', 'Hi',"
            " 'Hello', '[]')",
            ids,
        )
        conn.execute(
            "INSERT INTO campaign_contacts (id, company_id, campaign_id, contact_id, status,"
            " current_step, variant_assignments, enrolled_at, updated_at)"
            " VALUES (%(enrollment)s, %(company)s, %(campaign)s, %(contact)s, 'active', 2, '{}',"
            " now(), now())",
            ids,
        )
        for delivery_id, channel, step, subject, html, extra in (
            (email, "email", 1, "Hello Ada", "<p>Hello Ada</p>", details),
            (sms, "sms", 2, None, None, {}),
        ):
            conn.execute(
                "INSERT INTO deliveries (id, company_id, campaign_id, enrollment_id, contact_id,"
                " message_id, step_order, channel, dedupe_key, status, to_address, subject,"
                " body_text, body_html, details, attempts)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'sent', 'ada@example.com', %s,"
                " %s, %s, %s, 1)",
                (
                    delivery_id,
                    ids["company"],
                    ids["campaign"],
                    ids["enrollment"],
                    ids["contact"],
                    ids["step"],
                    step,
                    channel,
                    f"{ids['enrollment']}:{step}",
                    subject,
                    f"Hello Ada ({channel})",
                    html,
                    Jsonb(extra),
                ),
            )
    return {
        "company": ids["company"],
        email: ("Hello Ada", "Hello Ada (email)", "<p>Hello Ada</p>", details),
        sms: (None, "Hello Ada (sms)", None, {}),
    }


def _columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
    ).fetchall()
    return {row[0] for row in rows}


def test_upgrade_moves_contents_and_downgrade_brings_them_back(database_at_0015: str) -> None:
    url = database_at_0015
    seeded = _seed(url)
    company = seeded.pop("company")

    upgrade(url, AFTER)
    with psycopg.connect(url) as conn:
        assert not set(CONTENT_COLUMNS) & _columns(conn, "deliveries")
        moved = {
            row[0]: (row[1:5], row[5])
            for row in conn.execute(
                "SELECT delivery_id, subject, body_text, body_html, details, company_id"
                " FROM delivery_contents"
            )
        }
    assert moved == {delivery: (content, company) for delivery, content in seeded.items()}

    downgrade(url, BEFORE)
    with psycopg.connect(url) as conn:
        assert "delivery_contents" not in {
            row[0] for row in conn.execute("SELECT tablename FROM pg_tables")
        }
        restored = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT id, subject, body_text, body_html, details FROM deliveries"
            )
        }
        nullable = dict(
            conn.execute(
                "SELECT column_name, is_nullable FROM information_schema.columns"
                " WHERE table_name = 'deliveries' AND column_name = ANY(%s)",
                (list(CONTENT_COLUMNS),),
            ).fetchall()
        )
    assert restored == seeded
    # As 0015 declared them: a body and details on every row.
    assert nullable == {"subject": "YES", "body_text": "NO", "body_html": "YES", "details": "NO"}


def test_deleting_a_delivery_deletes_its_contents(database_at_0015: str) -> None:
    url = database_at_0015
    _seed(url)
    upgrade(url, AFTER)
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM deliveries WHERE channel = 'sms'")
        left = conn.execute("SELECT count(*) FROM delivery_contents").fetchone()
    assert left == (1,)
