"""Wire shapes of the channel endpoints: console messages and email channel settings."""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from agentconnect.kit.emails import normalize_email
from agentconnect.kit.schemas import InputSchema, OutputSchema
from agentconnect.models import MessageType

EmailProviderName = Literal["console", "smtp"]
SmtpSecurity = Literal["none", "starttls", "tls"]

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def validate_hostname(value: str) -> str:
    """A DNS name or an IP address (IPv6 with or without brackets), lower-cased."""
    host = value.lower().removesuffix(".")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError("is not a valid host name or IP address")
    if labels[-1].isdigit():
        raise ValueError("is not a valid host name or IP address")  # 999.1.1.1
    return host


def _email(value: str) -> str:
    return normalize_email(value)


Hostname = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(validate_hostname)
]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
EmailAddress = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
# A header value: one line, so it cannot smuggle in headers of its own.
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n]*$")]
Username = Annotated[str, StringConstraints(min_length=1, max_length=320, pattern=r"^[^\r\n]*$")]
# Spaces are part of a password: never trimmed.
SmtpPassword = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000, strip_whitespace=False, pattern=r"^[^\r\n]*$"),
]


class ConsoleMessageOut(OutputSchema):
    id: uuid.UUID
    channel: MessageType
    to_address: str
    subject: str | None
    body: str
    html_body: str | None
    created_at: datetime


class EmailChannelSettingsUpdate(InputSchema):
    """The whole email configuration (PUT replaces it); `password` is the exception: omitted
    keeps the stored one, null clears it."""

    provider: EmailProviderName
    host: Hostname | None = None
    port: Port | None = None
    security: SmtpSecurity = "starttls"
    username: Username | None = None
    password: SmtpPassword | None = Field(default=None, json_schema_extra={"writeOnly": True})
    from_email: EmailAddress | None = None
    from_name: DisplayName | None = None
    reply_to: EmailAddress | None = None


class EmailChannelSettings(BaseModel):
    provider: EmailProviderName
    host: str | None
    port: int | None
    security: SmtpSecurity
    username: str | None
    password_set: bool
    from_email: str | None
    from_name: str | None
    reply_to: str | None
    updated_at: datetime | None


# --- Twilio -------------------------------------------------------------------------------------

AccountSid = Annotated[str, StringConstraints(pattern=r"^AC[0-9a-fA-F]{32}$")]
MessagingServiceSid = Annotated[str, StringConstraints(pattern=r"^MG[0-9a-fA-F]{32}$")]
# Twilio's auth tokens are 32 hex characters; API-key secrets and test tokens vary, so any
# printable token of a sane length is accepted.
AuthToken = Annotated[str, StringConstraints(min_length=16, max_length=128, pattern=r"^[!-~]+$")]
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]
# An SMS sender: an E.164 number, or a short code (5 or 6 digits).
SmsSender = Annotated[str, StringConstraints(pattern=r"^(\+[1-9]\d{6,14}|\d{5,6})$")]


class TwilioSettingsUpdate(InputSchema):
    """The whole Twilio configuration (PUT replaces it); `auth_token` is the exception:
    omitted keeps the stored one."""

    account_sid: AccountSid
    auth_token: AuthToken | None = Field(default=None, json_schema_extra={"writeOnly": True})
    sms_from: SmsSender | None = None
    messaging_service_sid: MessagingServiceSid | None = None
    messaging_service_rate: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="messages per second the Messaging Service's senders allow together "
        "(default 1 per second, a single long code)",
    )
    whatsapp_from: E164 | None = None
    voice_from: E164 | None = None
    transfer_number: E164 | None = None


class TwilioWebhookUrls(BaseModel):
    """Where to point the numbers in the Twilio console (status callbacks and call URLs are
    sent with each message and call, so they need no configuration)."""

    incoming_messages: str
    message_status: str


class TwilioSettings(BaseModel):
    account_sid: str | None
    auth_token_set: bool
    sms_from: str | None
    messaging_service_sid: str | None
    messaging_service_rate: float | None
    whatsapp_from: str | None
    voice_from: str | None
    transfer_number: str | None
    sms_rate_per_second: float | None = Field(
        description="the sending rate the engine keeps to for SMS: 1/s for a long code, 3/s "
        "toll-free, 100/s for a short code, or the Messaging Service's rate"
    )
    webhooks: TwilioWebhookUrls
    updated_at: datetime | None
