"""The event outbox: what services call, in their own transaction, when something happened.

Every function here is one `INSERT ... SELECT`, however many rows changed, and reads the rows
as they are after the change, so a payload is what was committed. It writes nothing when no
enabled webhook endpoint or automation rule of the company listens for the event type (SQL
function `event_wanted`, migration 0015): only `emit`, which an automation calls on purpose,
always writes. Events implied by
activities (deliveries, replies, meetings, opt-outs, clicks ...) are written by a database
trigger on `campaign_activities` (migration 0015), because activities are written in many
places, one of them a bare psycopg connection.

`agentconnect.event_depth`, a transaction-local setting, carries how many automation steps
led to the change; the automation runner sets it (set_depth) before it acts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The documented events (docs/CRM_API_GUIDE.md, "Outbound webhooks"). The first eleven are the
# issue's; the others are what automation triggers listen to, and can be subscribed to too.
EVENT_TYPES = (
    "lead.created",
    "lead.stage_changed",
    "lead.qualified",
    "lead.assigned",
    "contact.opted_out",
    "campaign.started",
    "campaign.completed",
    "message.delivered",
    "message.replied",
    "meeting.scheduled",
    "deal.won",
    "lead.disqualified",
    "lead.score_changed",
    "contact.created",
    "enrollment.completed",
    "enrollment.goal_achieved",
    "activity.recorded",
    "automation.triggered",
)
PING = "webhook.ping"

DEPTH_SQL = "coalesce(nullif(current_setting('agentconnect.event_depth', true), ''), '0')::smallint"

LEAD_JSON = """jsonb_build_object(
    'id', l.id, 'contact_id', l.contact_id, 'title', l.title, 'stage', l.stage,
    'previous_stage', l.previous_stage, 'qualification_status', l.qualification_status,
    'score', l.score, 'deal_value', l.deal_value, 'currency', l.currency,
    'assigned_to', l.assigned_to, 'source', l.source, 'stage_changed_at', l.stage_changed_at,
    'created_at', l.created_at, 'updated_at', l.updated_at)"""

CONTACT_JSON = """jsonb_build_object(
    'id', c.id, 'email', c.email, 'phone', c.phone, 'first_name', c.first_name,
    'last_name', c.last_name, 'company_name', c.company_name, 'lead_source', c.lead_source,
    'lifecycle_stage', c.lifecycle_stage, 'opt_in_status', c.opt_in_status,
    'do_not_contact', c.do_not_contact, 'tags', c.tags, 'lead_score', c.lead_score,
    'created_at', c.created_at)"""

CAMPAIGN_JSON = """jsonb_build_object(
    'id', k.id, 'name', k.name, 'campaign_type', k.campaign_type, 'status', k.status,
    'goal_type', k.goal_type, 'started_at', k.started_at, 'completed_at', k.completed_at)"""

_LEAD_EVENTS = f"""
INSERT INTO events (id, company_id, event_type, lead_id, contact_id, payload, depth)
SELECT uuid_v7(), l.company_id, CAST(:event_type AS text), l.id, l.contact_id,
       jsonb_build_object('lead', {LEAD_JSON})
       || CASE WHEN CAST(:event_type AS text) = 'lead.stage_changed'
               THEN jsonb_build_object('from_stage', l.previous_stage, 'to_stage', l.stage)
               ELSE '{{}}'::jsonb END
       || CAST(:extra AS jsonb) || coalesce(x.extra, '{{}}'::jsonb),
       {DEPTH_SQL}
FROM unnest(CAST(:ids AS uuid[]), CAST(:extras AS jsonb[])) WITH ORDINALITY AS x(id, extra, n)
JOIN leads AS l ON l.company_id = :company_id AND l.id = x.id
WHERE event_wanted(CAST(:company_id AS uuid), CAST(:event_type AS text))
ORDER BY x.n
"""  # noqa: S608 - constant fragments, values bound

_CONTACT_EVENTS = f"""
INSERT INTO events (id, company_id, event_type, contact_id, payload, depth)
SELECT uuid_v7(), c.company_id, CAST(:event_type AS text), c.id,
       jsonb_build_object('contact', {CONTACT_JSON}) || CAST(:extra AS jsonb), {DEPTH_SQL}
FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS x(id, n)
JOIN contacts AS c ON c.company_id = :company_id AND c.id = x.id
WHERE event_wanted(CAST(:company_id AS uuid), CAST(:event_type AS text))
ORDER BY x.n
"""  # noqa: S608 - constant fragments, values bound

# Campaign completion is found across companies by the engine: the company comes from the row.
_CAMPAIGN_EVENTS = f"""
INSERT INTO events (id, company_id, event_type, payload, depth)
SELECT uuid_v7(), k.company_id, CAST(:event_type AS text),
       jsonb_build_object('campaign', {CAMPAIGN_JSON}), {DEPTH_SQL}
FROM campaigns AS k
WHERE k.id = ANY(CAST(:ids AS uuid[])) AND (CAST(:company_id AS uuid) IS NULL
                                            OR k.company_id = CAST(:company_id AS uuid))
  AND event_wanted(k.company_id, CAST(:event_type AS text))
ORDER BY k.id
"""  # noqa: S608 - constant fragments, values bound

_ONE_EVENT = f"""
INSERT INTO events (id, company_id, event_type, lead_id, contact_id, payload, depth)
VALUES (:id, :company_id, :event_type, :lead_id, :contact_id, CAST(:payload AS jsonb), {DEPTH_SQL})
"""  # noqa: S608 - constant fragments, values bound


def _json(value: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(value or {}), default=str)


async def emit_lead_events(
    session: AsyncSession,
    company_id: uuid.UUID,
    event_type: str,
    lead_ids: Sequence[uuid.UUID],
    *,
    extra: Mapping[str, Any] | None = None,
    per_lead: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """One event per lead (in the order given): `{"lead": {...}, **extra, **per_lead[i]}`."""
    if not lead_ids:
        return
    extras = [_json(e) for e in per_lead] if per_lead is not None else [None] * len(lead_ids)
    await session.execute(
        text(_LEAD_EVENTS),
        {"company_id": company_id, "event_type": event_type, "ids": list(lead_ids),
         "extras": extras, "extra": _json(extra)},
    )  # fmt: skip


async def emit_contact_events(
    session: AsyncSession,
    company_id: uuid.UUID,
    event_type: str,
    contact_ids: Sequence[uuid.UUID],
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    if not contact_ids:
        return
    await session.execute(
        text(_CONTACT_EVENTS),
        {"company_id": company_id, "event_type": event_type, "ids": list(contact_ids),
         "extra": _json(extra)},
    )  # fmt: skip


async def emit_campaign_events(
    session: AsyncSession,
    event_type: str,
    campaign_ids: Sequence[uuid.UUID],
    company_id: uuid.UUID | None = None,
) -> None:
    if not campaign_ids:
        return
    await session.execute(
        text(_CAMPAIGN_EVENTS),
        {"event_type": event_type, "ids": list(campaign_ids), "company_id": company_id},
    )


async def emit(
    session: AsyncSession,
    company_id: uuid.UUID,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    lead_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """One event with a payload built by the caller."""
    event_id = uuid.uuid4()
    await session.execute(
        text(_ONE_EVENT),
        {"id": event_id, "company_id": company_id, "event_type": event_type,
         "lead_id": lead_id, "contact_id": contact_id, "payload": _json(payload)},
    )  # fmt: skip
    return event_id


async def emit_scoring_events(
    session: AsyncSession,
    company_id: uuid.UUID,
    changes: Sequence[tuple[uuid.UUID, int | None, str | None, int, str]],
) -> None:
    """What a scoring pass changed, as (lead, old score, old status, score, status):
    `lead.score_changed` for each new score, `lead.qualified` / `lead.disqualified` for each
    new status."""
    scored = [c for c in changes if c[1] != c[3]]
    await emit_lead_events(
        session, company_id, "lead.score_changed", [c[0] for c in scored],
        per_lead=[{"previous_score": c[1], "score": c[3]} for c in scored],
    )  # fmt: skip
    for status in ("qualified", "disqualified"):
        moved = [c for c in changes if c[4] == status and c[2] != status]
        await emit_lead_events(
            session, company_id, f"lead.{status}", [c[0] for c in moved],
            per_lead=[{"score": c[3], "previous_status": c[2]} for c in moved],
        )  # fmt: skip


async def set_depth(session: AsyncSession, depth: int) -> None:
    """Mark what this transaction does from now on as `depth` automation steps deep."""
    await session.execute(
        text("SELECT set_config('agentconnect.event_depth', :depth, true)"), {"depth": str(depth)}
    )
