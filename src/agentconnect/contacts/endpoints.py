"""Contacts: CRUD, filters and CSV import."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile, status

from agentconnect.activities import service as activities
from agentconnect.activities.schemas import Activity
from agentconnect.contacts import schemas, service
from agentconnect.contacts.repository import ContactFilters
from agentconnect.deps import ManagerDep, PrincipalDep, SessionDep, reads_only
from agentconnect.kit.pagination import Page, PageDep
from agentconnect.models import LifecycleStage, OptInStatus

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.get("", response_model=Page[schemas.Contact])
@reads_only
async def list_contacts(
    session: SessionDep,
    principal: PrincipalDep,
    page: PageDep,
    q: Annotated[
        str | None, Query(max_length=200, description="search name, e-mail, company")
    ] = None,
    lifecycle_stage: Annotated[list[LifecycleStage] | None, Query()] = None,
    lead_source: Annotated[list[str] | None, Query()] = None,
    tag: Annotated[list[str] | None, Query(description="repeatable; all must match")] = None,
    opt_in_status: Annotated[list[OptInStatus] | None, Query()] = None,
    do_not_contact: bool | None = None,
    min_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    max_score: Annotated[int | None, Query(ge=0, le=100)] = None,
    sort: Annotated[str | None, Query(max_length=200, examples=["-lead_score"])] = None,
) -> Page[schemas.Contact]:
    """List contacts, newest first by default. Repeated filters of one kind are ORed, except
    `tag`, where every tag given must be present."""
    filters = ContactFilters(
        q=q.strip() if q else None,
        lifecycle_stage=lifecycle_stage or [],
        lead_source=lead_source or [],
        tags=tag or [],
        opt_in_status=opt_in_status or [],
        do_not_contact=do_not_contact,
        min_score=min_score,
        max_score=max_score,
    )
    rows, total = await service.list_contacts(
        session, principal, filters, sort, page.limit, page.offset
    )
    items = [schemas.Contact.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=schemas.Contact, status_code=status.HTTP_201_CREATED)
async def create_contact(
    session: SessionDep, principal: PrincipalDep, body: schemas.ContactCreate
) -> schemas.Contact:
    """Create a contact. E-mail is lower-cased, phone normalised to E.164; both are unique
    within the company (409 when taken)."""
    return schemas.Contact.model_validate(await service.create_contact(session, principal, body))


@router.post("/import", response_model=schemas.ImportResult)
async def import_contacts(
    session: SessionDep,
    principal: ManagerDep,
    file: Annotated[UploadFile, File(description="CSV with a header row naming contact fields")],
) -> schemas.ImportResult:
    """Import contacts from a CSV file (multipart field `file`).

    Each row updates the contact with the same e-mail, else the same phone, or creates one.
    Empty cells leave a field as it is; `custom.KEY` columns fill custom fields; `tags` are
    separated by `;`. A bad row is reported in `errors` and never stops the good ones.
    A bulk operation: managers and admins only.
    """
    report = await service.import_csv(session, principal, file.file)
    return schemas.ImportResult(
        created=report.created,
        updated=report.updated,
        errors=[schemas.ImportRowError(**e) for e in report.errors],
        error_count=report.error_count,
        ignored_columns=report.ignored_columns,
    )


@router.get("/{contact_id}", response_model=schemas.Contact)
@reads_only
async def get_contact(
    session: SessionDep, principal: PrincipalDep, contact_id: uuid.UUID
) -> schemas.Contact:
    """One contact."""
    return schemas.Contact.model_validate(await service.get_contact(session, principal, contact_id))


@router.patch("/{contact_id}", response_model=schemas.Contact)
async def update_contact(
    session: SessionDep, principal: PrincipalDep, contact_id: uuid.UUID, body: schemas.ContactUpdate
) -> schemas.Contact:
    """Change some fields of a contact; fields left out stay as they are."""
    return schemas.Contact.model_validate(
        await service.update_contact(session, principal, contact_id, body)
    )


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_contact(
    session: SessionDep, principal: ManagerDep, contact_id: uuid.UUID
) -> Response:
    """Delete a contact for good, with its leads and history (manager or admin: an agent
    would otherwise remove other agents' leads with it)."""
    await service.delete_contact(session, principal, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{contact_id}/activities", response_model=Page[Activity])
@reads_only
async def contact_activities(
    session: SessionDep, principal: PrincipalDep, contact_id: uuid.UUID, page: PageDep
) -> Page[Activity]:
    """The contact's timeline, newest first: enrollments, messages, engagement, outside events."""
    await service.get_contact(session, principal, contact_id)
    rows, total = await activities.timeline(
        session, principal, page.limit, page.offset, contact_id=contact_id
    )
    items = [Activity.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
