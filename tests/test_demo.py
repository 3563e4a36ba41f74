"""The demo company: what `make run` seeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.demo import ensure_demo
from agentconnect.models import (
    ActivityType,
    Campaign,
    CampaignActivity,
    ConsoleMessage,
    Lead,
    LeadScore,
    LeadStage,
    LeadStageChange,
)


async def test_the_demo_campaign_sends_by_itself(database: Database, app: Any) -> None:
    async with database.unit_of_work() as session:
        await ensure_demo(session, contacts=60)
    engine = Engine(
        database, EngineSettings(base_url="http://demo.test", secret_key=app.state.secret_key)
    )
    result = await engine.tick(datetime.now(UTC) + timedelta(minutes=1))
    assert result.sent.sent > 0
    async with database.unit_of_work() as session:
        outbox = (await session.scalars(select(ConsoleMessage.subject))).all()
    assert len(outbox) == result.sent.sent
    assert all((subject or "").startswith("Thanks for joining the webinar") for subject in outbox)


async def test_the_demo_pipeline_has_leads_in_every_stage_with_their_history(
    database: Database,
) -> None:
    async with database.unit_of_work() as session:
        await ensure_demo(session, contacts=60)
    async with database.unit_of_work() as session:
        stages = dict(
            (await session.execute(select(Lead.stage, func.count()).group_by(Lead.stage))).all()
        )
        moves = await session.scalar(select(func.count()).select_from(LeadStageChange))
    assert set(stages) == set(LeadStage)  # every kanban column has cards
    # each lead was created (one history row) and walked to its stage one move at a time
    expected_moves = sum(
        {"lead": 1, "mql": 2, "sql": 3, "opportunity": 4, "customer": 5, "lost": 3}[s] * n
        for s, n in stages.items()
    )
    assert moves == expected_moves


async def test_the_demo_has_engagement_and_explained_scores(database: Database) -> None:
    async with database.unit_of_work() as session:
        await ensure_demo(session, contacts=60)
    async with database.unit_of_work() as session:
        kinds = dict(
            (
                await session.execute(
                    select(CampaignActivity.activity_type, func.count())
                    .join(Campaign, Campaign.id == CampaignActivity.campaign_id)
                    .where(Campaign.name == "Q3 product launch")
                    .group_by(CampaignActivity.activity_type)
                )
            ).all()
        )
        scored = (await session.scalars(select(LeadScore).limit(200))).all()
        leads = await session.scalar(select(func.count()).select_from(Lead))
    # every lead's contact the launch enrolled was mailed (those who may not be, were not)
    assert kinds[ActivityType.EMAIL_SENT] == kinds[ActivityType.ENROLLED] <= leads
    assert kinds[ActivityType.EMAIL_OPENED] > kinds.get(ActivityType.EMAIL_REPLIED, 0) > 0
    assert scored, "the leads were scored"
    assert all(row.factors for row in scored if row.score)  # every point is explained
