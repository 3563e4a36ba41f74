"""Contacts: the searchable table, CSV import with its per-row report, a contact's page."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Request, Response, UploadFile

from agentconnect.activities import service as activities
from agentconnect.contacts import service as contacts
from agentconnect.contacts.repository import ContactFilters
from agentconnect.conversations import service as conversations
from agentconnect.deps import SessionDep
from agentconnect.leads import service as leads
from agentconnect.leads.repository import LeadFilters
from agentconnect.leads.schemas import LeadCreate
from agentconnect.models import LifecycleStage, OptInStatus
from agentconnect.web import forms
from agentconnect.web.deps import ViewerDep, check_csrf
from agentconnect.web.render import is_htmx, page, redirect

router = APIRouter()
PAGE_SIZE = 25
SORTS = {
    "-created_at": "newest",
    "-lead_score": "best score",
    "last_name": "last name",
    "company_name": "company",
    "-last_contacted_at": "last contacted",
}


@router.get("/contacts", include_in_schema=False)
async def contact_list(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    params = request.query_params
    lifecycle = forms.choice(params, "lifecycle_stage", LifecycleStage)
    opt_in = forms.choice(params, "opt_in_status", OptInStatus)
    tag = forms.text(params, "tag", 64)
    sort = forms.text(params, "sort", 40)
    if sort not in SORTS:
        sort = "-created_at"
    filters = ContactFilters(
        q=forms.text(params, "q", 200),
        lifecycle_stage=[lifecycle] if lifecycle else [],
        opt_in_status=[opt_in] if opt_in else [],
        tags=[tag] if tag else [],
        min_score=forms.integer(params, "min_score", 0, 100),
        max_score=forms.integer(params, "max_score", 0, 100),
    )
    offset = forms.integer(params, "offset", 0, 10_000_000) or 0
    rows, total = await contacts.list_contacts(
        session, viewer.principal, filters, sort, PAGE_SIZE, offset
    )
    kept = {k: v for k, v in params.items() if k != "offset" and v}
    context: dict[str, Any] = {
        "contacts": rows,
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "query_base": urlencode(kept) + "&" if kept else "",
        "filters": {k: params.get(k, "") for k in ("q", "lifecycle_stage", "opt_in_status",
                                                    "tag", "min_score", "max_score", "sort")},
        "lifecycle_stages": list(LifecycleStage),
        "opt_in_statuses": list(OptInStatus),
        "sorts": SORTS,
    }  # fmt: skip
    template = "_contacts_table.html" if is_htmx(request) else "contacts.html"
    return page(request, template, viewer, section="contacts", **context)


@router.get("/contacts/import", include_in_schema=False)
async def import_form(request: Request, viewer: ViewerDep) -> Response:
    return page(request, "import.html", viewer, section="contacts", report=None)


@router.post("/contacts/import", include_in_schema=False, dependencies=[Depends(check_csrf)])
async def import_file(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    """The same import as `POST /api/v1/contacts/import` (managers and admins); the answer is
    the report: counts and every refused row with its reason."""
    report = await contacts.import_csv(session, viewer.principal, file.file)
    template = "_import_result.html" if is_htmx(request) else "import.html"
    return page(
        request, template, viewer, section="contacts", report=report, filename=file.filename
    )


@router.post(
    "/contacts/{contact_id}/leads", include_in_schema=False, dependencies=[Depends(check_csrf)]
)
async def open_lead(
    request: Request, session: SessionDep, viewer: ViewerDep, contact_id: uuid.UUID
) -> Response:
    """A new lead for the contact, as `POST /api/v1/leads` makes it (an agent's is its own)."""
    values = await request.form()
    data: dict[str, Any] = {
        "contact_id": contact_id,
        "title": forms.text(values, "title", 200),
        "deal_value": forms.decimal(values, "deal_value"),
    }
    body = LeadCreate.model_validate({k: v for k, v in data.items() if v is not None})
    lead = await leads.create_lead(session, viewer.principal, body)
    return redirect(request, f"/leads/{lead.id}", notice="lead-created")


@router.get("/contacts/{contact_id}", include_in_schema=False)
async def contact_page(
    request: Request, session: SessionDep, viewer: ViewerDep, contact_id: uuid.UUID
) -> Response:
    contact = await contacts.get_contact(session, viewer.principal, contact_id)
    timeline, timeline_total = await activities.timeline(
        session, viewer.principal, 50, 0, contact_id=contact.id
    )
    talks, _ = await conversations.list_for(session, viewer.principal, contact.id, 10, 0)
    contact_leads, _ = await leads.list_leads(
        session, viewer.principal, LeadFilters(contact_id=contact.id), "-created_at", 100, 0
    )
    return page(
        request,
        "contact.html",
        viewer,
        section="contacts",
        contact=contact,
        timeline=timeline,
        timeline_total=timeline_total,
        conversations=talks,
        leads=contact_leads,
    )
