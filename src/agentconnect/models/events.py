"""The event outbox, outbound webhook endpoints and their deliveries, automation rules and runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from agentconnect.models.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    json_default_dict,
    json_default_list,
)


class Event(IdMixin, TenantMixin, Base):
    """One thing that happened, written in the transaction that made it happen (the outbox).

    `seq` orders events (per lead, it is the order their changes took the lead's row lock);
    the webhook fan-out and the automation runner each mark what they consumed.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index(None, "company_id", "occurred_at"),
        Index(None, "company_id", "lead_id", "seq"),
        # the two consumers' queues: small partial indexes of what is still to do
        Index("ix_events_to_fan_out", "seq", postgresql_where=text("fanned_out_at IS NULL")),
        Index("ix_events_to_automate", "seq", postgresql_where=text("automated_at IS NULL")),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # Ordering key of webhook deliveries: one lead's events reach an endpoint in order.
    lead_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    # How many automation steps led here (0: a person, an API client or the engine).
    depth: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    fanned_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    automated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookEndpoint(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index(None, "company_id", "created_at"),)

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(JSONB, default=json_default_list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # After a rotation the old secret signs too, until it expires.
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # First failure of the current run of failures (null after a success).
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(IdMixin, TenantMixin, Base):
    """One event to one endpoint: its attempts and their outcome."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(None, "company_id", "endpoint_id", "created_at"),
        # the sender's queue: due pending rows
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # order per lead: is an earlier delivery of this lead to this endpoint unfinished?
        Index(
            "ix_webhook_deliveries_open_per_key",
            "endpoint_id",
            "ordering_key",
            "seq",
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
        Index(
            "ix_webhook_deliveries_leases",
            "lease_expires_at",
            postgresql_where=text("status = 'sending'"),
        ),
        Index(None, "event_id"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("events.id", ondelete="CASCADE")
    )
    event_type: Mapped[str] = mapped_column(String(64))
    ordering_key: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    seq: Mapped[int] = mapped_column(BigInteger)
    # pending | sending | delivered | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AutomationRule(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "automation_rules"
    __table_args__ = (
        Index(None, "company_id", "created_at"),
        # the runner's lookup: enabled rules of a company listening to an event type
        Index(
            "ix_automation_rules_listening",
            "company_id",
            "event_type",
            postgresql_where=text("enabled"),
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    # Derived from the trigger: the event type the rule listens to.
    event_type: Mapped[str] = mapped_column(String(64))
    conditions: Mapped[list[Any]] = mapped_column(JSONB, default=json_default_list)
    actions: Mapped[list[Any]] = mapped_column(JSONB, default=json_default_list)


class AutomationRun(IdMixin, TenantMixin, Base):
    __tablename__ = "automation_runs"
    __table_args__ = (Index(None, "company_id", "rule_id", "created_at"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("automation_rules.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("events.id", ondelete="SET NULL")
    )
    event_type: Mapped[str] = mapped_column(String(64))
    # succeeded | failed | loop_stopped
    outcome: Mapped[str] = mapped_column(String(16))
    depth: Mapped[int] = mapped_column(SmallInteger)
    actions_done: Mapped[int] = mapped_column(SmallInteger, default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
