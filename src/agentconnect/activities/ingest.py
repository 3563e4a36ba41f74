"""Recording what happens outside the CRM: page views, forms, meetings, deals won or lost."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.kit.emails import normalize_email
from agentconnect.kit.schemas import InputSchema, JsonObjectLimited
from agentconnect.kit.timestamps import EventTime
from agentconnect.scoring import jobs

OutsideType = Literal[
    "page_viewed", "form_submitted", "link_clicked", "meeting_scheduled", "deal_won", "deal_lost"
]
MAX_BATCH = 1_000


class ActivityIn(InputSchema):
    contact_id: uuid.UUID | None = None
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    activity_type: OutsideType
    occurred_at: EventTime
    campaign_id: uuid.UUID | None = None
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    metadata: JsonObjectLimited = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_contact(self) -> ActivityIn:
        if (self.contact_id is None) == (self.email is None):
            raise ValueError("give exactly one of contact_id or email")
        if self.email is not None:
            self.email = normalize_email(self.email)
        return self


class BatchIn(InputSchema):
    # Any JSON per item: each one is validated on its own and reported by its index.
    items: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class BatchResult(BaseModel):
    created: int
    duplicates: int
    errors: list[dict[str, Any]]


_ITEM = TypeAdapter(ActivityIn)

_RESOLVE = """
SELECT i.idx, c.id
FROM unnest(CAST(:idx AS int[]), CAST(:contact_ids AS uuid[]), CAST(:emails AS text[]))
     AS i(idx, contact_id, email)
LEFT JOIN contacts c ON c.company_id = :company_id
     AND (c.id = i.contact_id OR (i.contact_id IS NULL AND c.email = i.email))
"""

_CAMPAIGNS = (
    "SELECT id FROM campaigns WHERE company_id = :company_id AND id = ANY(CAST(:ids AS uuid[]))"
)

_INSERT = """
INSERT INTO campaign_activities
    (id, company_id, campaign_id, contact_id, activity_type, occurred_at, external_id, metadata)
SELECT gen_random_uuid(), :company_id, r.campaign_id, r.contact_id, r.activity_type,
       r.occurred_at, r.external_id, r.metadata
FROM unnest(CAST(:campaign_ids AS uuid[]), CAST(:contact_ids AS uuid[]),
            CAST(:types AS text[]), CAST(:times AS timestamptz[]),
            CAST(:external_ids AS text[]), CAST(:metadata AS jsonb[]))
     AS r(campaign_id, contact_id, activity_type, occurred_at, external_id, metadata)
ON CONFLICT (company_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
RETURNING id, contact_id
"""


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


async def record(
    session: AsyncSession, principal: Principal, raw_items: list[Any]
) -> tuple[BatchResult, list[uuid.UUID]]:
    """Validate each item on its own, resolve contacts and campaigns in two queries, insert the
    good ones in one statement; a repeated external_id is a duplicate, not a second activity."""
    errors: list[dict[str, Any]] = []
    valid: list[tuple[int, ActivityIn]] = []
    for index, raw in enumerate(raw_items):
        try:
            valid.append((index, _ITEM.validate_python(raw)))
        except ValidationError as error:
            errors.append({"index": index, "msg": _validation_message(error)})
    company = principal.company_id
    resolved: dict[int, uuid.UUID | None] = {}
    if valid:
        rows = await session.execute(
            text(_RESOLVE),
            {
                "company_id": company,
                "idx": [i for i, _ in valid],
                "contact_ids": [a.contact_id for _, a in valid],
                "emails": [a.email for _, a in valid],
            },
        )
        resolved = {idx: contact for idx, contact in rows}
    campaign_ids = list({a.campaign_id for _, a in valid if a.campaign_id})
    known_campaigns = set()
    if campaign_ids:
        known_campaigns = set(
            (
                await session.scalars(
                    text(_CAMPAIGNS), {"company_id": company, "ids": campaign_ids}
                )
            ).all()
        )
    ready = []
    for index, item in valid:
        contact = resolved.get(index)
        if contact is None:
            who = item.contact_id or item.email
            errors.append({"index": index, "msg": f"contact {who} not found"})
        elif item.campaign_id and item.campaign_id not in known_campaigns:
            errors.append({"index": index, "msg": f"campaign {item.campaign_id} not found"})
        else:
            ready.append((item, contact))
    seen: set[str] = set()
    unique = []
    for item, contact in ready:  # a batch repeating an external_id is its own duplicate
        if item.external_id and item.external_id in seen:
            continue
        seen.add(item.external_id or "")
        unique.append((item, contact))
    created: list[tuple[uuid.UUID, uuid.UUID]] = []
    if unique:
        result = await session.execute(
            text(_INSERT),
            {
                "company_id": company,
                "campaign_ids": [i.campaign_id for i, _ in unique],
                "contact_ids": [c for _, c in unique],
                "types": [i.activity_type for i, _ in unique],
                "times": [i.occurred_at for i, _ in unique],
                "external_ids": [i.external_id for i, _ in unique],
                "metadata": [json.dumps(i.metadata) for i, _ in unique],
            },
        )
        created = [(row.id, row.contact_id) for row in result]
    await jobs.schedule_rescore(session, company, [contact for _, contact in created])
    errors.sort(key=lambda e: e["index"])
    return (
        BatchResult(created=len(created), duplicates=len(ready) - len(created), errors=errors),
        [activity_id for activity_id, _ in created],
    )
