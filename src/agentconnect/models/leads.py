"""Leads (deals on the pipeline), their stage history and the round-robin cursor."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agentconnect.models.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    json_default_dict,
    text_enum,
)
from agentconnect.models.contacts import Contact
from agentconnect.models.enums import LeadStage, QualificationStatus, StageChangeSource


def stage_bit(stage: LeadStage) -> int:
    return 1 << list(LeadStage).index(stage)


class Lead(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),
        CheckConstraint("deal_value >= 0", name="deal_value_not_negative"),
        CheckConstraint("jsonb_typeof(qualification_data) = 'object'", name="qualification_object"),
        # The pipeline list filters by stage and sorts by score; the kanban does the same.
        Index(None, "company_id", "stage", "score"),
        Index(None, "company_id", "assigned_to", "score"),
        # "my leads in this stage, best first": the pipeline's most common question
        Index(None, "company_id", "assigned_to", "stage", "score"),
        Index(None, "company_id", "qualification_status"),
        Index(None, "company_id", "score"),
        Index(None, "company_id", "deal_value"),
        Index(None, "company_id", "created_at"),
        Index(None, "company_id", "contact_id"),
        # statistics read these without touching the table (index-only scans)
        Index(None, "company_id", "stage", postgresql_include=["deal_value", "score"]),
        Index(None, "company_id", "reached_stages"),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("contacts.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(200))
    stage: Mapped[LeadStage] = mapped_column(
        text_enum(LeadStage, "lead_stage"), default=LeadStage.LEAD
    )
    qualification_status: Mapped[QualificationStatus] = mapped_column(
        text_enum(QualificationStatus, "qualification_status"),
        default=QualificationStatus.PENDING,
    )
    score: Mapped[int] = mapped_column(SmallInteger, default=0)
    deal_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    expected_close_date: Mapped[date | None] = mapped_column(Date)
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    source: Mapped[str | None] = mapped_column(String(100))
    qualification_data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    previous_stage: Mapped[LeadStage | None] = mapped_column(
        text_enum(LeadStage, "lead_previous_stage")
    )
    stage_changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lost_reason: Mapped[str | None] = mapped_column(Text)
    # One bit per stage the lead has ever been in (bit = position in LeadStage), kept by every
    # stage change: conversion rates become one index-only scan instead of a history replay.
    reached_stages: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")

    contact: Mapped[Contact] = relationship(lazy="raise", innerjoin=True)


class LeadStageChange(IdMixin, TenantMixin, Base):
    __tablename__ = "lead_stage_changes"
    __table_args__ = (
        Index(None, "company_id", "lead_id", "changed_at"),
        Index(None, "company_id", "changed_at"),
        Index(None, "company_id", "from_stage", postgresql_include=["seconds_in_from_stage"]),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE")
    )
    from_stage: Mapped[LeadStage | None] = mapped_column(text_enum(LeadStage, "from_stage"))
    to_stage: Mapped[LeadStage] = mapped_column(text_enum(LeadStage, "to_stage"))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    source: Mapped[StageChangeSource] = mapped_column(
        text_enum(StageChangeSource, "stage_change_source")
    )
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # How long the lead had been in from_stage, written at the change (null for creation).
    seconds_in_from_stage: Mapped[float | None] = mapped_column(Float)


class AssignmentCursor(Base):
    """Where round-robin assignment stopped, so the next call continues with the next user."""

    __tablename__ = "lead_assignment_cursors"

    company_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True
    )
    last_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
