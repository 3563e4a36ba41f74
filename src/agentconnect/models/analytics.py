"""Analytics rollups of `campaign_activities`, so analytics never scan the raw log. Database
triggers queue every counted activity written, changed or deleted (`analytics_pending`), and
`analytics_fold()` applies the queue in batches (migration 0013).

Every row counts activities of a campaign that analytics count: prefetched opens (a mail
client fetching the pixel, not a person) are left out. `step_key` is the activity's step
(`message_id`, or the zero UUID for none), `variant_key` its A/B variant ('' for none).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from agentconnect.models.base import Base

NO_STEP = uuid.UUID(int=0)


def _campaign_key() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["company_id", "campaign_id"], ["campaigns.company_id", "campaigns.id"], ondelete="CASCADE"
    )


class AnalyticsCampaignStat(Base):
    """Per campaign and activity type: how many activities, and how many distinct contacts."""

    __tablename__ = "analytics_campaign_stats"
    __table_args__ = (_campaign_key(),)

    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    contacts: Mapped[int] = mapped_column(BigInteger, default=0)


class AnalyticsStepStat(Base):
    """Per campaign, step, variant and activity type: activities and distinct contacts."""

    __tablename__ = "analytics_step_stats"
    __table_args__ = (_campaign_key(),)

    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    step_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    variant_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger, default=0)
    contacts: Mapped[int] = mapped_column(BigInteger, default=0)


class AnalyticsTimeline(Base):
    """Per campaign, activity type and quarter hour (UTC, so any time zone's hours and days,
    even those 30 or 45 minutes off the hour, are whole sums of buckets): activities."""

    __tablename__ = "analytics_timeline"
    __table_args__ = (
        _campaign_key(),
        # A series is an index-only scan of one campaign's entries (migration 0014).
        PrimaryKeyConstraint(
            "campaign_id", "activity_type", "bucket", postgresql_include=["company_id", "events"]
        ),
    )

    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    activity_type: Mapped[str] = mapped_column(String(32))
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events: Mapped[int] = mapped_column(BigInteger, default=0)


class AnalyticsCampaignContact(Base):
    """That a contact had an activity of a type in a campaign: what makes `contacts` distinct."""

    __tablename__ = "analytics_campaign_contacts"
    __table_args__ = (_campaign_key(),)

    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class AnalyticsStepContact(Base):
    """That a contact had an activity of a type at a step, in a variant."""

    __tablename__ = "analytics_step_contacts"
    __table_args__ = (_campaign_key(),)

    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    step_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    variant_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class AnalyticsPending(Base):
    """Counted activities written (+1) or deleted (-1) since the last fold: the triggers queue
    them here, `analytics_fold()` applies them to the tables above in batches."""

    __tablename__ = "analytics_pending"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    step_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    variant_key: Mapped[str] = mapped_column(String(100))
    activity_type: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delta: Mapped[int] = mapped_column(SmallInteger)
