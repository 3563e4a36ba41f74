"""Outbound webhook endpoints and their delivery log, as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from agentconnect.kit.schemas import InputSchema, OutputSchema
from agentconnect.webhooks.events import EVENT_TYPES

DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]


def _check_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value


def _check_event_types(value: list[str]) -> list[str]:
    unknown = [t for t in value if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"unknown event types {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}"
        )
    return list(dict.fromkeys(value))


class WebhookEndpointCreate(InputSchema):
    url: str = Field(min_length=1, max_length=2000, examples=["https://example.com/hooks/crm"])
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return _check_event_types(value)


class WebhookEndpointUpdate(InputSchema):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_event_types(value)


class RotateSecret(InputSchema):
    grace_hours: float = Field(
        default=24, ge=0, le=24 * 7, description="how long the old secret keeps signing"
    )


class WebhookEndpoint(OutputSchema):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpoint):
    secret: str = Field(description="whsec_...: shown only in this answer")


class WebhookDelivery(OutputSchema):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    response_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
