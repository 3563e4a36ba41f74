"""SQL for conversations and intent matches."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from agentconnect.models import Contact, Conversation, IntentMatch
from agentconnect.tenancy.scoping import TenantRepository


class ConversationRepository(TenantRepository[Conversation]):
    model = Conversation

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
