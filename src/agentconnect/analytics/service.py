"""Campaign analytics, read from the rollups (analytics/rollups.py), never from the raw log.

Definitions (docs/CRM_API_GUIDE.md, "Campaign analytics"): every figure is distinct contacts
unless it says otherwise. A contact reaches a stage once, whatever channel took it there:
`sent` (e-mail, SMS or WhatsApp sent, or a call placed), `delivered` (an e-mail the receiving
server accepted, an SMS or WhatsApp message delivered or read, a call answered — less the
contacts whose e-mail bounced), `opened` (an e-mail opened by a person, not prefetched, or a
WhatsApp message read), `clicked`, `replied`, and `converted` (the contact's lead reached
`customer` within the attribution window after the campaign's first message to them).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.analytics import schemas
from agentconnect.auth.principal import Principal
from agentconnect.campaigns.service import get_campaign

ATTRIBUTION_WINDOW = timedelta(days=30)

_STAGE_CONTACTS = text("""
SELECT activity_type, contacts FROM analytics_campaign_stats
WHERE company_id = :company AND campaign_id = :campaign
  AND (activity_type = 'enrolled' OR activity_type LIKE 'stage:%')
""")

# Customers are few next to contacts: start from the company's moves to `customer` and look
# up each one's first message of this campaign.
_CONVERTED = text("""
SELECT count(DISTINCT l.contact_id)
FROM lead_stage_changes AS sc
JOIN leads AS l ON l.id = sc.lead_id AND l.company_id = sc.company_id
CROSS JOIN LATERAL (
    SELECT min(d.sent_at) AS first_sent FROM deliveries AS d
    WHERE d.company_id = l.company_id AND d.contact_id = l.contact_id
      AND d.campaign_id = :campaign AND d.sent_at IS NOT NULL
) AS f
WHERE sc.company_id = :company AND sc.to_stage = 'customer'
  AND sc.changed_at >= f.first_sent AND sc.changed_at <= f.first_sent + :window
""")


async def stage_contacts(
    session: AsyncSession, company_id: uuid.UUID, campaign_id: uuid.UUID
) -> dict[str, int]:
    """Distinct contacts per funnel stage, as the rollups have them."""
    params = {"company": company_id, "campaign": campaign_id}
    rows = await session.execute(_STAGE_CONTACTS, params)
    counts = {kind.removeprefix("stage:"): int(contacts) for kind, contacts in rows}
    converted = await session.scalar(_CONVERTED, {**params, "window": ATTRIBUTION_WINDOW})
    counts["converted"] = int(converted or 0)
    # E-mail counts as delivered when the receiving server accepted it; a bounce takes it back.
    counts["delivered"] = max(counts.get("delivered", 0) - counts.get("bounced", 0), 0)
    return counts


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def funnel(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> schemas.Funnel:
    await get_campaign(session, principal, campaign_id)  # 404 for another company's
    counts = await stage_contacts(session, principal.company_id, campaign_id)
    order: list[schemas.FunnelStageName] = [
        "enrolled", "sent", "delivered", "opened", "clicked", "replied", "converted",
    ]  # fmt: skip
    enrolled = counts.get("enrolled", 0)
    stages, previous = [], None
    for name in order:
        contacts = counts.get(name, 0)
        stages.append(
            schemas.FunnelStage(
                stage=name,
                contacts=contacts,
                rate_from_previous=None if previous is None else _rate(contacts, previous),
                rate_from_start=_rate(contacts, enrolled),
            )
        )
        previous = contacts
    return schemas.Funnel(
        campaign_id=campaign_id,
        stages=stages,
        attribution_window_days=ATTRIBUTION_WINDOW.days,
    )
