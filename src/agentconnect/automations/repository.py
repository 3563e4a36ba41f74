"""SQL of automation rules and their runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import AutomationRule, AutomationRun, Campaign, Event
from agentconnect.tenancy.scoping import TenantRepository


class RuleRepository(TenantRepository[AutomationRule]):
    model = AutomationRule

    async def page_all(self, limit: int, offset: int) -> tuple[list[AutomationRule], int]:
        stmt = self.select().order_by(AutomationRule.created_at, AutomationRule.id)
        return await self.page(stmt, limit, offset)

    async def existing_campaigns(self, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these campaigns are the company's."""
        stmt = select(Campaign.id).where(
            Campaign.company_id == self.company_id, Campaign.id.in_(ids)
        )
        return set((await self.session.scalars(stmt)).all())


class RunRepository(TenantRepository[AutomationRun]):
    model = AutomationRun

    async def of_rule(
        self, rule_id: uuid.UUID, outcome: str | None, limit: int, offset: int
    ) -> tuple[list[AutomationRun], int]:
        stmt = self.select().where(AutomationRun.rule_id == rule_id)
        if outcome is not None:
            stmt = stmt.where(AutomationRun.outcome == outcome)
        stmt = stmt.order_by(AutomationRun.created_at.desc(), AutomationRun.id.desc())
        return await self.page(stmt, limit, offset)


# --- the runner's queue: across companies, like the delivery engine's claims ----------------


async def claim_events(session: AsyncSession, limit: int) -> list[Event]:
    """The oldest events no rule has looked at yet, locked for this transaction."""
    stmt = (
        select(Event)
        .where(Event.automated_at.is_(None))
        .order_by(Event.seq)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


async def listening_rules(
    session: AsyncSession, keys: Sequence[tuple[uuid.UUID, str]]
) -> list[AutomationRule]:
    """Enabled rules listening to these (company, event type) pairs, oldest first."""
    if not keys:
        return []
    stmt = (
        select(AutomationRule)
        .where(
            AutomationRule.enabled,
            tuple_(AutomationRule.company_id, AutomationRule.event_type).in_(list(keys)),
        )
        .order_by(AutomationRule.created_at, AutomationRule.id)
    )
    return list((await session.scalars(stmt)).all())


async def mark_automated(session: AsyncSession, event_ids: Sequence[uuid.UUID], now: Any) -> None:
    await session.execute(
        update(Event).where(Event.id.in_(list(event_ids))).values(automated_at=now)
    )
