"""Rules for contacts."""

from __future__ import annotations

import uuid
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.contacts import importer
from agentconnect.contacts.fields import IDENTITY_FIELDS
from agentconnect.contacts.import_repository import ImportStaging
from agentconnect.contacts.repository import ContactFilters, ContactRepository
from agentconnect.contacts.schemas import ContactCreate, ContactUpdate
from agentconnect.errors import InvalidInput, NotFound
from agentconnect.kit.integrity import conflicts_as_409
from agentconnect.kit.sorting import order_by
from agentconnect.models import Contact, OptInStatus, Role
from agentconnect.webhooks import events

SORTABLE = {
    "created_at": Contact.created_at,
    "updated_at": Contact.updated_at,
    "first_name": Contact.first_name,
    "last_name": Contact.last_name,
    "email": Contact.email,
    "company_name": Contact.company_name,
    "lead_score": Contact.lead_score,
    "last_contacted_at": Contact.last_contacted_at,
}

UNIQUE_MESSAGES = {
    "uq_contacts_company_id_email": "another contact already has this e-mail address",
    "uq_contacts_company_id_phone": "another contact already has this phone number",
}


async def list_contacts(
    session: AsyncSession,
    principal: Principal,
    filters: ContactFilters,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Contact], int]:
    contacts = ContactRepository(session, principal.company_id)
    stmt = contacts.filtered(filters).order_by(
        *order_by(sort, SORTABLE, default="-created_at", tiebreaker=Contact.id)
    )
    return await contacts.page(stmt, limit, offset)


async def get_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> Contact:
    contact = await ContactRepository(session, principal.company_id).get(contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    return contact


async def create_contact(
    session: AsyncSession, principal: Principal, data: ContactCreate
) -> Contact:
    contact = ContactRepository(session, principal.company_id).add(
        Contact(**data.model_dump(exclude_none=True))
    )
    async with conflicts_as_409(UNIQUE_MESSAGES):
        await session.flush()
    await events.emit_contact_events(session, principal.company_id, "contact.created", [contact.id])
    await session.refresh(contact)
    return contact


async def update_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID, data: ContactUpdate
) -> Contact:
    contact = await get_contact(session, principal, contact_id)
    was_opted_out = contact.opt_in_status == OptInStatus.OPTED_OUT
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(contact, name, value)
    if not any(getattr(contact, field) for field in IDENTITY_FIELDS):
        raise InvalidInput("a contact needs at least one of " + ", ".join(IDENTITY_FIELDS))
    async with conflicts_as_409(UNIQUE_MESSAGES):
        await session.flush()
    if not was_opted_out and contact.opt_in_status == OptInStatus.OPTED_OUT:
        await events.emit_contact_events(
            session, principal.company_id, "contact.opted_out", [contact.id], extra={"via": "api"}
        )
    await session.refresh(contact)
    return contact


async def delete_contact(
    session: AsyncSession, principal: Principal, contact_id: uuid.UUID
) -> None:
    contact = await get_contact(session, principal, contact_id)
    await session.delete(contact)
    await session.flush()


async def import_csv(
    session: AsyncSession, principal: Principal, binary: IO[bytes]
) -> importer.ImportReport:
    """Import a CSV of contacts (managers and admins: it can add many contacts at once)."""
    principal.require(Role.MANAGER)
    return await importer.import_contacts(ImportStaging(session, principal.company_id), binary)
