"""What Twilio's messaging webhooks mean for the CRM: delivery reports and inbound messages.

Every verified callback is stored once in `inbound_events` before anything else happens, so a
callback Twilio repeats (it retries on timeouts) changes nothing the second time.

Status callbacks are the hot path (one per message and status: several per message sent), so
the whole write — the event, the guarded delivery update and its activity — is one statement.
Twilio does not promise the order of callbacks; statuses are ranked and never move backwards:

    queued/accepted/scheduled (0) < sending (1) < sent (2)
        < delivered = undelivered = failed = canceled (3) < read (4)

Inbound messages are a keyword (STOP and its synonyms, START/UNSTOP, HELP/INFO) or a reply.
A reply is recorded as `sms_replied`/`whatsapp_replied` (the latter is also the start of
WhatsApp's 24-hour session, which the scheduler reads), appended to the contact's
conversation on that channel (the intent detector reads it there), reaches `reply` goals and
schedules a new score.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.messaging_response import MessagingResponse

from agentconnect.conversations import service as conversations
from agentconnect.delivery.goals import achieve_goal
from agentconnect.errors import InvalidInput
from agentconnect.models import ActivityType, GoalType, MessageType

log = logging.getLogger(__name__)

PROVIDER = "twilio"
WHATSAPP_PREFIX = "whatsapp:"
# Twilio reports this code when the recipient replied STOP to the sender earlier: the carrier
# will refuse every message to them until they reply START.
UNSUBSCRIBED_RECIPIENT = "21610"

STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "accepted": 0,
    "scheduled": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
    "read": 4,
}
# A status Twilio may add later ranks below everything: stored with the event, never applied.
UNKNOWN_RANK = -1
_REACHED = frozenset({"delivered", "read"})
_NOT_REACHED = frozenset({"undelivered", "failed", "canceled"})

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
OPTED_OUT_REASON = "cancelled: the contact opted out by replying STOP"
KEEP_TEXT = 2000

# Values go into SQL parameters and JSONB: PostgreSQL refuses NUL in both, and no Twilio field
# is longer than this (a message body is at most 1,600 characters).
_MAX_FIELD = 4000
_SID = re.compile(r"[A-Za-z0-9]{2,64}")
_STATUS = re.compile(r"[a-z_]{1,32}")
_ERROR_CODE = re.compile(r"[0-9]{1,10}")
_PHONE = re.compile(r"\+?[0-9]{3,20}")


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


@dataclass(frozen=True)
class ActivityLink:
    """The campaign step an activity belongs to: the delivery the contact is answering."""

    delivery_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    variant: str | None = None


NO_LINK = ActivityLink()


def clean_form(form: dict[str, str]) -> dict[str, str]:
    """The form without NUL characters (PostgreSQL refuses them) and with bounded values."""
    return {name[:200]: value.replace("\x00", "")[:_MAX_FIELD] for name, value in form.items()}


def _missing(*names: str) -> InvalidInput:
    return InvalidInput(
        "the request lacks Twilio's fields: " + ", ".join(names),
        errors=[
            {"loc": ["body", name], "msg": "required, in Twilio's format", "type": "missing"}
            for name in names
        ],
    )


def _required(form: dict[str, str], pattern: re.Pattern[str], *names: str) -> list[str]:
    values = [form.get(name, "").strip() for name in names]
    bad = [name for name, value in zip(names, values, strict=True) if not pattern.fullmatch(value)]
    if bad:
        raise _missing(*bad)
    return values


# --- status callbacks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCallback:
    message_sid: str
    status: str
    error_code: str | None

    @classmethod
    def from_form(cls, form: dict[str, str]) -> StatusCallback:
        [sid] = _required(form, _SID, "MessageSid")
        [status] = _required(form, _STATUS, "MessageStatus")
        code = form.get("ErrorCode", "").strip()
        return cls(sid, status, code if _ERROR_CODE.fullmatch(code) else None)

    @property
    def rank(self) -> int:
        return STATUS_RANK.get(self.status, UNKNOWN_RANK)

    @property
    def target(self) -> str | None:
        """The delivery status this callback moves a `sending`/`sent` delivery to, if any."""
        if self.status in _REACHED:
            return "delivered"
        if self.status in _NOT_REACHED:
            return "failed"
        return None

    @property
    def unsubscribed_recipient(self) -> bool:
        return self.target == "failed" and self.error_code == UNSUBSCRIBED_RECIPIENT

    @property
    def error(self) -> str:
        if self.error_code:
            return f"Twilio error {self.error_code}"
        return f"Twilio reported the message {self.status}"


# One statement, one round trip. `ev` stores the callback (a repeat inserts nothing, and then
# nothing else happens); `old` locks the delivery and reads its state as it is now, so two
# callbacks of one message applied at once take turns and the second sees the first's result;
# `upd` applies the forward-only rules; `act` records the transition, if there was one.
_RECORD_STATUS = text("""
WITH ev AS (
    INSERT INTO inbound_events (id, provider, event_id, company_id, kind, payload)
    VALUES (gen_random_uuid(), 'twilio', :event_id, :company_id, 'message_status',
            CAST(:payload AS jsonb))
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id
), old AS (
    SELECT d.id, d.campaign_id, d.contact_id, d.lead_id, d.message_id, d.variant, d.channel,
           d.status IN ('sending', 'sent') AND CAST(:target AS varchar) IS NOT NULL AS moves,
           CASE d.provider_status
               WHEN 'read' THEN 4
               WHEN 'delivered' THEN 3 WHEN 'undelivered' THEN 3
               WHEN 'failed' THEN 3 WHEN 'canceled' THEN 3
               WHEN 'sent' THEN 2
               WHEN 'sending' THEN 1
               WHEN 'queued' THEN 0 WHEN 'accepted' THEN 0 WHEN 'scheduled' THEN 0
               ELSE -1
           END AS old_rank
    FROM deliveries AS d
    WHERE d.company_id = :company_id
      AND (d.provider_message_id = :sid
           -- Twilio can report before the sender has recorded the SID: the callback URL names
           -- the delivery, whose SID this callback then supplies.
           OR (d.id = CAST(:delivery_id AS uuid) AND d.provider_message_id IS NULL))
      AND d.channel IN ('sms', 'whatsapp') AND EXISTS (SELECT FROM ev)
    FOR UPDATE
), upd AS (
    UPDATE deliveries AS d
    SET provider_status = CASE WHEN :rank > o.old_rank THEN CAST(:status AS varchar)
                               ELSE d.provider_status END,
        status = CASE WHEN o.moves THEN CAST(:target AS varchar) ELSE d.status END,
        provider_message_id = coalesce(d.provider_message_id, CAST(:sid AS varchar)),
        delivered_at = CASE WHEN o.moves AND :target = 'delivered' THEN now()
                            ELSE d.delivered_at END,
        failed_at = CASE WHEN o.moves AND :target = 'failed' THEN now() ELSE d.failed_at END,
        last_error = CASE WHEN o.moves AND :target = 'failed' THEN CAST(:error AS text)
                          ELSE d.last_error END,
        updated_at = now()
    FROM old AS o
    WHERE d.id = o.id AND (o.moves OR :rank > o.old_rank OR d.provider_message_id IS NULL)
    RETURNING o.*, d.status AS new_status
), act AS (
    INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, lead_id,
                                     message_id, variant, activity_type, occurred_at, metadata)
    SELECT gen_random_uuid(), :company_id, u.campaign_id, u.contact_id, u.lead_id, u.message_id,
           u.variant, t.kind, now(),
           jsonb_strip_nulls(jsonb_build_object(
               'delivery_id', u.id, 'message_sid', CAST(:sid AS text),
               'status', CAST(:status AS text), 'error_code', CAST(:error_code AS text)))
    FROM upd AS u
    CROSS JOIN LATERAL (SELECT CASE
        -- WhatsApp's read receipt implies delivery: a read first stands for both, and the
        -- delivered report that follows it writes nothing.
        WHEN :status = 'read' AND u.channel = 'whatsapp'
             AND (u.moves OR (u.old_rank < 4 AND u.new_status = 'delivered'))
            THEN 'whatsapp_read'
        WHEN u.moves AND :target = 'delivered' THEN u.channel || '_delivered'
        WHEN u.moves AND :target = 'failed' THEN u.channel || '_failed'
    END AS kind) AS t
    WHERE t.kind IS NOT NULL
)
SELECT EXISTS (SELECT FROM ev) AS stored
""")


_ALREADY_STORED = text("""
SELECT EXISTS (SELECT FROM inbound_events WHERE provider = 'twilio' AND event_id = :event_id)
""")

_DELIVERIES_BY_SID = text("""
SELECT id, campaign_id, contact_id, lead_id, message_id, variant, channel, to_address
FROM deliveries
WHERE company_id = :company_id AND channel IN ('sms', 'whatsapp')
  AND (provider_message_id = :sid
       -- reported before the sender recorded the SID: the delivery the URL names
       OR (id = CAST(:delivery_id AS uuid) AND provider_message_id IS NULL))
""")


async def record_status(
    session: AsyncSession,
    company_id: uuid.UUID,
    form: dict[str, str],
    delivery_id: uuid.UUID | None = None,
) -> bool:
    """Apply one status callback; False when it was a repeat (nothing changed).

    Each statement is atomic on its own, so the caller may run this in autocommit mode."""
    callback, params = status_parameters(company_id, form, delivery_id)
    if callback.unsubscribed_recipient:
        # Before the callback is stored: should the process stop between the two, Twilio's
        # retry still finds the callback new and the opt-out is not lost.
        await _opt_out_unsubscribed_recipient(
            session, company_id, callback, params["event_id"], delivery_id
        )
    return bool((await session.execute(_RECORD_STATUS, params)).scalar_one())


def status_parameters(
    company_id: uuid.UUID, form: dict[str, str], delivery_id: uuid.UUID | None
) -> tuple[StatusCallback, dict[str, Any]]:
    """The callback read from its form (InvalidInput when Twilio's fields are missing), and
    the parameters of the statement that records it."""
    form = clean_form(form)
    callback = StatusCallback.from_form(form)
    return callback, {
        "event_id": f"{company_id}:{callback.message_sid}:{callback.status}",
        "company_id": company_id,
        "payload": json.dumps(form),
        "sid": callback.message_sid,
        "status": callback.status,
        "rank": callback.rank,
        "target": callback.target,
        "error": callback.error,
        "error_code": callback.error_code,
        "delivery_id": delivery_id,
    }


# The same statement in psycopg's own placeholder style, for the status fast path
# (twilio_status_fastpath.py), which runs it on a bare connection.
RECORD_STATUS_SQL = re.sub(r"(?<![:\w]):([a-z_]+)", r"%(\1)s", _RECORD_STATUS.text)


async def _opt_out_unsubscribed_recipient(
    session: AsyncSession,
    company_id: uuid.UUID,
    callback: StatusCallback,
    event_id: str,
    delivery_id: uuid.UUID | None,
) -> None:
    """Twilio refused the message because the recipient had replied STOP to our number: the
    same fact as a STOP we received, recorded the same way (once: a repeat of an old callback
    must not undo a START the contact sent since)."""
    if (await session.execute(_ALREADY_STORED, {"event_id": event_id})).scalar_one():
        return
    params = {"company_id": company_id, "sid": callback.message_sid, "delivery_id": delivery_id}
    for delivery in (await session.execute(_DELIVERIES_BY_SID, params)).all():
        link = ActivityLink(
            delivery.id,
            delivery.campaign_id,
            delivery.message_id,
            delivery.lead_id,
            delivery.variant,
        )
        await opt_out(
            session,
            company_id,
            MessageType(delivery.channel),
            phone_number(delivery.to_address),
            delivery.contact_id,
            link,
            {"message_sid": callback.message_sid, "error_code": callback.error_code},
        )


# --- opting out and in --------------------------------------------------------------------------

# The suppression is what the engine checks before every send; queued deliveries are cancelled
# at once as well, so lists and counts say so without waiting for the engine's next look.
# The activity is written only when the suppression is new: a second STOP changes nothing.
_OPT_OUT = text("""
WITH sup AS (
    INSERT INTO suppressions (company_id, channel, address, reason, details)
    VALUES (:company_id, :channel, :address, 'unsubscribed', CAST(:details AS jsonb))
    ON CONFLICT (company_id, channel, address) DO NOTHING
    RETURNING address
), cancelled AS (
    UPDATE deliveries
    SET status = 'cancelled', last_error = :reason, updated_at = now()
    WHERE company_id = :company_id AND contact_id = :contact_id AND channel = :channel
      AND status = 'queued'
    RETURNING id
)
INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, lead_id, message_id,
                                 variant, activity_type, occurred_at, metadata)
SELECT gen_random_uuid(), :company_id, :campaign_id, :contact_id, :lead_id, :message_id,
       :variant, 'sms_opted_out', now(), CAST(:metadata AS jsonb)
FROM sup
WHERE CAST(:contact_id AS uuid) IS NOT NULL
""")

_OPT_IN = text("""
DELETE FROM suppressions
WHERE company_id = :company_id AND channel = :channel AND address = :address
  AND reason = 'unsubscribed'
""")


def _link_metadata(link: ActivityLink, details: dict[str, Any]) -> dict[str, Any]:
    delivery = {"delivery_id": str(link.delivery_id)} if link.delivery_id else {}
    return {**delivery, **details}


async def opt_out(
    session: AsyncSession,
    company_id: uuid.UUID,
    channel: MessageType,
    address: str,
    contact_id: uuid.UUID | None,
    link: ActivityLink,
    details: dict[str, Any],
) -> None:
    """Suppress `address` on `channel`; for a known contact, cancel its queued deliveries on
    that channel and record `sms_opted_out` (the one opt-out activity, WhatsApp's too)."""
    metadata = _link_metadata(link, {**details, "channel": channel.value})
    await session.execute(
        _OPT_OUT,
        {
            "company_id": company_id,
            "channel": channel.value,
            "address": address,
            "details": json.dumps(details),
            "reason": OPTED_OUT_REASON,
            "contact_id": contact_id,
            "campaign_id": link.campaign_id,
            "lead_id": link.lead_id,
            "message_id": link.message_id,
            "variant": link.variant,
            "metadata": json.dumps(metadata),
        },
    )


async def opt_in(
    session: AsyncSession, company_id: uuid.UUID, channel: MessageType, address: str
) -> None:
    """Lift the suppression a STOP made; one for another reason (a bounce, an admin's) stays."""
    params = {"company_id": company_id, "channel": channel.value, "address": address}
    await session.execute(_OPT_IN, params)


# --- inbound messages ---------------------------------------------------------------------------


def phone_number(address: str) -> str:
    """`whatsapp:+15551234567` → `+15551234567`, the E.164 form contacts keep."""
    return address.strip().removeprefix(WHATSAPP_PREFIX).strip()


def keyword_of(body: str) -> Keyword | None:
    """The keyword the whole message is (trimmed, any case), if it is one."""
    word = body.strip().upper()
    if word in OPT_OUT_KEYWORDS:
        return Keyword.OPT_OUT
    if word in OPT_IN_KEYWORDS:
        return Keyword.OPT_IN
    if word in HELP_KEYWORDS:
        return Keyword.HELP
    return None


@dataclass(frozen=True)
class InboundMessage:
    sid: str
    channel: MessageType
    sender: str  # the contact's number, E.164
    recipient: str  # our number, E.164
    body: str
    num_media: int

    @classmethod
    def from_form(cls, form: dict[str, str]) -> InboundMessage:
        [sid] = _required(form, _SID, "MessageSid")
        numbers = {name: phone_number(form.get(name, "")) for name in ("From", "To")}
        bad = [name for name, number in numbers.items() if not _PHONE.fullmatch(number)]
        if bad:
            raise _missing(*bad)
        media = form.get("NumMedia", "0").strip()
        return cls(
            sid=sid,
            channel=(
                MessageType.WHATSAPP
                if form["From"].strip().startswith(WHATSAPP_PREFIX)
                else MessageType.SMS
            ),
            sender=numbers["From"],
            recipient=numbers["To"],
            body=form.get("Body", ""),
            num_media=int(media) if media.isdigit() and len(media) < 4 else 0,
        )

    @property
    def keyword(self) -> Keyword | None:
        return keyword_of(self.body)


@dataclass(frozen=True)
class Sender:
    contact_id: uuid.UUID
    newest_lead_id: uuid.UUID | None


_STORE_INBOUND = text("""
INSERT INTO inbound_events (id, provider, event_id, company_id, kind, payload)
VALUES (gen_random_uuid(), 'twilio', :event_id, :company_id, 'inbound_message',
        CAST(:payload AS jsonb))
ON CONFLICT (provider, event_id) DO NOTHING
RETURNING id
""")

_FIND_SENDER = text("""
SELECT c.id,
       (SELECT l.id FROM leads AS l
        WHERE l.company_id = c.company_id AND l.contact_id = c.id
        ORDER BY l.created_at DESC LIMIT 1) AS newest_lead_id
FROM contacts AS c
WHERE c.company_id = :company_id AND c.phone = :phone
""")

# What the contact is answering: the newest message that left for them on this channel.
_LATEST_DELIVERY = text("""
SELECT id, campaign_id, message_id, lead_id, variant
FROM deliveries
WHERE company_id = :company_id AND contact_id = :contact_id AND channel = :channel
  AND sent_at IS NOT NULL
ORDER BY sent_at DESC
LIMIT 1
""")

_HELP_TEXT = text("""
SELECT name, settings ->> 'sms_help_text' AS help_text FROM companies WHERE id = :company_id
""")

_RECORD_REPLY = text("""
INSERT INTO campaign_activities (id, company_id, campaign_id, contact_id, lead_id, message_id,
                                 variant, activity_type, occurred_at, metadata)
VALUES (gen_random_uuid(), :company_id, :campaign_id, :contact_id, :lead_id, :message_id,
        :variant, :activity_type, :at, CAST(:metadata AS jsonb))
""")

EMPTY_TWIML = str(MessagingResponse())


async def _store_inbound(
    session: AsyncSession, company_id: uuid.UUID, message: InboundMessage, form: dict[str, str]
) -> bool:
    params = {
        "event_id": f"{company_id}:{message.sid}",
        "company_id": company_id,
        "payload": json.dumps(form),
    }
    return (await session.execute(_STORE_INBOUND, params)).first() is not None


async def find_sender(session: AsyncSession, company_id: uuid.UUID, phone: str) -> Sender | None:
    params = {"company_id": company_id, "phone": phone}
    row = (await session.execute(_FIND_SENDER, params)).first()
    return Sender(row.id, row.newest_lead_id) if row is not None else None


async def latest_delivery(
    session: AsyncSession, company_id: uuid.UUID, contact_id: uuid.UUID, channel: MessageType
) -> ActivityLink:
    params = {"company_id": company_id, "contact_id": contact_id, "channel": channel.value}
    row = (await session.execute(_LATEST_DELIVERY, params)).first()
    if row is None:
        return NO_LINK
    return ActivityLink(row.id, row.campaign_id, row.message_id, row.lead_id, row.variant)


async def help_twiml(session: AsyncSession, company_id: uuid.UUID) -> str:
    row = (await session.execute(_HELP_TEXT, {"company_id": company_id})).first()
    name = row.name if row is not None else "We"
    help_text = (row.help_text if row is not None else None) or (
        f"{name}: reply STOP to unsubscribe, START to subscribe again. Msg & data rates may apply."
    )
    response = MessagingResponse()
    response.message(help_text)
    return str(response)


async def _record_reply(
    session: AsyncSession,
    company_id: uuid.UUID,
    message: InboundMessage,
    sender: Sender,
    at: datetime,
) -> None:
    link = await latest_delivery(session, company_id, sender.contact_id, message.channel)
    kind = (
        ActivityType.WHATSAPP_REPLIED
        if message.channel is MessageType.WHATSAPP
        else ActivityType.SMS_REPLIED
    )
    details: dict[str, Any] = {
        "message_sid": message.sid,
        "text": message.body[:KEEP_TEXT],
        "channel": message.channel.value,
    }
    if message.num_media:
        details["num_media"] = message.num_media
    await session.execute(
        _RECORD_REPLY,
        {
            "company_id": company_id,
            "campaign_id": link.campaign_id,
            "contact_id": sender.contact_id,
            # A reply outside any campaign still belongs on the lead's timeline.
            "lead_id": link.lead_id or sender.newest_lead_id,
            "message_id": link.message_id,
            "variant": link.variant,
            "activity_type": kind.value,
            "at": at,
            "metadata": json.dumps(_link_metadata(link, details)),
        },
    )


async def _reply(
    session: AsyncSession, company_id: uuid.UUID, message: InboundMessage, sender: Sender
) -> None:
    at = datetime.now(UTC)
    await _record_reply(session, company_id, message, sender, at)
    reply = conversations.Reply(
        contact_id=sender.contact_id,
        lead_id=sender.newest_lead_id,
        channel=message.channel.value,
        thread=message.recipient,  # our number: one conversation per number the contact texts
        text=message.body,
        at=at,
        details={"provider": PROVIDER, "our_number": message.recipient},
    )
    await conversations.record_reply(session, company_id, reply)  # and schedules a new score
    await achieve_goal(session, company_id, sender.contact_id, GoalType.REPLY, occurred_at=at)


async def _apply_keyword(
    session: AsyncSession,
    company_id: uuid.UUID,
    message: InboundMessage,
    keyword: Keyword,
    sender: Sender | None,
) -> None:
    """STOP and START act on the number even when it belongs to no contact: a number that
    said STOP stays suppressed if a contact with it is created later."""
    if keyword is Keyword.OPT_OUT:
        contact_id = sender.contact_id if sender is not None else None
        link = NO_LINK
        if contact_id is not None:
            link = await latest_delivery(session, company_id, contact_id, message.channel)
        word = message.body.strip().upper()
        details = {"keyword": word, "message_sid": message.sid}
        await opt_out(
            session, company_id, message.channel, message.sender, contact_id, link, details
        )
    elif keyword is Keyword.OPT_IN:
        await opt_in(session, company_id, message.channel, message.sender)


async def receive_message(
    session: AsyncSession, company_id: uuid.UUID, form: dict[str, str]
) -> str:
    """Apply one inbound message; the TwiML to answer Twilio with (a repeat answers the same
    and changes nothing)."""
    form = clean_form(form)
    message = InboundMessage.from_form(form)
    keyword = message.keyword
    answer = await help_twiml(session, company_id) if keyword is Keyword.HELP else EMPTY_TWIML
    if not await _store_inbound(session, company_id, message, form):
        return answer
    sender = await find_sender(session, company_id, message.sender)
    if keyword is not None:
        await _apply_keyword(session, company_id, message, keyword, sender)
    elif sender is None:
        # Not a contact: we do not create contacts from inbound texts (anyone can text a
        # number); the event is kept for an operator to look at.
        log.info(
            "twilio inbound %s from a number that is no contact of company %s",
            message.sid,
            company_id,
        )
    else:
        await _reply(session, company_id, message, sender)
    return answer
