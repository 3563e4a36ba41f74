"""Inbound email events (bounce, complaint, delivered, reply): stored once, then applied.

Order rules, so retried and out-of-order callbacks are harmless:

- every event is stored in `inbound_events` by (provider, company-qualified event id) first;
  one already there is a duplicate and does nothing;
- `delivered` moves a delivery from `sending`/`sent` only: a late `delivered` after `bounced`
  changes nothing;
- `bounce` moves it from `sending`/`sent`/`delivered`: a bounce report may follow the receiving
  server's acceptance (an asynchronous bounce, RFC 3464 DSN), so it wins over `delivered`;
- a hard bounce suppresses the address, a complaint suppresses it and opts the contact out;
- a reply records `email_replied`, adds what the contact wrote (not the message it quotes) to
  the campaign's e-mail conversation with the contact, where the intent detector reads it,
  reaches `reply` goals and schedules a new score.

An event whose Message-ID matches no delivery of the company is stored and otherwise ignored.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.email_reply_text import strip_quoted
from agentconnect.conversations import service as conversations
from agentconnect.delivery.goals import achieve_goal
from agentconnect.models import (
    ActivityType,
    Company,
    ConversationChannel,
    DeliveryStatus,
    GoalType,
    InboundEvent,
    MessageType,
    Suppression,
    SuppressionReason,
)
from agentconnect.scoring.jobs import schedule_rescore
from agentconnect.tracking import service as tracking
from agentconnect.tracking.repository import (
    DeliveryRef,
    DeliveryRepository,
    TrackingActivities,
    find_delivery_by_token,
)
from agentconnect.tracking.tokens import TokenKind, read_token

EventType = Literal["bounce", "complaint", "delivered", "reply"]
# The subject of the List-Unsubscribe mailto: address that compose_email writes.
_MAILTO_UNSUBSCRIBE = re.compile(r"(?:re:\s*)?unsubscribe-([A-Za-z0-9_-]{40,64})", re.I)
_KEEP_TEXT = 2000


@dataclass(frozen=True)
class EmailEvent:
    id: str
    type: EventType
    message_id: str | None = None
    recipient: str | None = None
    bounce_type: Literal["hard", "soft"] | None = None
    reason: str | None = None
    occurred_at: datetime | None = None
    sender: str | None = None
    subject: str | None = None
    text: str | None = None
    payload: dict[str, Any] | None = None


@dataclass
class Outcome:
    received: int = 0
    duplicates: int = 0
    matched: int = 0


def normalize_message_id(value: str | None) -> str | None:
    """`<abc@host>` → `abc@host`, the form deliveries keep; None for an empty value."""
    if value is None:
        return None
    stripped = value.strip().strip("<>").strip()
    return stripped or None


async def company_exists(session: AsyncSession, company_id: uuid.UUID) -> bool:
    return (await session.scalar(select(Company.id).where(Company.id == company_id))) is not None


async def _store(
    session: AsyncSession, company_id: uuid.UUID, provider: str, events: list[EmailEvent]
) -> set[str]:
    """Insert every event once; the ids that were new."""
    if not events:
        return set()
    rows = [
        {
            "id": uuid.uuid4(),
            "provider": provider,
            # Event ids come from the caller; qualified by company, one company's ids can never
            # shadow another's.
            "event_id": f"{company_id}:{event.id}",
            "company_id": company_id,
            "kind": event.type,
            "payload": event.payload or {},
        }
        for event in events
    ]
    stmt = (
        insert(InboundEvent)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(InboundEvent.event_id)
    )
    prefix = len(str(company_id)) + 1
    return {event_id[prefix:] for event_id in (await session.scalars(stmt)).all()}


async def _suppress(
    session: AsyncSession,
    company_id: uuid.UUID,
    address: str,
    reason: SuppressionReason,
    details: dict[str, Any],
) -> None:
    stmt = insert(Suppression).values(
        company_id=company_id,
        channel=MessageType.EMAIL,
        address=address.strip().lower(),
        reason=reason,
        details=details,
    )
    if reason is SuppressionReason.COMPLAINT:
        # A complaint is the stronger reason: it replaces a bounce's.
        stmt = stmt.on_conflict_do_update(
            index_elements=["company_id", "channel", "address"],
            set_={"reason": reason, "details": details},
        )
    else:
        stmt = stmt.on_conflict_do_nothing()
    await session.execute(stmt)


async def _mailto_unsubscribe(
    session: AsyncSession, secret: str, company_id: uuid.UUID, event: EmailEvent
) -> bool:
    """A message sent to the List-Unsubscribe mailto: address; True when it was one."""
    match = _MAILTO_UNSUBSCRIBE.fullmatch((event.subject or "").strip())
    if match is None:
        return False
    token = read_token(secret, match.group(1), TokenKind.UNSUBSCRIBE)
    if token is None:
        return False
    ref = await find_delivery_by_token(session, token.delivery_id)
    # Another company's token in this company's webhook is ignored.
    if ref is None or ref.company_id != company_id:
        return False
    await tracking.unsubscribe(session, ref, method="mailto")
    return True


async def _apply(session: AsyncSession, ref: DeliveryRef, event: EmailEvent) -> None:
    deliveries = DeliveryRepository(session, ref.company_id)
    activities = TrackingActivities(session, ref.company_id)
    when = event.occurred_at or datetime.now(UTC)
    meta: dict[str, Any] = {"event_id": event.id}
    if event.type == "delivered":
        moved = await deliveries.move_status(
            ref.id, DeliveryStatus.DELIVERED, (DeliveryStatus.SENDING, DeliveryStatus.SENT),
            delivered_at=when,
        )  # fmt: skip
        if moved:
            activities.record(ref, ActivityType.EMAIL_DELIVERED, meta, when)
    elif event.type == "bounce":
        meta |= {"bounce_type": event.bounce_type or "hard", "reason": event.reason}
        moved = await deliveries.move_status(
            ref.id,
            DeliveryStatus.BOUNCED,
            (DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
            failed_at=when,
            last_error=(event.reason or "bounced")[:_KEEP_TEXT],
        )
        if moved:
            activities.record(ref, ActivityType.EMAIL_BOUNCED, meta, when)
        if event.bounce_type != "soft":
            await _suppress(
                session, ref.company_id, ref.to_address, SuppressionReason.HARD_BOUNCE,
                {"delivery_id": str(ref.id), "reason": event.reason},
            )  # fmt: skip
    elif event.type == "complaint":
        await _suppress(
            session, ref.company_id, ref.to_address, SuppressionReason.COMPLAINT,
            {"delivery_id": str(ref.id)},
        )  # fmt: skip
        await tracking.complain(session, ref, meta)
    else:
        meta |= {
            "from": event.sender,
            "subject": event.subject,
            "text": (event.text or "")[:_KEEP_TEXT],
        }
        activities.record(ref, ActivityType.EMAIL_REPLIED, meta, when)
        await session.flush()
        written = strip_quoted(event.text or "")
        if written:
            reply = conversations.Reply(
                contact_id=ref.contact_id,
                lead_id=ref.lead_id,
                channel=ConversationChannel.EMAIL.value,
                thread=str(ref.campaign_id),  # a campaign's e-mails are one conversation
                text=written,
                at=when,
                details={"subject": event.subject},
            )
            await conversations.record_reply(session, ref.company_id, reply)  # rescores too
        else:
            await schedule_rescore(session, ref.company_id, [ref.contact_id])
        await achieve_goal(
            session, ref.company_id, ref.contact_id, GoalType.REPLY, occurred_at=when
        )
    await session.flush()


async def receive(
    session: AsyncSession,
    secret: str,
    company_id: uuid.UUID,
    provider: str,
    events: list[EmailEvent],
) -> Outcome:
    """Store each event once and apply the new ones, in the order they came."""
    outcome = Outcome(received=len(events))
    new_ids = await _store(session, company_id, provider, events)
    fresh: list[EmailEvent] = []
    for event in events:
        if event.id in new_ids:
            new_ids.discard(event.id)  # a repeat within the same request is a duplicate too
            fresh.append(event)
    outcome.duplicates = len(events) - len(fresh)
    headers = [h for e in fresh if (h := normalize_message_id(e.message_id))]
    refs = await DeliveryRepository(session, company_id).by_message_ids(headers)
    for event in fresh:
        if event.type == "reply" and await _mailto_unsubscribe(session, secret, company_id, event):
            outcome.matched += 1
            continue
        ref = refs.get(normalize_message_id(event.message_id) or "")
        if ref is None:
            continue
        outcome.matched += 1
        await _apply(session, ref, event)
    return outcome
