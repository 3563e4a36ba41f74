"""What happens on a campaign's voice call, one Twilio webhook at a time.

The sender placed the call (channels/twilio_voice.py). From then on:

- Twilio fetches TwiML when the callee picks up (`twiml`): a call session (a conversation keyed
  by the CallSid) is opened and the AI agent's first turn — the greeting inside a speech
  `<Gather>` — is played. Without a `call_flow_config` the step's script is read instead.
- Asynchronous answering-machine detection reports what answered (`machine_detected`): a
  machine, once its greeting has ended (`DetectMessageEnd`), gets the step's voicemail — the
  live call is redirected to it through the REST API — and `voicemail_left` is recorded.
- Each `<Gather>` posts what the callee said (`speech`): the agent answers with its next turn;
  both turns are stored on the session, the answers go into the lead's `qualification_data`,
  and a booked meeting is recorded as `meeting_scheduled`.
- Status callbacks (`status`) become activities — answered, completed (with its duration),
  busy, no answer, failed — and move the delivery forward, never back.
- Recordings (`recording`) are referenced on the session.

Every callback may come twice or out of order: each is stored once in `inbound_events`
(provider `twilio`, the CallSid and what happened) before it changes anything.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import Gather, VoiceResponse

from agentconnect.agent.base import Agent, Turn
from agentconnect.agent.flow import CallFlowConfig
from agentconnect.agent.rules import RuleAgent
from agentconnect.channels.base import ProviderError
from agentconnect.channels.twilio_client import TwilioAccount
from agentconnect.conversations.service import detect_intents
from agentconnect.delivery import timing
from agentconnect.delivery.context import render_context
from agentconnect.delivery.renderer import render
from agentconnect.models import (
    ActivityType,
    Campaign,
    CampaignActivity,
    Company,
    Contact,
    Conversation,
    ConversationChannel,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    Lead,
)
from agentconnect.models.delivery import DeliveryContent
from agentconnect.scoring.jobs import schedule_rescore

log = logging.getLogger(__name__)

PROVIDER = "twilio"
MACHINE_ANSWERS = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
# Where a call is: a callback only ever moves it to a later rank.
_CALL_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
}
_CALL_ACTIVITY = {
    "in-progress": ActivityType.CALL_ANSWERED,
    "completed": ActivityType.CALL_COMPLETED,
    "busy": ActivityType.CALL_BUSY,
    "no-answer": ActivityType.CALL_NO_ANSWER,
    "failed": ActivityType.CALL_FAILED,
    "canceled": ActivityType.CALL_FAILED,
}
_GOODBYE = "Thank you. Goodbye."


@dataclass(frozen=True)
class CallContext:
    """The delivery a call belongs to, with what its TwiML is made from."""

    delivery: Delivery
    campaign: Campaign
    contact: Contact
    lead: Lead | None
    company: Company
    content: DeliveryContent | None = None

    @property
    def body_text(self) -> str:
        return self.content.body_text if self.content is not None else ""

    @property
    def details(self) -> dict[str, Any]:
        return (self.content.details if self.content is not None else None) or {}

    def render(self, template: str) -> str:
        return render(template, render_context(self.contact, self.lead, self.company))


def default_agent() -> Agent:
    return RuleAgent()


async def load_call(
    session: AsyncSession, company_id: uuid.UUID, delivery_id: uuid.UUID
) -> CallContext | None:
    delivery = await session.scalar(
        select(Delivery).where(
            Delivery.company_id == company_id,
            Delivery.id == delivery_id,
            Delivery.channel == "voice",
        )
    )
    if delivery is None:
        return None
    campaign = await session.get(Campaign, delivery.campaign_id)
    contact = await session.get(Contact, delivery.contact_id)
    company = await session.get(Company, company_id)
    if campaign is None or contact is None or company is None:
        return None
    lead = await _lead_of(session, company_id, delivery)
    content = await session.get(DeliveryContent, delivery.id)
    return CallContext(delivery, campaign, contact, lead, company, content)


async def _lead_of(session: AsyncSession, company_id: uuid.UUID, delivery: Delivery) -> Lead | None:
    """The enrollment's lead, else the contact's newest: the one the call qualifies."""
    stmt = select(Lead).where(Lead.company_id == company_id)
    if delivery.lead_id is not None:
        found: Lead | None = await session.scalar(stmt.where(Lead.id == delivery.lead_id))
        if found is not None:
            return found
    newest: Lead | None = await session.scalar(
        stmt.where(Lead.contact_id == delivery.contact_id).order_by(Lead.created_at.desc()).limit(1)
    )
    return newest


async def first_time(
    session: AsyncSession, company_id: uuid.UUID, event_id: str, kind: str, form: dict[str, str]
) -> bool:
    """Store the callback once; False when it was stored before (a retry: do nothing)."""
    stmt = (
        insert(InboundEvent)
        .values(
            id=uuid.uuid4(),
            provider=PROVIDER,
            event_id=f"{company_id}:{event_id}",
            company_id=company_id,
            kind=kind,
            payload=form,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(InboundEvent.id)
    )
    return (await session.scalar(stmt)) is not None


def _record(
    session: AsyncSession,
    call: CallContext,
    kind: ActivityType,
    details: dict[str, Any],
    when: datetime,
) -> None:
    delivery = call.delivery
    session.add(
        CampaignActivity(
            company_id=delivery.company_id,
            campaign_id=delivery.campaign_id,
            contact_id=delivery.contact_id,
            lead_id=call.lead.id if call.lead is not None else delivery.lead_id,
            message_id=delivery.message_id,
            variant=delivery.variant,
            activity_type=kind,
            occurred_at=when,
            details={"delivery_id": str(delivery.id), **details},
        )
    )


# --- the call session ---------------------------------------------------------------------------


def flow_of(call: CallContext, transfer_number: str | None) -> CallFlowConfig | None:
    """The campaign's call flow with every text personalised for this contact, or None when
    the campaign has none (the step's script is read instead). A flow without its own
    transfer number puts callers through to the company's (Twilio settings)."""
    config = call.campaign.call_flow_config
    if config is None:
        return None
    if transfer_number and not config.get("transfer_number"):
        config = {**config, "transfer_number": transfer_number}
    try:
        flow = CallFlowConfig.model_validate(config)
    except ValidationError:
        # Stored before flows were validated: read the script rather than fail the call.
        log.warning("campaign %s has an invalid call_flow_config", call.campaign.id)
        return None
    return _rendered(flow, call)


def _rendered(flow: CallFlowConfig, call: CallContext) -> CallFlowConfig:
    """The flow with its texts personalised. Not validated again: a valid template can
    render empty for a contact without the value (`{{first_name}}`), and a call must go on."""
    texts = {
        name: call.render(value)
        for name, value in flow.model_dump().items()
        if isinstance(value, str) and name not in ("voice", "language", "transfer_number")
    }
    questions = [q.model_copy(update={"prompt": call.render(q.prompt)}) for q in flow.questions]
    return flow.model_copy(update={**texts, "questions": questions})


async def open_session(
    session: AsyncSession, call: CallContext, call_sid: str, now: datetime
) -> Conversation:
    """The call's conversation, created once however often Twilio fetches the TwiML."""
    delivery = call.delivery
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "company_id": delivery.company_id,
        "contact_id": delivery.contact_id,
        "lead_id": call.lead.id if call.lead is not None else None,
        "channel": ConversationChannel.CALL,
        "started_at": now,
        "messages": [],
        "external_id": call_sid,
        "details": {
            "delivery_id": str(delivery.id),
            "campaign_id": str(delivery.campaign_id),
            "call_sid": call_sid,
        },
    }
    stmt = (
        insert(Conversation)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["company_id", "external_id"],
            index_where=text("external_id IS NOT NULL"),
        )
    )
    await session.execute(stmt)
    conversation = await call_session(session, delivery.company_id, call_sid, lock=True)
    assert conversation is not None  # inserted above or by an earlier request
    return conversation


async def call_session(
    session: AsyncSession, company_id: uuid.UUID, call_sid: str, *, lock: bool = False
) -> Conversation | None:
    stmt = select(Conversation).where(
        Conversation.company_id == company_id, Conversation.external_id == call_sid
    )
    if lock:
        # Twilio may post the speech result and the AMD verdict at once: one at a time.
        stmt = stmt.with_for_update()
    found: Conversation | None = await session.scalar(
        stmt.execution_options(populate_existing=True)
    )
    return found


async def _held_session(
    session: AsyncSession, call: CallContext, call_sid: str, now: datetime
) -> Conversation:
    """The call's session, locked for this callback; opened if Twilio's first request for the
    call has not arrived yet (callbacks may come in any order)."""
    conversation = await call_session(session, call.delivery.company_id, call_sid, lock=True)
    return conversation or await open_session(session, call, call_sid, now)


def _tz(call: CallContext) -> Any:
    fallback = call.campaign.timezone or call.company.default_timezone
    return timing.zone(call.contact.timezone, fallback)


def _say(response: VoiceResponse | Gather, words: str, flow: CallFlowConfig | None) -> None:
    options: dict[str, str] = {}
    if flow is not None:
        options["language"] = flow.language
        if flow.voice:
            options["voice"] = flow.voice
    response.say(words, **options)


def turn_twiml(turn: Turn, flow: CallFlowConfig, gather_url: str) -> str:
    """The agent's turn as TwiML: a question inside a speech `<Gather>` (when the callee
    says nothing, the call comes back to the same URL without speech, and the agent
    reprompts), a transfer, or the last words."""
    response = VoiceResponse()
    if turn.action == "gather":
        gather = response.gather(
            input="speech",
            action=gather_url,
            method="POST",
            speech_timeout="auto",
            language=flow.language,
        )
        _say(gather, turn.say, flow)
        response.redirect(gather_url, method="POST")
    elif turn.action == "transfer" and turn.transfer_to:
        _say(response, turn.say, flow)
        response.dial(turn.transfer_to)
    else:
        _say(response, turn.say, flow)
        response.hangup()
    return str(response)


def script_twiml(call: CallContext) -> str:
    """A call without a flow: read the step's script, then hang up."""
    response = VoiceResponse()
    response.say(call.body_text or _GOODBYE)
    response.hangup()
    return str(response)


def voicemail_twiml(call: CallContext) -> str:
    """The step's voicemail, after the beep: its audio, or its message in the flow's voice."""
    details = call.details
    response = VoiceResponse()
    if details.get("voicemail_audio_url"):
        response.play(details["voicemail_audio_url"])
    else:
        message = details.get("voicemail_message") or call.body_text or _GOODBYE
        _say(response, message, flow_of(call, None))
    response.hangup()
    return str(response)


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def _append(conversation: Conversation, role: str, words: str, now: datetime) -> None:
    conversation.messages = [
        *conversation.messages,
        {"role": role, "text": words, "at": now.isoformat()},
    ]


def _remember(conversation: Conversation, turn: Turn, now: datetime) -> None:
    details = dict(conversation.details or {})
    details["agent_state"] = turn.state
    details["answers"] = turn.answers
    if turn.outcome is not None:
        details["outcome"] = turn.outcome
        details["ended_at"] = now.isoformat()
    conversation.details = details


def _answer(conversation: Conversation, turn: Turn, flow: CallFlowConfig, gather_url: str) -> str:
    """The turn's TwiML, numbered: its Gather posts back with `turn=N`, so a repeated post
    of an answer already taken (Twilio retries) gets the same TwiML again instead of moving
    the conversation on twice."""
    details = dict(conversation.details or {})
    number = int(details.get("turn", 0)) + 1
    twiml = turn_twiml(turn, flow, f"{gather_url}&turn={number}")
    conversation.details = {**details, "turn": number, "last_twiml": twiml}
    return twiml


async def start(
    session: AsyncSession,
    call: CallContext,
    form: dict[str, str],
    gather_url: str,
    agent: Agent,
    now: datetime,
    *,
    transfer_number: str | None = None,
) -> str:
    """TwiML for a call that was just answered."""
    call_sid = form.get("CallSid", "")
    conversation = await open_session(session, call, call_sid, now)
    if form.get("AnsweredBy") in MACHINE_ANSWERS:  # synchronous detection said so already
        await _leave_voicemail(session, call, conversation, form, now)
        return voicemail_twiml(call)
    flow = flow_of(call, transfer_number)
    if flow is None:
        _append(conversation, "agent", call.body_text or _GOODBYE, now)
        return script_twiml(call)
    last: str | None = (conversation.details or {}).get("last_twiml")
    if last:
        return last  # Twilio fetched the TwiML again (a retry): the same words again
    turn = agent.begin(flow, now=now, tz=_tz(call))
    _append(conversation, "agent", turn.say, now)
    _remember(conversation, turn, now)
    return _answer(conversation, turn, flow, gather_url)


async def speech(
    session: AsyncSession,
    call: CallContext,
    form: dict[str, str],
    gather_url: str,
    agent: Agent,
    now: datetime,
    *,
    transfer_number: str | None = None,
    answering: int | None = None,
) -> str:
    """The callee answered (or stayed silent) turn `answering`: the agent's next turn."""
    call_sid = form.get("CallSid", "")
    conversation = await _held_session(session, call, call_sid, now)
    details = conversation.details or {}
    if answering is not None and answering != details.get("turn") and details.get("last_twiml"):
        last: str = details["last_twiml"]
        return last  # an answer already taken, posted again
    flow = flow_of(call, transfer_number)
    if flow is None or details.get("outcome") or details.get("voicemail_left"):
        return hangup_twiml()
    said = (form.get("SpeechResult") or "").strip()
    confidence = _float(form.get("Confidence"))
    if said:
        _append(conversation, "contact", said, now)
    state = details.get("agent_state") or {}
    if not state:
        turn = agent.begin(flow, now=now, tz=_tz(call))
    else:
        turn = agent.reply(flow, state, said or None, now=now, tz=_tz(call), confidence=confidence)
    _append(conversation, "agent", turn.say, now)
    _remember(conversation, turn, now)
    await _store_answers(session, call, turn)
    if turn.outcome is not None:
        # The transcript is complete: what the callee said feeds the AI-intent score.
        await session.flush()
        await detect_intents(session, conversation)
    if turn.meeting_at is not None and not details.get("meeting_recorded"):
        conversation.details = {**conversation.details, "meeting_recorded": True}
        _record(
            session,
            call,
            ActivityType.MEETING_SCHEDULED,
            {"meeting_at": turn.meeting_at.isoformat(), "call_sid": call_sid, "source": "ai_agent"},
            now,
        )
    return _answer(conversation, turn, flow, gather_url)


async def _store_answers(session: AsyncSession, call: CallContext, turn: Turn) -> None:
    """Merge what the agent learnt into the lead's qualification data (nothing when the
    contact has no lead: the answers stay on the call session) and rescore the contact."""
    if call.lead is None or not turn.answers:
        return
    call.lead.qualification_data = {**(call.lead.qualification_data or {}), **turn.answers}
    await schedule_rescore(session, call.delivery.company_id, [call.delivery.contact_id])


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


# --- answering machines ---------------------------------------------------------------------


async def machine_detected(
    session: AsyncSession,
    call: CallContext,
    form: dict[str, str],
    account: TwilioAccount,
    now: datetime,
) -> None:
    """Asynchronous AMD's verdict. A machine whose greeting has ended gets the voicemail (the
    live call is redirected to it); a fax is hung up on; a person goes on with the agent."""
    call_sid = form.get("CallSid", "")
    answered_by = form.get("AnsweredBy", "unknown")
    if not await first_time(session, call.delivery.company_id, f"{call_sid}:amd", "amd", form):
        return
    conversation = await _held_session(session, call, call_sid, now)
    conversation.details = {**(conversation.details or {}), "answered_by": answered_by}
    if answered_by in MACHINE_ANSWERS:
        # Recorded only when it was played: a call that ended meanwhile left no voicemail.
        if await _redirect(account, call_sid, voicemail_twiml(call)):
            await _leave_voicemail(session, call, conversation, form, now)
    elif answered_by == "fax":
        await _redirect(account, call_sid, hangup_twiml())


async def _leave_voicemail(
    session: AsyncSession,
    call: CallContext,
    conversation: Conversation,
    form: dict[str, str],
    now: datetime,
) -> None:
    if (conversation.details or {}).get("voicemail_left"):
        return
    details = call.details
    message = details.get("voicemail_message") or call.body_text or ""
    conversation.details = {
        **(conversation.details or {}),
        "voicemail_left": True,
        "outcome": "voicemail",
    }
    _append(conversation, "agent", message or "(voicemail audio)", now)
    _record(
        session,
        call,
        ActivityType.VOICEMAIL_LEFT,
        {
            "call_sid": form.get("CallSid"),
            "answered_by": form.get("AnsweredBy"),
            "audio_url": details.get("voicemail_audio_url"),
        },
        now,
    )


async def _redirect(account: TwilioAccount, call_sid: str, twiml: str) -> bool:
    """Replace what a live call is doing (Twilio's call update with new TwiML); False when
    Twilio refused, e.g. because the call had ended meanwhile (21220)."""
    try:
        async with account.calling():
            await account.client.calls(call_sid).update_async(twiml=twiml)
    except ProviderError as error:
        log.warning("could not redirect call %s: %s", call_sid, error.reason)
        return False
    return True


# --- status callbacks and recordings ------------------------------------------------------------


async def call_status(
    session: AsyncSession, call: CallContext, form: dict[str, str], now: datetime
) -> None:
    """A call status callback: an activity per real step forward, the delivery moved on."""
    call_sid = form.get("CallSid", "")
    status = form.get("CallStatus", "")
    if status not in _CALL_RANK:
        return
    if not await first_time(
        session, call.delivery.company_id, f"{call_sid}:{status}", "call_status", form
    ):
        return
    delivery = call.delivery
    # Twilio may post two statuses of a call at once: compare and move under the row's lock.
    await session.refresh(delivery, with_for_update=True)
    current = _CALL_RANK.get(delivery.provider_status or "queued", 0)
    if _CALL_RANK[status] <= current:
        return  # late or repeated: a call never goes back
    delivery.provider_status = status
    # The callback may come before the sender recorded the call: it names the call, then.
    delivery.provider_message_id = delivery.provider_message_id or call_sid
    if status in ("in-progress", "completed") and delivery.status in (
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
    ):
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
    elif status in ("busy", "no-answer", "failed", "canceled") and delivery.status in (
        DeliveryStatus.SENDING,
        DeliveryStatus.SENT,
    ):
        delivery.status = DeliveryStatus.FAILED
        delivery.failed_at = now
        delivery.last_error = f"the call ended {status}"
    kind = _CALL_ACTIVITY.get(status)
    if kind is None:
        return
    details: dict[str, Any] = {"call_sid": call_sid, "status": status}
    if status == "completed":
        details["duration_seconds"] = _int(form.get("CallDuration"))
        conversation = await call_session(session, delivery.company_id, call_sid)
        if conversation is not None:
            outcome = (conversation.details or {}).get("outcome")
            details["outcome"] = outcome
            details["conversation_id"] = str(conversation.id)
    _record(session, call, kind, details, now)


async def recording(
    session: AsyncSession, call: CallContext, form: dict[str, str], now: datetime
) -> None:
    """Reference the recording on the call session (the audio stays with Twilio)."""
    call_sid = form.get("CallSid", "")
    recording_sid = form.get("RecordingSid", "")
    if not await first_time(
        session, call.delivery.company_id, f"{call_sid}:{recording_sid}", "recording", form
    ):
        return
    conversation = await _held_session(session, call, call_sid, now)
    details = dict(conversation.details or {})
    details["recordings"] = [
        *details.get("recordings", []),
        {
            "sid": recording_sid,
            "url": form.get("RecordingUrl"),
            "duration_seconds": _int(form.get("RecordingDuration")),
            "status": form.get("RecordingStatus"),
        },
    ]
    conversation.details = details


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
