"""The console provider: records what would be sent instead of sending it.

The default until a company configures a real provider, so the demo and the tests can read
exactly what left the CRM (GET /api/v1/channels/console/messages).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.channels.base import OutboundMessage, ProviderResult
from agentconnect.channels.repository import ConsoleMessageRepository
from agentconnect.models import ConsoleMessage, Role


async def recorded(
    session: AsyncSession, principal: Principal, limit: int, offset: int
) -> tuple[list[ConsoleMessage], int]:
    """What the console provider recorded for the company, newest first, with the total.
    Managers and admins only: the messages hold contacts' addresses and texts."""
    principal.require(Role.MANAGER)
    repo = ConsoleMessageRepository(session, principal.company_id)
    stmt = repo.select().order_by(ConsoleMessage.created_at.desc(), ConsoleMessage.id)
    return await repo.page(stmt, limit, offset)


class ConsoleProvider:
    name = "console"

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def send(self, message: OutboundMessage) -> ProviderResult:
        row = ConsoleMessage(
            company_id=message.company_id,
            channel=message.channel,
            to_address=message.to,
            subject=message.subject,
            body=message.body,
            html_body=message.html_body,
            details=message.metadata,
        )
        self.session.add(row)
        await self.session.flush()
        return ProviderResult(provider=self.name, provider_message_id=f"console-{row.id}")
