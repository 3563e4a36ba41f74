"""Turn an OutboundMessage into a MIME message: headers, text and HTML parts, UTF-8."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from agentconnect.channels.base import OutboundMessage

# Headers the builder owns; an extra header with one of these names would make the message
# contradict its envelope or its own structure.
_RESERVED = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "sender"}
)
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")  # RFC 5322 ftext, kept to one line
_LINE_BREAKS = re.compile(r"[\r\n]+\s*")


@dataclass(frozen=True)
class EmailSender:
    from_email: str
    from_name: str | None = None
    reply_to: str | None = None


def _address(addr_spec: str, display_name: str | None = None) -> Address:
    return Address(display_name=_one_line(display_name or ""), addr_spec=addr_spec)


def _one_line(text: str) -> str:
    # A line break in a header value would start a new header (header injection).
    return _LINE_BREAKS.sub(" ", text).strip()


def _cte(text: str) -> str | None:
    # 8bit bodies need the server's 8BITMIME; quoted-printable travels through any server.
    return None if text.isascii() else "quoted-printable"


def _domain(addr_spec: str) -> str:
    return addr_spec.rpartition("@")[2] or "localhost"


def message_id_of(message: OutboundMessage, sender: EmailSender) -> str:
    """The Message-ID (without angle brackets) the message will carry."""
    if message.message_id_header:
        return message.message_id_header.strip().strip("<>")
    return make_msgid(domain=_domain(sender.from_email)).strip("<>")


def build_email(
    message: OutboundMessage, sender: EmailSender, *, message_id: str | None = None
) -> EmailMessage:
    """The MIME message for `message` from `sender`.

    multipart/alternative (text, then HTML) when there is an HTML body, else text/plain.
    `message_id` (without brackets) overrides `message.message_id_header`; when neither is
    given a new one is made. ValueError for a header that cannot be written safely.
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(sender.from_email, sender.from_name)
    msg["To"] = _address(message.to)
    msg["Subject"] = _one_line(message.subject or "")
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{message_id or message_id_of(message, sender)}>"
    if sender.reply_to:
        msg["Reply-To"] = _address(sender.reply_to)
    for name, value in message.headers.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if name.lower() in _RESERVED:
            raise ValueError(f"the {name} header is set by the builder, not by extra headers")
        if "\r" in value or "\n" in value:
            raise ValueError(f"the {name} header contains a line break")
        del msg[name]
        msg[name] = value
    msg.set_content(message.body, cte=_cte(message.body))
    if message.html_body is not None:
        msg.add_alternative(message.html_body, subtype="html", cte=_cte(message.html_body))
    return msg
