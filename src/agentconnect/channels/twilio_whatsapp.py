"""WhatsApp through Twilio's Messages API: the same API as SMS with `whatsapp:` addresses.

Free-form text is allowed only within 24 hours of the contact's last message to us; outside
that window only an approved template (`ContentSid` with its variables) may be sent. The
scheduler decides which (delivery/scheduler.py); this provider sends what it decided.
"""

from __future__ import annotations

import json
from typing import Any

from agentconnect.channels.base import OutboundMessage, ProviderError
from agentconnect.channels.twilio_client import TwilioAccount
from agentconnect.channels.twilio_sms import TwilioSmsProvider

PREFIX = "whatsapp:"


def whatsapp_address(number: str) -> str:
    return number if number.startswith(PREFIX) else f"{PREFIX}{number}"


class TwilioWhatsAppProvider(TwilioSmsProvider):
    def __init__(self, account: TwilioAccount) -> None:
        super().__init__(account)
        # WhatsApp senders are throttled per number by Meta's tiers, far above what one
        # campaign step needs; Twilio queues the rest.
        self.rate_per_second = None

    def _params(self, message: OutboundMessage) -> dict[str, Any]:
        sender = self.account.config.whatsapp_from
        if not sender:
            raise ProviderError("no WhatsApp sender is configured for Twilio", transient=False)
        params: dict[str, Any] = {
            "from_": whatsapp_address(sender),
            "to": whatsapp_address(message.to),
        }
        content_sid = message.details.get("content_sid")
        if content_sid:
            params["content_sid"] = content_sid
            variables = message.details.get("content_variables") or {}
            if variables:
                params["content_variables"] = json.dumps(variables)
        else:
            params["body"] = message.body
        return params
