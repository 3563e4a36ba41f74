"""Companies (the tenants), their users and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from agentconnect.models.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    json_default_dict,
    text_enum,
)
from agentconnect.models.enums import Role


class Company(IdMixin, TimestampMixin, Base):
    __tablename__ = "companies"

    name: Mapped[str] = mapped_column(String(200))
    postal_address: Mapped[str | None] = mapped_column(Text)
    default_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Company-wide CRM settings (frequency cap, quiet hours, stage probabilities ...): read far
    # more often than written and shaped by later features, hence one JSONB document.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)


class User(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "users"
    # The e-mail is the login name, so it is unique across companies: a sign-in happens before
    # anyone knows which company is meant.
    __table_args__ = (
        UniqueConstraint("email"),
        Index(None, "company_id", "role"),
    )

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(text_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Carried in every access token; raised when the password changes, which ends every
    # session signed in with the old password.
    token_version: Mapped[int] = mapped_column(default=0, server_default="0")


class ApiKey(IdMixin, TenantMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("key_hash"),
        Index(None, "company_id", "created_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(text_enum(Role, "role"))
    # The first characters of the key, kept in the clear so a user can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
