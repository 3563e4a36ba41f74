"""The delivery engine's SQL: claiming due enrollments and queued deliveries, and writing the
outcome of a batch in a handful of set-based statements.

The engine works across companies (one queue for the installation), so these statements are
not scoped to one tenant; each joins on `company_id` wherever rows of two tables meet.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.kit.sql import DriverStatement
from agentconnect.models.enums import ActivityType, MessageType
from agentconnect.webhooks import events

# --- the scheduler ------------------------------------------------------------------------------
#
# Engagement reads skip times past the year 3000: outside systems report event times, and one
# absurd value (PostgreSQL stores up to the year 294276, psycopg reads up to 9999) must not make
# every batch that touches its contact fail.

_CLAIM_ENROLLMENTS = text("""
SELECT cc.id, cc.company_id, cc.campaign_id, cc.contact_id, cc.lead_id, cc.current_step,
       cc.enrolled_at, cc.next_step_at, cc.variant_assignments, cc.held_step,
       c.goal_type, c.timezone AS campaign_timezone, c.quiet_hours AS campaign_quiet_hours,
       c.send_time_optimization
FROM campaign_contacts AS cc
JOIN campaigns AS c ON c.id = cc.campaign_id AND c.company_id = cc.company_id
WHERE cc.status = 'active' AND cc.next_step_at <= :now AND c.status = 'active'
ORDER BY cc.next_step_at
LIMIT :limit
FOR UPDATE OF cc SKIP LOCKED
""")


async def claim_due_enrollments(session: AsyncSession, now: datetime, limit: int) -> Sequence[Any]:
    """Due enrollments of active campaigns, locked until the transaction ends; rows another
    worker holds are skipped, so workers never decide the same step twice."""
    return (await session.execute(_CLAIM_ENROLLMENTS, {"now": now, "limit": limit})).all()


async def steps_of(session: AsyncSession, campaign_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    stmt = text("""
        SELECT id, company_id, campaign_id, sequence_order, message_type, delay_value,
               delay_unit, subject, body, variants, send_window, options
        FROM campaign_messages WHERE campaign_id = ANY(:ids)
        ORDER BY campaign_id, sequence_order
    """)
    return (await session.execute(stmt, {"ids": list(campaign_ids)})).all()


async def contacts_of(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    stmt = text("""
        SELECT id, company_id, first_name, last_name, email, phone, company_name, job_title,
               industry, company_size, timezone, lifecycle_stage, lead_source, custom_fields,
               opt_in_status, do_not_contact
        FROM contacts WHERE id = ANY(:ids)
    """)
    return (await session.execute(stmt, {"ids": list(contact_ids)})).all()


async def leads_of(session: AsyncSession, lead_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    if not lead_ids:
        return []
    stmt = text(
        "SELECT id, company_id, deal_value, stage, title, currency FROM leads WHERE id = ANY(:ids)"
    )
    return (await session.execute(stmt, {"ids": list(lead_ids)})).all()


async def companies_of(session: AsyncSession, company_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    stmt = text("""
        SELECT co.id, co.name, co.postal_address, co.default_timezone, co.settings,
               cs.settings ->> 'from_email' AS from_email
        FROM companies AS co
        LEFT JOIN channel_settings AS cs ON cs.company_id = co.id AND cs.channel = 'email'
        WHERE co.id = ANY(:ids)
    """)
    return (await session.execute(stmt, {"ids": list(company_ids)})).all()


async def suppressed(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, str, str]]
) -> set[tuple[uuid.UUID, str, str]]:
    """Which (company, channel, address) keys are suppressed."""
    if not keys:
        return set()
    stmt = text("""
        SELECT s.company_id, s.channel, s.address
        FROM suppressions AS s
        JOIN unnest(CAST(:companies AS uuid[]), CAST(:channels AS text[]),
                    CAST(:addresses AS text[])) AS k(company_id, channel, address)
          ON s.company_id = k.company_id AND s.channel = k.channel AND s.address = k.address
    """)
    rows = await session.execute(
        stmt,
        {
            "companies": [k[0] for k in keys],
            "channels": [k[1] for k in keys],
            "addresses": [k[2] for k in keys],
        },
    )
    return {(row[0], row[1], row[2]) for row in rows}


async def goal_events(
    session: AsyncSession,
    company_ids: Sequence[uuid.UUID],
    contact_ids: Sequence[uuid.UUID],
    activity_types: Sequence[str],
    since: datetime,
) -> dict[tuple[uuid.UUID, str], datetime]:
    """The latest time each contact had each kind of goal event, since `since`."""
    if not contact_ids or not activity_types:
        return {}
    stmt = text("""
        SELECT contact_id, activity_type, max(occurred_at)
        FROM campaign_activities
        WHERE company_id = ANY(:companies) AND contact_id = ANY(:contacts)
          AND activity_type = ANY(:types) AND occurred_at >= :since
          AND occurred_at < timestamptz '3000-01-01'
        GROUP BY contact_id, activity_type
    """)
    params = {
        "companies": list(company_ids),
        "contacts": list(contact_ids),
        "types": list(activity_types),
        "since": since,
    }
    rows = await session.execute(stmt, params)
    return {(row[0], row[1]): row[2] for row in rows}


async def last_inbound(
    session: AsyncSession,
    company_ids: Sequence[uuid.UUID],
    contact_ids: Sequence[uuid.UUID],
    activity_type: str,
    since: datetime,
) -> dict[uuid.UUID, datetime]:
    """When each contact last wrote to us on a channel (its `*_replied` activity), since
    `since`: WhatsApp takes free-form messages only within 24 hours of it."""
    if not contact_ids:
        return {}
    stmt = text("""
        SELECT contact_id, max(occurred_at)
        FROM campaign_activities
        WHERE company_id = ANY(:companies) AND contact_id = ANY(:contacts)
          AND activity_type = :kind AND occurred_at >= :since
          AND occurred_at < timestamptz '3000-01-01'
        GROUP BY contact_id
    """)
    params = {
        "companies": list(company_ids),
        "contacts": list(contact_ids),
        "kind": activity_type,
        "since": since,
    }
    return {row[0]: row[1] for row in await session.execute(stmt, params)}


@dataclass(frozen=True)
class RecentSends:
    last_day: int
    last_week: int
    # The oldest send inside each period: when it leaves the period, the cap frees a slot.
    oldest_in_day: datetime | None
    oldest_in_week: datetime | None


async def recent_sends(
    session: AsyncSession, contacts: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
) -> dict[uuid.UUID, RecentSends]:
    """Messages queued or sent to each (company, contact) in the last day and week, across
    campaigns. One index range per contact (LATERAL): a plain `contact_id = ANY(...)` let the
    planner pick the (company, campaign, status) index and read every delivery of the company."""
    if not contacts:
        return {}
    stmt = text("""
        SELECT k.contact_id, r.last_day, r.last_week, r.oldest_in_day, r.oldest_in_week
        FROM unnest(CAST(:companies AS uuid[]), CAST(:contacts AS uuid[]))
             AS k(company_id, contact_id)
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (
                       WHERE d.created_at > CAST(:now AS timestamptz) - interval '1 day')
                       AS last_day,
                   count(*) AS last_week,
                   min(d.created_at) FILTER (
                       WHERE d.created_at > CAST(:now AS timestamptz) - interval '1 day')
                       AS oldest_in_day,
                   min(d.created_at) AS oldest_in_week
            FROM deliveries AS d
            WHERE d.company_id = k.company_id AND d.contact_id = k.contact_id
              AND d.created_at > CAST(:now AS timestamptz) - interval '7 days'
              AND d.status IN ('queued', 'sending', 'sent', 'delivered')
        ) AS r
        WHERE r.last_week > 0
    """)
    params = {
        "companies": [company for company, _ in contacts],
        "contacts": [contact for _, contact in contacts],
        "now": now,
    }
    rows = await session.execute(stmt, params)
    return {row[0]: RecentSends(row[1], row[2], row[3], row[4]) for row in rows}


async def preferred_hours(
    session: AsyncSession,
    company_ids: Sequence[uuid.UUID],
    contact_ids: Sequence[uuid.UUID],
    since: datetime,
) -> dict[uuid.UUID, tuple[datetime, ...]]:
    """When each contact opened, clicked or replied lately (the engine turns these instants
    into the contact's most engaged hour of the week, in the contact's time zone)."""
    if not contact_ids:
        return {}
    stmt = text("""
        SELECT contact_id, array_agg(occurred_at ORDER BY occurred_at DESC)
        FROM (
            SELECT contact_id, occurred_at,
                   row_number() OVER (PARTITION BY contact_id ORDER BY occurred_at DESC) AS n
            FROM campaign_activities
            WHERE company_id = ANY(:companies) AND contact_id = ANY(:contacts)
              AND occurred_at >= :since
          AND occurred_at < timestamptz '3000-01-01'
              AND activity_type IN ('email_opened', 'email_clicked', 'email_replied',
                                    'sms_replied', 'whatsapp_replied')
              AND coalesce(metadata ->> 'prefetched', 'false') <> 'true'
        ) AS recent
        WHERE n <= 50
        GROUP BY contact_id
    """)
    params = {"companies": list(company_ids), "contacts": list(contact_ids), "since": since}
    rows = await session.execute(stmt, params)
    return {row[0]: tuple(row[1]) for row in rows}


async def company_engagement_instants(
    session: AsyncSession, company_ids: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, tuple[datetime, ...]]:
    """A sample of each company's recent engagement instants: the fallback for contacts with
    no history of their own."""
    if not company_ids:
        return {}
    stmt = text("""
        SELECT company_id, array_agg(occurred_at)
        FROM (
            SELECT company_id, occurred_at,
                   row_number() OVER (PARTITION BY company_id ORDER BY occurred_at DESC) AS n
            FROM campaign_activities
            WHERE company_id = ANY(:companies) AND occurred_at >= :since
          AND occurred_at < timestamptz '3000-01-01'
              AND activity_type IN ('email_opened', 'email_clicked', 'email_replied')
              AND coalesce(metadata ->> 'prefetched', 'false') <> 'true'
        ) AS recent
        WHERE n <= 2000
        GROUP BY company_id
    """)
    rows = await session.execute(stmt, {"companies": list(company_ids), "since": since})
    return {row[0]: tuple(row[1]) for row in rows}


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Queue deliveries with their contents; a dedupe key that exists already is left alone
    (and so is its content). Returns the keys that were inserted."""
    if not rows:
        return set()
    stmt = text("""
        WITH given AS (
            SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS d(
                id uuid, company_id uuid, campaign_id uuid, enrollment_id uuid, contact_id uuid,
                lead_id uuid, message_id uuid, step_order int, channel text, variant text,
                dedupe_key text, to_address text, subject text, body_text text, body_html text,
                details jsonb, not_before timestamptz, message_id_header text)
        ), queued AS (
            INSERT INTO deliveries (id, company_id, campaign_id, enrollment_id, contact_id,
                                    lead_id, message_id, step_order, channel, variant,
                                    dedupe_key, status, to_address, not_before, attempts,
                                    message_id_header)
            SELECT d.id, d.company_id, d.campaign_id, d.enrollment_id, d.contact_id, d.lead_id,
                   d.message_id, d.step_order, d.channel, d.variant, d.dedupe_key, 'queued',
                   d.to_address, d.not_before, 0, d.message_id_header
            FROM given AS d
            ON CONFLICT (company_id, dedupe_key) DO NOTHING
            RETURNING id, dedupe_key
        ), contents AS (
            INSERT INTO delivery_contents (delivery_id, company_id, subject, body_text,
                                           body_html, details)
            SELECT d.id, d.company_id, d.subject, d.body_text, d.body_html, d.details
            FROM given AS d JOIN queued AS q ON q.id = d.id
        )
        SELECT dedupe_key FROM queued
    """)
    result = await session.execute(stmt, {"rows": json.dumps(list(rows), default=str)})
    return {row[0] for row in result}


async def update_enrollments(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Advance, hold, complete or end the claimed enrollments, all in one statement."""
    if not rows:
        return
    # A completed sequence is an event (enrollment.completed) in the same statement, written
    # only when a webhook endpoint or an automation rule of the company listens for it (the
    # outbox's rule, webhooks/events.py).
    stmt = text(f"""
        WITH updated AS (
        UPDATE campaign_contacts AS cc
        SET status = u.status, current_step = u.current_step, next_step_at = u.next_step_at,
            completed_at = coalesce(u.completed_at, cc.completed_at),
            exited_at = coalesce(u.exited_at, cc.exited_at),
            exit_reason = coalesce(u.exit_reason, cc.exit_reason),
            variant_assignments = cc.variant_assignments || u.variant_assignments,
            held_step = coalesce(u.held_step, cc.held_step),
            updated_at = now()
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS u(
            id uuid, status text, current_step int, next_step_at timestamptz,
            completed_at timestamptz, exited_at timestamptz, exit_reason text,
            variant_assignments jsonb, held_step int)
        WHERE cc.id = u.id AND cc.id = ANY(CAST(:ids AS uuid[]))
        RETURNING cc.id, cc.company_id, cc.campaign_id, cc.contact_id, cc.lead_id, cc.status,
                  cc.completed_at
        )
        INSERT INTO events (id, company_id, event_type, lead_id, contact_id, payload, depth)
        SELECT uuid_v7(), d.company_id, 'enrollment.completed', d.lead_id, d.contact_id,
               jsonb_build_object('enrollment', jsonb_build_object(
                   'id', d.id, 'campaign_id', d.campaign_id, 'contact_id', d.contact_id,
                   'lead_id', d.lead_id, 'status', d.status, 'completed_at', d.completed_at)),
               {events.DEPTH_SQL}
        FROM updated AS d
        WHERE d.status = 'completed' AND event_wanted(d.company_id, 'enrollment.completed')
    """)  # noqa: S608 - a constant fragment, values bound
    params = {"rows": json.dumps(list(rows), default=str), "ids": [row["id"] for row in rows]}
    await session.execute(stmt, params)


async def insert_activities(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = text("""
        INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, lead_id,
                                         message_id, variant, activity_type, occurred_at, metadata)
        SELECT coalesce(a.id, gen_random_uuid()), a.company_id, a.campaign_id, a.contact_id,
               a.lead_id, a.message_id, a.variant, a.activity_type, a.occurred_at, a.metadata
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS a(
            id uuid, company_id uuid, campaign_id uuid, contact_id uuid, lead_id uuid,
            message_id uuid, variant text, activity_type text, occurred_at timestamptz,
            metadata jsonb)
    """)
    await session.execute(stmt, {"rows": json.dumps(list(rows), default=str)})


# --- the sender ---------------------------------------------------------------------------------

_CLAIM_DELIVERIES = text("""
WITH leased AS (
UPDATE deliveries AS d
SET status = CASE WHEN claimed.reason IS NULL THEN 'sending' ELSE 'cancelled' END,
    lease_expires_at = CASE WHEN claimed.reason IS NULL THEN CAST(:lease_until AS timestamptz) END,
    leased_by = :worker,
    attempts = d.attempts + CASE WHEN claimed.reason IS NULL THEN 1 ELSE 0 END,
    last_error = coalesce(claimed.reason, d.last_error),
    updated_at = now()
FROM (
    SELECT q.id,
           CASE WHEN cc.status IN ('unenrolled', 'opted_out', 'goal_achieved', 'failed')
                    THEN 'cancelled: the enrollment ended (' || cc.status || ')'
                WHEN ct.do_not_contact THEN 'cancelled: the contact is do-not-contact'
                WHEN ct.opt_in_status = 'opted_out' THEN 'cancelled: the contact opted out'
                WHEN EXISTS (SELECT 1 FROM suppressions AS s
                             WHERE s.company_id = q.company_id AND s.channel = q.channel
                               AND s.address = lower(q.to_address))
                    THEN 'cancelled: the address is suppressed'
           END AS reason,
           ct.timezone AS contact_timezone,
           coalesce(c.timezone, co.default_timezone) AS fallback_timezone,
           co.settings -> 'quiet_hours' AS company_quiet_hours
    FROM deliveries AS q
    JOIN companies AS co ON co.id = q.company_id
    JOIN campaigns AS c ON c.id = q.campaign_id AND c.company_id = q.company_id
    JOIN campaign_contacts AS cc ON cc.id = q.enrollment_id AND cc.company_id = q.company_id
    JOIN contacts AS ct ON ct.id = q.contact_id AND ct.company_id = q.company_id
    WHERE q.status = 'queued' AND q.not_before <= :now AND c.status = 'active'
    ORDER BY q.not_before
    LIMIT :limit
    FOR UPDATE OF q SKIP LOCKED
) AS claimed
WHERE d.id = claimed.id
RETURNING d.id, d.company_id, d.campaign_id, d.enrollment_id, d.contact_id, d.lead_id,
          d.message_id, d.step_order, d.channel, d.variant, d.to_address, d.attempts,
          d.message_id_header, d.status, d.last_error, d.not_before,
          claimed.contact_timezone, claimed.fallback_timezone, claimed.company_quiet_hours
)
SELECT l.*, c.subject, coalesce(c.body_text, '') AS body_text, c.body_html,
       coalesce(c.details, '{}') AS details
FROM leased AS l LEFT JOIN delivery_contents AS c ON c.delivery_id = l.id
""")


async def lease_queued(
    session: AsyncSession, now: datetime, lease_until: datetime, worker: str, limit: int
) -> Sequence[Any]:
    """Queued deliveries of active campaigns whose time has come, marked `sending` under a
    lease. A paused campaign's deliveries stay queued until it resumes. A delivery whose
    enrollment ended early (unenrolled, opted out, goal reached) or whose contact became
    do-not-contact or opted out since it was queued is cancelled instead: the engine checks
    again at the last moment, whatever path changed the contact."""
    params = {"now": now, "lease_until": lease_until, "worker": worker, "limit": limit}
    rows = (await session.execute(_CLAIM_DELIVERIES, params)).all()
    return [row for row in rows if row.status == "sending"]


# Every outcome is fenced by the lease: the worker that holds it, on the attempt it leased.
# A sender that outlived its lease (another worker has the delivery now) changes nothing, and
# learns so from what the statement returns.
def _fenced(rows: Sequence[dict[str, Any]], worker: str) -> dict[str, Any]:
    # The id arrays also let the planner use the primary keys: it cannot see inside the JSON
    # and would otherwise join by scanning the whole table.
    return {
        "rows": json.dumps(list(rows), default=str),
        "ids": [row["id"] for row in rows],
        "worker": worker,
    }


# What a sent delivery's activity is called, by channel.
SENT_ACTIVITY = {
    MessageType.EMAIL: ActivityType.EMAIL_SENT,
    MessageType.SMS: ActivityType.SMS_SENT,
    MessageType.WHATSAPP: ActivityType.WHATSAPP_SENT,
    MessageType.VOICE: ActivityType.CALL_INITIATED,
}

# One statement for everything a sent message changes: the delivery, the contact's
# last_contacted_at and the `*_sent` activity (built from the delivery row itself). Alone on an
# autocommit connection it is a whole transaction in one round trip: the sender's group commit
# runs it so (`record_sent_alone`).
_RECORD_SENT = DriverStatement(
    text("""
    WITH updated AS (
        UPDATE deliveries AS d
        SET status = CASE WHEN d.status = 'sending' THEN 'sent' ELSE d.status END,
            sent_at = r.sent_at, provider = r.provider,
            provider_message_id = r.provider_message_id, lease_expires_at = NULL,
            provider_status = coalesce(d.provider_status, r.provider_status),
            segments = r.segments,
            last_error = CASE WHEN d.status = 'sending' THEN NULL ELSE d.last_error END,
            updated_at = now()
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            id uuid, attempts int, sent_at timestamptz, provider text,
            provider_message_id text, provider_status text, segments smallint,
            activity_id uuid)
        WHERE d.id = r.id
          AND (d.status = 'sending'
               -- the provider's callback for this very message came first and moved it
               OR (d.status IN ('delivered', 'failed')
                   AND d.provider_message_id = r.provider_message_id))
          AND d.leased_by = :worker AND d.attempts = r.attempts
          AND d.id = ANY(CAST(:ids AS uuid[]))
        RETURNING d.id, d.company_id, d.campaign_id, d.contact_id, d.lead_id, d.message_id,
                  d.variant, d.channel, d.step_order, r.sent_at, r.activity_id
    ), touched AS (
        UPDATE contacts AS c SET last_contacted_at = u.sent_at
        FROM (SELECT contact_id, max(sent_at) AS sent_at FROM updated
              GROUP BY contact_id) AS u
        WHERE c.id = u.contact_id AND c.id = ANY(CAST(:contacts AS uuid[]))
          AND (c.last_contacted_at IS NULL OR c.last_contacted_at < u.sent_at)
    ), logged AS (
        INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, lead_id,
                                         message_id, variant, activity_type, occurred_at,
                                         metadata)
        SELECT coalesce(u.activity_id, gen_random_uuid()), u.company_id, u.campaign_id,
               u.contact_id, u.lead_id, u.message_id, u.variant,
               CAST(:activity_types AS jsonb) ->> u.channel, u.sent_at,
               jsonb_build_object('delivery_id', CAST(u.id AS text), 'step', u.step_order)
        FROM updated AS u
    )
    SELECT id FROM updated
    """)
)


_SENT_ACTIVITY_JSON = json.dumps({str(k): str(v) for k, v in SENT_ACTIVITY.items()})


def _sent_params(rows: Sequence[dict[str, Any]], worker: str) -> dict[str, Any]:
    return _fenced(rows, worker) | {
        "contacts": list({row["contact_id"] for row in rows}),
        "activity_types": _SENT_ACTIVITY_JSON,
    }


async def record_sent(
    session: AsyncSession, rows: Sequence[dict[str, Any]], worker: str
) -> set[uuid.UUID]:
    """Sent: the delivery, the contact's last_contacted_at and the `*_sent` activity (with the
    row's `activity_id`, if it names one). Returns the deliveries this worker still held; only
    those got their activity, and only those may pass the point of no return."""
    if not rows:
        return set()
    return {row[0] for row in await _RECORD_SENT.rows(session, _sent_params(rows, worker))}


async def record_sent_alone(
    connection: AsyncConnection[Any], rows: Sequence[dict[str, Any]], worker: str
) -> set[uuid.UUID]:
    """`record_sent` as a transaction of its own, on an autocommit connection: committed when
    it returns, in one round trip instead of a session's four (ping, BEGIN, statement, COMMIT)."""
    if not rows:
        return set()
    return {row[0] for row in await _RECORD_SENT.rows_on(connection, _sent_params(rows, worker))}


async def record_held(
    session: AsyncSession, rows: Sequence[dict[str, Any]], worker: str
) -> set[uuid.UUID]:
    """Back to the queue until `not_before`, the attempt not counted: the delivery was leased
    at a moment it may not be sent (a retry that came due inside the contact's quiet hours)."""
    if not rows:
        return set()
    result = await session.execute(
        text("""
        UPDATE deliveries AS d
        SET status = 'queued', not_before = r.not_before, attempts = d.attempts - 1,
            lease_expires_at = NULL, leased_by = NULL, updated_at = now()
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            id uuid, attempts int, not_before timestamptz)
        WHERE d.id = r.id AND d.status = 'sending'
          AND d.leased_by = :worker AND d.attempts = r.attempts
          AND d.id = ANY(CAST(:ids AS uuid[]))
        RETURNING d.id
        """),
        _fenced(rows, worker),
    )
    return {row[0] for row in result}


async def record_retry(
    session: AsyncSession, rows: Sequence[dict[str, Any]], worker: str
) -> set[uuid.UUID]:
    """Back to the queue after a transient failure, not before the given time. A row this
    worker recorded as sent moments ago may come back too (refused at the final `.`)."""
    if not rows:
        return set()
    result = await session.execute(
        text("""
        UPDATE deliveries AS d
        SET status = 'queued', not_before = r.not_before, last_error = r.error,
            lease_expires_at = NULL, leased_by = NULL, sent_at = NULL, updated_at = now()
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            id uuid, attempts int, not_before timestamptz, error text)
        WHERE d.id = r.id AND d.status IN ('sending', 'sent')
          AND d.leased_by = :worker AND d.attempts = r.attempts
          AND d.id = ANY(CAST(:ids AS uuid[]))
        RETURNING d.id
        """),
        _fenced(rows, worker),
    )
    return {row[0] for row in result}


async def record_failed(
    session: AsyncSession, rows: Sequence[dict[str, Any]], worker: str
) -> set[uuid.UUID]:
    if not rows:
        return set()
    result = await session.execute(
        text("""
        UPDATE deliveries AS d
        SET status = 'failed', failed_at = r.failed_at, last_error = r.error,
            lease_expires_at = NULL, sent_at = NULL, updated_at = now()
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            id uuid, attempts int, failed_at timestamptz, error text)
        WHERE d.id = r.id AND d.status IN ('sending', 'sent')
          AND d.leased_by = :worker AND d.attempts = r.attempts
          AND d.id = ANY(CAST(:ids AS uuid[]))
        RETURNING d.id
        """),
        _fenced(rows, worker),
    )
    return {row[0] for row in result}


async def suppress_addresses(session: AsyncSession, rows: Sequence[Any]) -> None:
    """Suppress the deliveries' addresses on their channels (reason `unsubscribed`)."""
    if not rows:
        return
    await session.execute(
        text("""
        INSERT INTO suppressions (company_id, channel, address, reason, details)
        SELECT k.company_id, k.channel, k.address, 'unsubscribed',
               jsonb_build_object('source', 'provider')
        FROM unnest(CAST(:companies AS uuid[]), CAST(:channels AS text[]),
                    CAST(:addresses AS text[])) AS k(company_id, channel, address)
        ON CONFLICT DO NOTHING
        """),
        {
            "companies": [row.company_id for row in rows],
            "channels": [row.channel for row in rows],
            "addresses": [row.to_address.lower() for row in rows],
        },
    )


async def delete_activities(session: AsyncSession, activity_ids: Sequence[uuid.UUID]) -> None:
    if activity_ids:
        await session.execute(
            text("DELETE FROM campaign_activities WHERE id = ANY(:ids)"),
            {"ids": list(activity_ids)},
        )


async def expired_leases(
    session: AsyncSession,
    now: datetime,
    channels: Sequence[str],
    after: uuid.UUID | None = None,
    limit: int = 1000,
) -> Sequence[Any]:
    """Deliveries on the given channels still `sending` after their lease ran out, with what
    a provider lookup needs (the sender's fence: `leased_by` and `attempts`; `updated_at`,
    when the lease was taken), a page at a time in id order after `after`."""
    stmt = text("""
        SELECT d.id, d.company_id, d.campaign_id, d.enrollment_id, d.contact_id, d.lead_id,
               d.message_id, d.step_order, d.channel, d.variant, d.to_address, c.subject,
               coalesce(c.body_text, '') AS body_text, c.body_html,
               coalesce(c.details, '{}') AS details, d.attempts, d.message_id_header,
               d.leased_by, d.lease_expires_at, d.updated_at
        FROM deliveries AS d LEFT JOIN delivery_contents AS c ON c.delivery_id = d.id
        WHERE d.status = 'sending' AND d.lease_expires_at < :now AND d.channel = ANY(:channels)
          AND d.id > :after
        ORDER BY d.id
        LIMIT :limit
    """)
    params = {
        "now": now,
        "channels": list(channels),
        "after": after or uuid.UUID(int=0),
        "limit": limit,
    }
    return (await session.execute(stmt, params)).all()


async def extend_unverified_leases(
    session: AsyncSession, ids: Sequence[uuid.UUID], until: datetime, leased_after: datetime
) -> None:
    """Keep a little longer the leases whose provider could not be asked, if they were taken
    after `leased_after` (older ones are left to expire back to the queue). `updated_at` is
    left alone: it is the time of the lease, which the patience is counted from."""
    await session.execute(
        text("""
        UPDATE deliveries
        SET lease_expires_at = :until, last_error = 'provider lookup pending'
        WHERE id = ANY(:ids) AND status = 'sending' AND updated_at > :leased_after
        """),
        {"ids": list(ids), "until": until, "leased_after": leased_after},
    )


async def release_expired_leases(session: AsyncSession, now: datetime, max_attempts: int) -> int:
    """Deliveries still `sending` after their lease ran out: their sender died (or stalled)
    before it recorded them sent. A two-phase provider never passed its point of no return for
    them (that happens only after `sent` is committed), so they go back to the queue — or fail,
    when they have used up their attempts (a delivery that kills its sender every time must
    not hold the queue forever)."""
    result = await session.execute(
        text("""
        UPDATE deliveries
        SET status = CASE WHEN attempts >= :max_attempts THEN 'failed' ELSE 'queued' END,
            failed_at = CASE WHEN attempts >= :max_attempts THEN now() END,
            lease_expires_at = NULL, leased_by = NULL,
            last_error = 'lease expired: the sender stopped', updated_at = now()
        WHERE status = 'sending' AND lease_expires_at < :now
        """),
        {"now": now, "max_attempts": max_attempts},
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def complete_finished_campaigns(session: AsyncSession, now: datetime) -> int:
    """Active campaigns with nothing left to do: no enrollment still going, nothing queued."""
    result = await session.execute(
        text("""
        UPDATE campaigns AS c SET status = 'completed', completed_at = :now, updated_at = now()
        WHERE c.status = 'active'
          AND EXISTS (SELECT 1 FROM campaign_contacts AS cc
                      WHERE cc.campaign_id = c.id AND cc.company_id = c.company_id)
          AND NOT EXISTS (SELECT 1 FROM campaign_contacts AS cc
                          WHERE cc.campaign_id = c.id AND cc.company_id = c.company_id
                            AND cc.status IN ('active', 'paused'))
          AND NOT EXISTS (SELECT 1 FROM deliveries AS d
                          WHERE d.campaign_id = c.id AND d.company_id = c.company_id
                            AND d.status IN ('queued', 'sending'))
        RETURNING c.id
        """),
        {"now": now},
    )
    completed = list(result.scalars())
    await events.emit_campaign_events(session, "campaign.completed", completed)
    return len(completed)
