"""Inbound email webhooks: `POST /webhooks/email/{provider}?company_id=...`.

Verified first, with the Standard Webhooks scheme (the one outbound webhooks use): headers
`webhook-id`, `webhook-timestamp` (Unix seconds, within 5 minutes of now) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{raw body}">` (several
space-separated signatures are accepted, any one matching). The secret is per company,
`whsec_<base64 key>`, derived from the app secret and the company id, so nothing new is stored;
an admin reads it, with the URL to configure, at `GET /api/v1/channels/email/webhook`.
A wrong or missing signature answers 403 and stores nothing.

Body (provider `generic`):
`{"events": [{"id", "type": "bounce"|"complaint"|"delivered"|"reply", "message_id",
"recipient", "bounce_type": "hard"|"soft", "reason", "occurred_at", "from", "subject",
"text"}]}`; `message_id` is the Message-ID of our message (for a reply, its In-Reply-To).
"""

from __future__ import annotations

import base64
import hmac
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentconnect.channels import inbound
from agentconnect.deps import AdminDep, SecretKeyDep, SessionDep, SettingsDep
from agentconnect.errors import Forbidden, InvalidInput, NotFound
from agentconnect.kit.schemas import InputSchema
from agentconnect.kit.timestamps import plausible_event_time

router = APIRouter(tags=["channels"])
admin_router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

PROVIDERS = frozenset({"generic"})
TOLERANCE_SECONDS = 5 * 60
MAX_EVENTS = 1000
_SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
_DIGITS = re.compile(r"\d{1,12}")


def webhook_secret(app_secret: str, company_id: uuid.UUID) -> str:
    """The company's inbound email webhook secret, in Standard Webhooks' `whsec_` form."""
    key = hmac.digest(
        app_secret.encode(), f"agentconnect/inbound-email/v1:{company_id}".encode(), "sha256"
    )
    return _SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for a body (what a provider, or a test, sends)."""
    key = base64.b64decode(secret.removeprefix(_SECRET_PREFIX))
    content = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, content, "sha256")).decode("ascii")


def verify(secret: str, headers: Any, body: bytes, *, now: float | None = None) -> bool:
    webhook_id = headers.get("webhook-id") or ""
    timestamp = headers.get("webhook-timestamp") or ""
    signatures = headers.get("webhook-signature") or ""
    if not webhook_id or not _DIGITS.fullmatch(timestamp) or not signatures:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, webhook_id, int(timestamp), body)
    return any(hmac.compare_digest(expected, given) for given in signatures.split())


def _optional(limit: int) -> Any:
    return Field(default=None, max_length=limit)


class EmailEventIn(InputSchema):
    # Providers add fields of their own; only these are read.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)

    id: str = Field(min_length=1, max_length=200)
    type: Literal["bounce", "complaint", "delivered", "reply"]
    message_id: str | None = _optional(300)
    recipient: str | None = _optional(320)
    bounce_type: Literal["hard", "soft"] | None = None
    reason: str | None = _optional(2000)
    occurred_at: datetime | None = None
    sender: str | None = Field(default=None, alias="from", max_length=320)
    subject: str | None = _optional(1000)
    text: str | None = _optional(100_000)

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return None if value is None else plausible_event_time(value)


class EmailEventsIn(InputSchema):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    events: list[EmailEventIn] = Field(max_length=MAX_EVENTS)


class EmailEventsOut(BaseModel):
    received: int
    duplicates: int
    matched: int


class InboundWebhookOut(BaseModel):
    url: str
    secret: str
    signature: str


def _errors(error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": ["body", *err.get("loc", ())],
            "msg": str(err.get("msg", "")).removeprefix("Value error, "),
            "type": err.get("type", ""),
        }
        for err in error.errors()
    ]


def _event(item: EmailEventIn) -> inbound.EmailEvent:
    return inbound.EmailEvent(
        id=item.id,
        type=item.type,
        message_id=item.message_id,
        recipient=item.recipient,
        bounce_type=item.bounce_type,
        reason=item.reason,
        occurred_at=item.occurred_at,
        sender=item.sender,
        subject=item.subject,
        text=item.text,
        payload=item.model_dump(mode="json", by_alias=True, exclude_none=True),
    )


@router.post(
    "/webhooks/email/{provider}",
    response_model=EmailEventsOut,
    responses={403: {"description": "missing or wrong signature"}},
)
async def email_events(
    provider: str,
    request: Request,
    session: SessionDep,
    secret: SecretKeyDep,
    company_id: Annotated[str, Query(max_length=64)] = "",
) -> EmailEventsOut:
    """Bounce, complaint, delivery and reply events from an email provider.

    Signed with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`) under the company's secret (`GET /api/v1/channels/email/webhook`);
    403 otherwise. Each event is stored once by its `id`: a repeated event does nothing.
    Events naming a Message-ID the company never sent are stored and otherwise ignored.
    """
    if provider not in PROVIDERS:
        raise NotFound(f"unknown email provider {provider!r}; supported: generic")
    try:
        company = uuid.UUID(company_id)
    except ValueError:
        raise Forbidden("missing or invalid webhook signature") from None
    body = await request.body()
    if not verify(webhook_secret(secret, company), request.headers, body):
        raise Forbidden("missing or invalid webhook signature")
    if not await inbound.company_exists(session, company):
        raise Forbidden("missing or invalid webhook signature")
    try:
        parsed = EmailEventsIn.model_validate_json(body)
    except ValidationError as error:
        errors = _errors(error)
        raise InvalidInput("the body is not a valid list of email events", errors=errors) from None
    outcome = await inbound.receive(
        session, secret, company, provider, [_event(item) for item in parsed.events]
    )
    return EmailEventsOut(
        received=outcome.received, duplicates=outcome.duplicates, matched=outcome.matched
    )


@admin_router.get("/email/webhook", response_model=InboundWebhookOut)
async def email_webhook_settings(
    principal: AdminDep, secret: SecretKeyDep, settings: SettingsDep
) -> InboundWebhookOut:
    """Where an email provider sends bounce, complaint, delivery and reply events for this
    company, and the secret it signs them with (Standard Webhooks)."""
    base = str(settings.base_url).rstrip("/")
    return InboundWebhookOut(
        url=f"{base}/webhooks/email/generic?company_id={principal.company_id}",
        secret=webhook_secret(secret, principal.company_id),
        signature="standard-webhooks v1 (webhook-id, webhook-timestamp, webhook-signature)",
    )
