"""SQL for conversations and intent matches."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from agentconnect.models import Contact, Conversation, IntentMatch
from agentconnect.tenancy.scoping import TenantRepository

# A reply goes to the end of its thread's conversation, which the first reply opens: one
# statement, so two replies arriving at once both land in the one conversation.
_APPEND = text("""
INSERT INTO conversations (id, company_id, contact_id, lead_id, channel, started_at, messages,
                           external_id, details, created_at)
VALUES (gen_random_uuid(), :company_id, :contact_id, :lead_id, :channel, :at,
        CAST(:messages AS jsonb), :external_id, CAST(:details AS jsonb), now())
ON CONFLICT (company_id, external_id) WHERE external_id IS NOT NULL
DO UPDATE SET messages = conversations.messages || EXCLUDED.messages
RETURNING id
""")


class ConversationRepository(TenantRepository[Conversation]):
    model = Conversation

    async def append(
        self,
        *,
        contact_id: uuid.UUID,
        lead_id: uuid.UUID | None,
        channel: str,
        external_id: str,
        message: dict[str, Any],
        at: datetime,
        details: dict[str, Any],
    ) -> uuid.UUID:
        """Add a message to the conversation `external_id` names, opening it if needed."""
        conversation_id: uuid.UUID = await self.session.scalar(
            _APPEND,
            {
                "company_id": self.company_id,
                "contact_id": contact_id,
                "lead_id": lead_id,
                "channel": channel,
                "at": at,
                "messages": json.dumps([message]),
                "external_id": external_id,
                "details": json.dumps(details),
            },
        )
        return conversation_id

    async def contact_exists(self, contact_id: uuid.UUID) -> bool:
        stmt = select(func.count()).where(
            Contact.company_id == self.company_id, Contact.id == contact_id
        )
        return bool(await self.session.scalar(stmt))

    async def matches_of(
        self, conversation_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[IntentMatch]]:
        stmt = (
            select(IntentMatch)
            .where(
                IntentMatch.company_id == self.company_id,
                IntentMatch.conversation_id.in_(conversation_ids),
            )
            .order_by(IntentMatch.confidence.desc())
        )
        found: dict[uuid.UUID, list[IntentMatch]] = {i: [] for i in conversation_ids}
        for match in (await self.session.scalars(stmt)).all():
            found[match.conversation_id].append(match)
        return found
