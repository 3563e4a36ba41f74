"""Conversations: transcripts of exchanges with contacts, and the intents found in them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from agentconnect.conversations import schemas, service
from agentconnect.deps import PrincipalDep, SessionDep
from agentconnect.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


@router.post("", response_model=schemas.Conversation, status_code=status.HTTP_201_CREATED)
async def record_conversation(
    session: SessionDep, principal: PrincipalDep, body: schemas.ConversationCreate
) -> schemas.Conversation:
    """Store a transcript; intents are detected in the contact's messages (never the agent's)
    and the contact's leads are scored again shortly after."""
    return await service.record(session, principal, body)


@router.get("", response_model=Page[schemas.Conversation])
async def list_conversations(
    session: SessionDep, principal: PrincipalDep, page: PageDep, contact_id: uuid.UUID | None = None
) -> Page[schemas.Conversation]:
    """Conversations, newest first, optionally of one contact."""
    items, total = await service.list_for(session, principal, contact_id, page.limit, page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{conversation_id}", response_model=schemas.Conversation)
async def get_conversation(
    session: SessionDep, principal: PrincipalDep, conversation_id: uuid.UUID
) -> schemas.Conversation:
    """One conversation with its intent matches."""
    return await service.get(session, principal, conversation_id)
