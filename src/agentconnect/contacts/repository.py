"""SQL for contacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, true
from sqlalchemy.dialects.postgresql import JSONB

from agentconnect.kit.sql import like_pattern
from agentconnect.models import Contact, LifecycleStage, OptInStatus
from agentconnect.tenancy.scoping import TenantRepository


@dataclass(frozen=True)
class ContactFilters:
    q: str | None = None
    lifecycle_stage: list[LifecycleStage] = field(default_factory=list)
    lead_source: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    opt_in_status: list[OptInStatus] = field(default_factory=list)
    do_not_contact: bool | None = None
    min_score: int | None = None
    max_score: int | None = None


def filter_clauses(filters: ContactFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.q:
        clauses.append(Contact.search_text.like(like_pattern(filters.q), escape="\\"))
    if filters.lifecycle_stage:
        clauses.append(Contact.lifecycle_stage.in_(filters.lifecycle_stage))
    if filters.lead_source:
        clauses.append(Contact.lead_source.in_(filters.lead_source))
    if filters.tags:
        # @> on the GIN (jsonb_path_ops) index: every listed tag must be present.
        clauses.append(Contact.tags.op("@>")(literal(filters.tags, JSONB)))
    if filters.opt_in_status:
        clauses.append(Contact.opt_in_status.in_(filters.opt_in_status))
    if filters.do_not_contact is not None:
        clauses.append(Contact.do_not_contact.is_(filters.do_not_contact))
    if filters.min_score is not None:
        clauses.append(Contact.lead_score >= filters.min_score)
    if filters.max_score is not None:
        clauses.append(Contact.lead_score <= filters.max_score)
    return clauses


class ContactRepository(TenantRepository[Contact]):
    model = Contact

    def filtered(self, filters: ContactFilters) -> Select[Any]:
        return self.select().where(true(), *filter_clauses(filters))
