"""The values a message can be personalised with, gathered from a contact, lead and company."""

from __future__ import annotations

from typing import Any

from agentconnect.models import Company, Contact, Lead

_CONTACT_FIELDS = (
    "first_name", "last_name", "email", "phone", "company_name", "job_title", "industry",
    "company_size", "timezone", "lifecycle_stage", "lead_source",
)  # fmt: skip


def render_context(
    contact: Contact | Any | None, lead: Lead | Any | None, company: Company | Any | None
) -> dict[str, Any]:
    """From ORM objects or from rows with the same column names (the engine reads rows)."""
    context: dict[str, Any] = {}
    if contact is not None:
        for field in _CONTACT_FIELDS:
            value = getattr(contact, field)
            context[field] = value.value if hasattr(value, "value") else value
        names = [n for n in (contact.first_name, contact.last_name) if n]
        context["full_name"] = " ".join(names) or None
        context["custom"] = dict(contact.custom_fields or {})
    if lead is not None:
        context["deal_value"] = lead.deal_value
        context["stage"] = getattr(lead.stage, "value", lead.stage)
        context["lead_title"] = lead.title
        context["currency"] = lead.currency
    if company is not None:
        context["company.name"] = company.name
        context["company.postal_address"] = company.postal_address
    return context
