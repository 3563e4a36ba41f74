"""Conversations: stored with the intents the detector finds in the contact's words."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.conversations import schemas
from agentconnect.conversations.repository import ConversationRepository
from agentconnect.errors import NotFound
from agentconnect.models import Conversation, IntentMatch
from agentconnect.scoring import jobs
from agentconnect.scoring.intent import KeywordIntentDetector, detect_in_conversation
from agentconnect.scoring.service import load_config


@dataclass(frozen=True)
class Reply:
    """A message a contact sent back on a channel, and the thread it belongs to (what one
    conversation gathers: a phone-number pair, a campaign's e-mails)."""

    contact_id: uuid.UUID
    lead_id: uuid.UUID | None
    channel: str
    thread: str
    text: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


def _out(conversation: Conversation, matches: list[IntentMatch]) -> schemas.Conversation:
    return schemas.Conversation(
        id=conversation.id,
        contact_id=conversation.contact_id,
        channel=conversation.channel,
        started_at=conversation.started_at,
        messages=conversation.messages,
        intent_matches=[schemas.IntentMatchOut.model_validate(m) for m in matches],
        external_id=conversation.external_id,
        details={k: v for k, v in (conversation.details or {}).items() if k != "agent_state"},
        created_at=conversation.created_at,
    )


async def record(
    session: AsyncSession, principal: Principal, data: schemas.ConversationCreate
) -> schemas.Conversation:
    conversations = ConversationRepository(session, principal.company_id)
    if not await conversations.contact_exists(data.contact_id):
        raise NotFound(f"contact {data.contact_id} not found")
    messages = [m.model_dump(mode="json") for m in data.messages]
    conversation = conversations.add(
        Conversation(
            contact_id=data.contact_id,
            channel=data.channel,
            started_at=data.started_at,
            messages=messages,
        )
    )
    await session.flush()
    matches = await detect_intents(session, conversation)
    await session.refresh(conversation)
    return _out(conversation, matches)


async def detect_intents(session: AsyncSession, conversation: Conversation) -> list[IntentMatch]:
    """Find the intents in the contact's words with the company's keywords, store them, and
    rescore the contact (the AI-intent score reads them). A transcript the CRM wrote itself
    (an AI agent's call) goes through here too when it ends."""
    return await _detect_and_store(
        session,
        conversation.company_id,
        conversation.id,
        conversation.contact_id,
        conversation.messages,
        conversation.started_at,
    )


async def record_reply(
    session: AsyncSession,
    company_id: uuid.UUID,
    reply: Reply,
) -> list[IntentMatch]:
    """A contact's reply (SMS, WhatsApp, e-mail) appended to its thread's conversation, and
    the intents in it. Only the new message is read for intents: the conversation's earlier
    messages were read when they came in."""
    message: dict[str, Any] = {"role": "contact", "text": reply.text, "at": reply.at.isoformat()}
    conversation_id = await ConversationRepository(session, company_id).append(
        contact_id=reply.contact_id,
        lead_id=reply.lead_id,
        channel=reply.channel,
        external_id=f"{reply.channel}:{reply.contact_id}:{reply.thread}",
        message=message,
        at=reply.at,
        details=reply.details,
    )
    return await _detect_and_store(
        session, company_id, conversation_id, reply.contact_id, [message], reply.at
    )


async def _detect_and_store(
    session: AsyncSession,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    contact_id: uuid.UUID,
    messages: Sequence[Mapping[str, object]],
    at: datetime,
) -> list[IntentMatch]:
    config = await load_config(session, company_id)
    detector = KeywordIntentDetector(config.intent_keywords.model_dump())
    # Pattern matching over a long transcript is CPU work: off the event loop.
    found = await asyncio.to_thread(detect_in_conversation, detector, messages)
    matches = [
        IntentMatch(
            company_id=company_id,
            conversation_id=conversation_id,
            contact_id=contact_id,
            intent=match.intent,
            confidence=match.confidence,
            evidence=match.evidence,
            detected_at=at,
        )
        for match in found
    ]
    session.add_all(matches)
    await session.flush()
    await jobs.schedule_rescore(session, company_id, [contact_id])
    return matches


async def get(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> schemas.Conversation:
    conversations = ConversationRepository(session, principal.company_id)
    conversation = await conversations.get(conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    matches = await conversations.matches_of([conversation.id])
    return _out(conversation, matches[conversation.id])


async def list_for(
    session: AsyncSession,
    principal: Principal,
    contact_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[schemas.Conversation], int]:
    conversations = ConversationRepository(session, principal.company_id)
    stmt = conversations.select()
    if contact_id is not None:
        stmt = stmt.where(Conversation.contact_id == contact_id)
    stmt = stmt.order_by(Conversation.started_at.desc(), Conversation.id)
    rows, total = await conversations.page(stmt, limit, offset)
    matches = await conversations.matches_of([r.id for r in rows])
    return [_out(r, matches[r.id]) for r in rows], total
