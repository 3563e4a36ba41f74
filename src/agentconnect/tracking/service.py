"""What a tracked open, click or unsubscribe does, and the opt-out a complaint shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.delivery.goals import achieve_goal
from agentconnect.errors import NotFound
from agentconnect.models import ActivityType, GoalType
from agentconnect.scoring.jobs import schedule_rescore
from agentconnect.tracking.repository import (
    DeliveryRef,
    OptOutRepository,
    TrackingActivities,
    find_delivery_by_token,
)
from agentconnect.tracking.tokens import TokenKind, TrackingToken, read_token

# Long user agents are kept, not without end.
_MAX_AGENT = 500


def _agent(user_agent: str | None) -> str | None:
    return user_agent[:_MAX_AGENT] if user_agent else None


async def resolve(
    session: AsyncSession, secret: str, token: str, kind: TokenKind
) -> tuple[TrackingToken, DeliveryRef]:
    """The token's delivery; NotFound for a forged, altered or foreign-kind token and for a
    delivery (or its contact) that no longer exists."""
    found = read_token(secret, token, kind)
    if found is None:
        raise NotFound("unknown or invalid link")
    ref = await find_delivery_by_token(session, found.delivery_id)
    if ref is None:
        raise NotFound("unknown or invalid link")
    return found, ref


async def record_open(
    session: AsyncSession, ref: DeliveryRef, *, prefetched: bool, user_agent: str | None
) -> None:
    TrackingActivities(session, ref.company_id).record(
        ref,
        ActivityType.EMAIL_OPENED,
        {"prefetched": prefetched, "user_agent": _agent(user_agent)},
    )
    await session.flush()


def link_of(token: TrackingToken, ref: DeliveryRef) -> str:
    """The original URL a click token stands for: only a URL the message carried."""
    links = ref.details.get("links") if isinstance(ref.details, dict) else None
    if not isinstance(links, list) or token.link is None or token.link >= len(links):
        raise NotFound("unknown or invalid link")
    url = links[token.link]
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise NotFound("unknown or invalid link")
    return url


async def record_click(
    session: AsyncSession, ref: DeliveryRef, url: str, *, user_agent: str | None
) -> None:
    """A click is significant: it reaches a `click` goal and the contact is scored again."""
    now = datetime.now(UTC)
    TrackingActivities(session, ref.company_id).record(
        ref, ActivityType.EMAIL_CLICKED, {"url": url, "user_agent": _agent(user_agent)}, now
    )
    await session.flush()
    await achieve_goal(session, ref.company_id, ref.contact_id, GoalType.CLICK, occurred_at=now)
    await schedule_rescore(session, ref.company_id, [ref.contact_id])


async def unsubscribe(session: AsyncSession, ref: DeliveryRef, *, method: str) -> bool:
    """Opt the contact out everywhere; True the first time, False when it already was."""
    return await OptOutRepository(session, ref.company_id).opt_out(
        ref,
        exit_reason="unsubscribed",
        activity=ActivityType.EMAIL_UNSUBSCRIBED,
        details={"method": method},
    )


async def complain(session: AsyncSession, ref: DeliveryRef, details: dict[str, Any]) -> None:
    """A spam complaint opts the contact out like an unsubscribe, recorded as a complaint."""
    TrackingActivities(session, ref.company_id).record(ref, ActivityType.EMAIL_COMPLAINED, details)
    await session.flush()
    await OptOutRepository(session, ref.company_id).opt_out(
        ref, exit_reason="complaint", activity=None, details={}
    )
