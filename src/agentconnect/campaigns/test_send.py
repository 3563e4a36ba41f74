"""Test-send: one step rendered for one contact (or sample data), sent to one address only."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.campaigns import schemas
from agentconnect.campaigns.repository import StepRepository
from agentconnect.campaigns.steps import with_article
from agentconnect.channels.base import OutboundMessage
from agentconnect.channels.registry import ProviderEnvironment, send_now
from agentconnect.delivery.context import render_context
from agentconnect.delivery.renderer import SAMPLE_CONTEXT, render, render_message
from agentconnect.errors import InvalidInput, NotFound
from agentconnect.kit.emails import normalize_email
from agentconnect.kit.phones import to_e164
from agentconnect.models import CampaignMessage, Company, Contact, Lead, MessageType, Role


def _address(channel: MessageType, to: str) -> str:
    try:
        return normalize_email(to) if channel == MessageType.EMAIL else to_e164(to)
    except ValueError as error:
        kind = "an e-mail address" if channel == MessageType.EMAIL else "a phone number"
        raise InvalidInput(
            f"to: {with_article(channel.value)} step is sent to {kind}; {error}",
            errors=[{"loc": ["body", "to"], "msg": str(error)}],
        ) from None


def _template_details(step: CampaignMessage, context: dict[str, Any]) -> dict[str, Any]:
    """A WhatsApp step's approved template, its variables rendered: a test-send uses it, as it
    is what reaches a contact outside the 24-hour window (and all a template-only step has)."""
    template = (step.options or {}).get("whatsapp_template")
    if step.message_type != MessageType.WHATSAPP or not template:
        return {}
    variables = {k: render(v, context) for k, v in (template.get("variables") or {}).items()}
    return {"content_sid": template["content_sid"], "content_variables": variables}


async def test_send(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    request: schemas.TestSendRequest,
    *,
    secret_key: str | None,
    environment: ProviderEnvironment | None,
) -> schemas.TestSendResult:
    """No enrollment, no activity, no analytics: only the message to `to`.

    `secret_key` (the app secret) unlocks the company's stored SMTP password."""
    principal.require(Role.MANAGER)
    step = await StepRepository(session, principal.company_id).get_in(
        campaign_id, request.message_id
    )
    if step is None:
        raise NotFound(f"step {request.message_id} not found in campaign {campaign_id}")
    to = _address(step.message_type, request.to)
    subject, body = step.subject, step.body
    if request.variant is not None:
        variant = next((v for v in step.variants if v.get("name") == request.variant), None)
        if variant is None:
            raise NotFound(f"step {step.id} has no variant named {request.variant!r}")
        subject, body = variant.get("subject") or subject, variant.get("body") or body

    company = await session.get(Company, principal.company_id)
    context = dict(SAMPLE_CONTEXT)
    if request.contact_id is not None:
        contact = await session.scalar(
            select(Contact).where(
                Contact.company_id == principal.company_id, Contact.id == request.contact_id
            )
        )
        if contact is None:
            raise NotFound(f"contact {request.contact_id} not found")
        lead = await session.scalar(
            select(Lead)
            .where(Lead.company_id == principal.company_id, Lead.contact_id == contact.id)
            .order_by(Lead.created_at.desc())
            .limit(1)
        )
        context = render_context(contact, lead, company)
    else:
        context.update(render_context(None, None, company))
    rendered = render_message(subject, body, context, email=step.message_type == MessageType.EMAIL)
    result = await send_now(
        session,
        principal.company_id,
        OutboundMessage(
            company_id=principal.company_id,
            channel=step.message_type,
            to=to,
            subject=rendered.subject,
            body=rendered.body,
            html_body=rendered.html_body,
            metadata={"test": True, "campaign_id": str(campaign_id), "message_id": str(step.id)},
            details=_template_details(step, context),
        ),
        secret_key=secret_key,
        environment=environment,
    )
    return schemas.TestSendResult(
        channel=step.message_type,
        to=to,
        subject=rendered.subject,
        body=rendered.body,
        html_body=rendered.html_body,
        provider=result.provider,
        provider_message_id=result.provider_message_id,
    )
