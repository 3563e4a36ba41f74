"""Campaigns, their sequence steps, enrollments and the activity log."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agentconnect.models.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    json_default_dict,
    json_default_list,
    text_enum,
)
from agentconnect.models.contacts import Contact
from agentconnect.models.enums import (
    ActivityType,
    CampaignStatus,
    CampaignType,
    DelayUnit,
    EnrollmentStatus,
    GoalType,
    MessageType,
)


class Campaign(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget_not_negative"),
        CheckConstraint("cost >= 0", name="cost_not_negative"),
        Index(None, "company_id", "status", "created_at"),
        Index(None, "company_id", "campaign_type", "created_at"),
        Index(None, "company_id", "created_at"),
        # the target of composite (company_id, campaign_id) foreign keys: same tenant by design
        UniqueConstraint("company_id", "id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    campaign_type: Mapped[CampaignType] = mapped_column(text_enum(CampaignType, "campaign_type"))
    status: Mapped[CampaignStatus] = mapped_column(
        text_enum(CampaignStatus, "campaign_status"), default=CampaignStatus.DRAFT
    )
    goal_type: Mapped[GoalType] = mapped_column(
        text_enum(GoalType, "goal_type"), default=GoalType.NONE
    )
    target_criteria: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    schedule_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    schedule_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    timezone: Mapped[str | None] = mapped_column(String(64))
    send_time_optimization: Mapped[bool] = mapped_column(default=False)
    quiet_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    cost: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    call_flow_config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Analytics: a conversion within this many days after a message can be credited to it.
    attribution_window_days: Mapped[int] = mapped_column(
        Integer, default=30, server_default=text("30")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CampaignMessage(IdMixin, TimestampMixin, TenantMixin, Base):
    """One step of a campaign's sequence."""

    __tablename__ = "campaign_messages"
    __table_args__ = (
        UniqueConstraint("company_id", "campaign_id", "sequence_order"),
        CheckConstraint("sequence_order >= 1", name="order_positive"),
        CheckConstraint("delay_value >= 0", name="delay_not_negative"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    sequence_order: Mapped[int] = mapped_column(Integer)
    message_type: Mapped[MessageType] = mapped_column(text_enum(MessageType, "message_type"))
    delay_value: Mapped[int] = mapped_column(Integer, default=0)
    delay_unit: Mapped[DelayUnit] = mapped_column(
        text_enum(DelayUnit, "delay_unit"), default=DelayUnit.DAYS
    )
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=json_default_list)
    send_window: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Channel-specific settings: a WhatsApp step's approved template (`whatsapp_template`),
    # a voice step's voicemail (`voicemail_message`, `voicemail_audio_url`).
    options: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=json_default_dict, server_default=text("'{}'::jsonb")
    )


class CampaignContact(IdMixin, TenantMixin, Base):
    """An enrollment: one contact's way through one campaign.

    Written in bulk (enrollment from criteria): ids are time-ordered (`uuid_v7()`), so the
    primary key grows at its right end, and the foreign keys are composite tenant keys, one
    check per parent that also proves the parent belongs to the same company.
    """

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        # status included: counts by status per campaign are index-only scans of this index
        UniqueConstraint("company_id", "campaign_id", "contact_id", postgresql_include=["status"]),
        ForeignKeyConstraint(
            ["company_id", "campaign_id"],
            ["campaigns.company_id", "campaigns.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["company_id", "contact_id"],
            ["contacts.company_id", "contacts.id"],
            ondelete="CASCADE",
        ),
        # a contact's enrollments; also serves the cascade when a contact is deleted
        Index(None, "company_id", "contact_id"),
        # The delivery engine's claim query: due active enrollments, across companies.
        Index(
            "ix_campaign_contacts_due",
            "next_step_at",
            postgresql_where=text("status = 'active'"),
        ),
    )

    # The company is implied by the campaign's composite key (campaigns.company_id references
    # companies), so no foreign key of its own: one check less per enrollment.
    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    campaign_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="SET NULL")
    )
    status: Mapped[EnrollmentStatus] = mapped_column(
        text_enum(EnrollmentStatus, "enrollment_status"), default=EnrollmentStatus.ACTIVE
    )
    # The sequence_order of the next step to run; past the last step means done.
    current_step: Mapped[int] = mapped_column(Integer, default=1)
    next_step_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    variant_assignments: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    # The step the delivery engine already held once (for its send window, the allowed hours or
    # send-time optimisation): optimisation moves a step once, never again when it comes due.
    held_step: Mapped[int | None] = mapped_column(Integer)
    enrolled_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    contact: Mapped[Contact] = relationship(lazy="raise")


REPLY_TYPES_SQL = "activity_type IN ('email_replied', 'sms_replied', 'whatsapp_replied')"


class CampaignActivity(IdMixin, TenantMixin, Base):
    """Everything that happens to a contact: the source of timelines, analytics and scoring.

    Written in bulk (one `enrolled` row per enrollment): time-ordered ids and composite tenant
    foreign keys, as for enrollments.
    """

    __tablename__ = "campaign_activities"
    __table_args__ = (
        ForeignKeyConstraint(
            ["company_id", "campaign_id"],
            ["campaigns.company_id", "campaigns.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["company_id", "contact_id"],
            ["contacts.company_id", "contacts.id"],
            ondelete="CASCADE",
        ),
        Index(None, "company_id", "campaign_id", "occurred_at"),
        Index(None, "company_id", "contact_id", "occurred_at"),
        Index(None, "company_id", "activity_type", "occurred_at"),
        # most activities (enrollments, campaign sends) have no lead: they stay out of this one
        Index(
            "ix_campaign_activities_company_id_lead_id_occurred_at",
            "company_id",
            "lead_id",
            "occurred_at",
            postgresql_where=text("lead_id IS NOT NULL"),
        ),
        # A campaign's replies per contact, first one first: the median response time reads
        # only these entries (replies are a small share of the log, so is this index).
        Index(
            "ix_campaign_activities_replies",
            "company_id",
            "campaign_id",
            "contact_id",
            "occurred_at",
            postgresql_where=text(REPLY_TYPES_SQL),
        ),
        Index(
            "uq_campaign_activities_company_id_external_id",
            "company_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    # implied by the composite keys, as for enrollments
    company_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    contact_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="SET NULL")
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("campaign_messages.id", ondelete="SET NULL")
    )
    variant: Mapped[str | None] = mapped_column(String(100))
    activity_type: Mapped[ActivityType] = mapped_column(text_enum(ActivityType, "activity_type"))
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    external_id: Mapped[str | None] = mapped_column(String(200))
    # "metadata" is reserved by SQLAlchemy's declarative base, hence the attribute name.
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=json_default_dict)


class ConsoleMessage(IdMixin, TenantMixin, Base):
    """What the console provider would have sent: the demo's and the tests' outbox."""

    __tablename__ = "console_messages"
    __table_args__ = (Index(None, "company_id", "created_at"),)

    channel: Mapped[MessageType] = mapped_column(text_enum(MessageType, "console_channel"))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=json_default_dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
