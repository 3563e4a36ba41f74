"""Contacts: the people a company sells to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Computed,
    DateTime,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from agentconnect.models.base import (
    Base,
    IdMixin,
    TenantMixin,
    TimestampMixin,
    json_default_dict,
    json_default_list,
    text_enum,
)
from agentconnect.models.enums import LifecycleStage, OptInStatus

# What `q` searches, lower-cased once at write time so a search is one LIKE on one column (and
# a trigram index where the server has pg_trgm).
SEARCH_TEXT_SQL = (
    "lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || "
    "coalesce(email, '') || ' ' || coalesce(company_name, ''))"
)


class Contact(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("company_id", "email"),
        UniqueConstraint("company_id", "phone"),
        # the target of composite (company_id, contact_id) foreign keys: same tenant by design
        UniqueConstraint("company_id", "id"),
        CheckConstraint("lead_score BETWEEN 0 AND 100", name="lead_score_range"),
        CheckConstraint("jsonb_typeof(tags) = 'array'", name="tags_is_array"),
        CheckConstraint("jsonb_typeof(custom_fields) = 'object'", name="custom_fields_is_object"),
        Index(None, "company_id", "created_at"),
        Index(None, "company_id", "lead_source"),
        Index(None, "company_id", "opt_in_status"),
        Index(None, "company_id", "lead_score"),
        Index(
            "ix_contacts_company_id_do_not_contact",
            "company_id",
            postgresql_where=text("do_not_contact"),
        ),
        Index(
            "ix_contacts_tags",
            "tags",
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
        ),
    )

    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    company_name: Mapped[str | None] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(100))
    company_size: Mapped[str | None] = mapped_column(String(50))
    timezone: Mapped[str | None] = mapped_column(String(64))
    lifecycle_stage: Mapped[LifecycleStage] = mapped_column(
        text_enum(LifecycleStage, "lifecycle_stage"), default=LifecycleStage.LEAD
    )
    lead_source: Mapped[str | None] = mapped_column(String(100))
    opt_in_status: Mapped[OptInStatus] = mapped_column(
        text_enum(OptInStatus, "opt_in_status"), default=OptInStatus.UNKNOWN
    )
    do_not_contact: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(JSONB, default=json_default_list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=json_default_dict)
    lead_score: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_contacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[str | None] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text, Computed(SEARCH_TEXT_SQL, persisted=True))
