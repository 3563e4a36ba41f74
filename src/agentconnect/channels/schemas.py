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
