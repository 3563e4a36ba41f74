"""The development outbox: what the console provider recorded instead of sending."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from agentconnect.channels import console
from agentconnect.deps import SessionDep
from agentconnect.web import forms
from agentconnect.web.deps import ViewerDep
from agentconnect.web.render import page

router = APIRouter()
PAGE_SIZE = 50


@router.get("/outbox", include_in_schema=False)
async def outbox(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    offset = forms.integer(request.query_params, "offset", 0, 10_000_000) or 0
    rows, total = await console.recorded(session, viewer.principal, PAGE_SIZE, offset)
    return page(
        request,
        "outbox.html",
        viewer,
        section="outbox",
        messages=rows,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
    )
