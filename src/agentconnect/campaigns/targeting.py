"""Target criteria compiled to one SQL WHERE clause over contacts, with the exclusions that
always apply: do-not-contact, opted out, already enrolled, no address for the channel."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, exists, literal, or_
from sqlalchemy.dialects.postgresql import JSONB

from agentconnect.campaigns.schemas import TargetCriteria
from agentconnect.models import (
    CampaignContact,
    CampaignType,
    Contact,
    Lead,
    MessageType,
    OptInStatus,
)

_PHONE_CHANNELS = {MessageType.SMS, MessageType.WHATSAPP, MessageType.VOICE}


def criteria_clauses(criteria: TargetCriteria, company_id: uuid.UUID) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [Contact.company_id == company_id]
    if criteria.lifecycle_stages:
        clauses.append(Contact.lifecycle_stage.in_(criteria.lifecycle_stages))
    if criteria.lead_stages:
        clauses.append(
            exists().where(
                Lead.company_id == company_id,
                Lead.contact_id == Contact.id,
                Lead.stage.in_(criteria.lead_stages),
            )
        )
    if criteria.min_score is not None:
        clauses.append(Contact.lead_score >= criteria.min_score)
    if criteria.max_score is not None:
        clauses.append(Contact.lead_score <= criteria.max_score)
    if criteria.lead_sources:
        clauses.append(Contact.lead_source.in_(criteria.lead_sources))
    if criteria.tags_all:
        clauses.append(Contact.tags.op("@>")(literal(criteria.tags_all, JSONB)))
    if criteria.tags_any:
        # one @> per tag rather than ?|: the jsonb_path_ops GIN index serves only @>
        clauses.append(
            or_(*(Contact.tags.op("@>")(literal([t], JSONB)) for t in criteria.tags_any))
        )
    if criteria.opt_in_statuses:
        clauses.append(Contact.opt_in_status.in_(criteria.opt_in_statuses))
    if criteria.created_after is not None:
        clauses.append(Contact.created_at >= criteria.created_after)
    if criteria.created_before is not None:
        clauses.append(Contact.created_at < criteria.created_before)
    return clauses


def channels_of(
    campaign_type: CampaignType, step_channels: Iterable[MessageType]
) -> set[MessageType]:
    if campaign_type != CampaignType.MULTI_CHANNEL:
        return {MessageType(campaign_type.value)}
    return set(step_channels)


def reachable(channels: set[MessageType]) -> ColumnElement[bool]:
    """The contact has an address for at least one of the channels (any, with none known)."""
    options: list[ColumnElement[bool]] = []
    if MessageType.EMAIL in channels or not channels:
        options.append(Contact.email.is_not(None))
    if channels & _PHONE_CHANNELS or not channels:
        options.append(Contact.phone.is_not(None))
    return or_(*options)


def contactable() -> ColumnElement[bool]:
    return and_(Contact.do_not_contact.is_(False), Contact.opt_in_status != OptInStatus.OPTED_OUT)


def not_enrolled(company_id: uuid.UUID, campaign_id: uuid.UUID) -> ColumnElement[bool]:
    return ~exists().where(
        CampaignContact.company_id == company_id,
        CampaignContact.campaign_id == campaign_id,
        CampaignContact.contact_id == Contact.id,
    )


def targetable(
    criteria: TargetCriteria,
    company_id: uuid.UUID,
    campaign_id: uuid.UUID,
    channels: set[MessageType],
) -> list[ColumnElement[bool]]:
    """Every condition a contact must meet to be enrolled now."""
    return [
        *criteria_clauses(criteria, company_id),
        contactable(),
        reachable(channels),
        not_enrolled(company_id, campaign_id),
    ]
