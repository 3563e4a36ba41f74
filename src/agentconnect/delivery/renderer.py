"""Personalisation: `{{token}}` and `{{token|default}}` replaced by a contact's, lead's or
company's values.

A sandbox by construction: a token is a name looked up in a flat dictionary, never an
expression, so templates cannot reach attributes or run code. Values are HTML-escaped when the
template is HTML.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

TOKEN = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*(?:\|([^{}]*))?\}\}")
CUSTOM_PREFIX = "custom."

CONTACT_TOKENS = frozenset(
    {
        "first_name", "last_name", "full_name", "email", "phone", "company_name", "job_title",
        "industry", "company_size", "timezone", "lifecycle_stage", "lead_source",
    }
)  # fmt: skip
LEAD_TOKENS = frozenset({"deal_value", "stage", "lead_title", "currency"})
COMPANY_TOKENS = frozenset({"company.name", "company.postal_address"})
KNOWN_TOKENS = CONTACT_TOKENS | LEAD_TOKENS | COMPANY_TOKENS

SAMPLE_CONTEXT: dict[str, Any] = {
    "first_name": "Alex",
    "last_name": "Sample",
    "full_name": "Alex Sample",
    "email": "alex.sample@example.com",
    "phone": "+14155550100",
    "company_name": "Sample Corp",
    "job_title": "Head of Operations",
    "industry": "software",
    "company_size": "51-200",
    "timezone": "America/New_York",
    "lifecycle_stage": "lead",
    "lead_source": "website",
    "deal_value": Decimal("12500.00"),
    "stage": "sql",
    "lead_title": "Sample Corp expansion",
    "currency": "USD",
    "custom": {"plan": "pro"},
}


def tokens_in(template: str) -> list[str]:
    return [match.group(1) for match in TOKEN.finditer(template)]


def unknown_tokens(template: str) -> list[str]:
    """Tokens a template uses that no contact, lead or company can fill."""
    unknown = []
    for name in tokens_in(template):
        if name in KNOWN_TOKENS:
            continue
        if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
            continue
        unknown.append(name)
    return list(dict.fromkeys(unknown))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _lookup(context: Mapping[str, Any], name: str) -> Any:
    if name.startswith(CUSTOM_PREFIX):
        custom = context.get("custom") or {}
        value = custom.get(name[len(CUSTOM_PREFIX) :]) if isinstance(custom, Mapping) else None
        # Only plain values: a nested object in custom fields is not rendered.
        return value if isinstance(value, str | int | float | Decimal | bool) else None
    return context.get(name)


def render(template: str, context: Mapping[str, Any], *, html_escape: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        value = _text(_lookup(context, match.group(1)))
        if value == "" and match.group(2) is not None:
            value = match.group(2).strip()
        return html.escape(value) if html_escape else value

    return TOKEN.sub(replace, template)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str | None
    body: str
    html_body: str | None


# Where a block ends in HTML, the text part needs a line break.
_BLOCK_END = re.compile(r"</(?:p|div|h[1-6]|li|tr|table|blockquote)>|<br\s*/?>", re.I)
_ANY_BRACES = re.compile(r"\{\{.*?\}\}", re.S)


def malformed_tokens(template: str) -> list[str]:
    """`{{...}}` spans that are not a token: they would be sent with their braces."""
    return [m.group(0) for m in _ANY_BRACES.finditer(template) if not TOKEN.fullmatch(m.group(0))]


# A campaign step's template is rendered for every contact of a batch: what depends only on the
# template (is it HTML, its text-part template) is worked out once per template.
@functools.lru_cache(maxsize=256)
def looks_like_html(body: str) -> bool:
    return bool(re.search(r"<(html|body|p|div|br|a|table|span|strong|em|h[1-6])\b", body, re.I))


@functools.lru_cache(maxsize=256)
def _text_template(body: str) -> str:
    """The text part's template of an HTML body. Tags are stripped from the template, not
    from the result, so a value that looks like markup reaches the text part as the contact
    wrote it."""
    plain = html.unescape(_BLOCK_END.sub("\n", body))
    plain = re.sub(r"<[^>]+>", "", plain)
    return re.sub(r"\n\s*\n+", "\n\n", plain).strip()


def render_message(
    subject: str | None, body: str, context: Mapping[str, Any], *, email: bool
) -> RenderedMessage:
    """An email body written as HTML is rendered twice: escaped for the HTML part, plain for
    the text part. Other channels are plain text."""
    rendered_subject = render(subject, context) if subject is not None else None
    if email and looks_like_html(body):
        html_body = render(body, context, html_escape=True)
        return RenderedMessage(rendered_subject, render(_text_template(body), context), html_body)
    return RenderedMessage(rendered_subject, render(body, context), None)
