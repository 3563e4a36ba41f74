"""SMS through Twilio's Messages API (the official SDK).

Each message carries our status callback URL, so delivery reports come back to the
company's webhook; the segment count Twilio bills is recorded. The sending rate (1/s for a
long code, 3/s toll-free, 100/s for a short code, or the Messaging Service's) is the
provider's `rate_per_second`, which the sender's rate limiter keeps to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from twilio.base import values

from agentconnect.channels.base import OutboundMessage, ProviderError, ProviderResult
from agentconnect.channels.twilio_client import TwilioAccount

# How many of the number's latest messages a lookup reads, and how far Twilio's clock may be
# behind ours.
_LOOKUP_LIMIT = 50
_CLOCK_SKEW = timedelta(minutes=2)


class TwilioSmsProvider:
    name = "twilio"

    def __init__(self, account: TwilioAccount) -> None:
        self.account = account
        self.rate_per_second = account.config.sms_rate

    def _sender(self) -> dict[str, Any]:
        config = self.account.config
        if config.messaging_service_sid:
            return {"messaging_service_sid": config.messaging_service_sid}
        if config.sms_from:
            return {"from_": config.sms_from}
        raise ProviderError("no SMS sender is configured for Twilio", transient=False)

    def _params(self, message: OutboundMessage) -> dict[str, Any]:
        return {**self._sender(), "to": message.to, "body": message.body}

    async def send(self, message: OutboundMessage) -> ProviderResult:
        params = self._params(message)
        params["status_callback"] = self.account.url("messages/status", message.delivery_id)
        async with self.account.calling():
            sent = await self.account.client.messages.create_async(**params)
        segments = int(sent.num_segments) if str(sent.num_segments or "").isdigit() else None
        return ProviderResult(
            provider=self.name,
            provider_message_id=str(sent.sid),
            status=str(sent.status or "queued"),
            segments=segments,
        )

    async def find_sent(self, message: OutboundMessage, since: datetime) -> ProviderResult | None:
        """The message Twilio took for this delivery on an attempt whose outcome was never
        recorded (the sender died between Twilio's answer and its own commit), or None.

        Twilio has no idempotency key for creating messages, so the lookup lists what was
        sent to the number since the attempt began and matches the text (a template's text
        is Twilio's, so any message from our sender then counts): an identical message to
        the same person minutes apart is the duplicate to avoid either way.
        """
        params = self._params(message)
        async with self.account.calling():
            recent = await self.account.client.messages.list_async(
                to=params["to"], from_=params.get("from_", values.unset), limit=_LOOKUP_LIMIT
            )
        for sent in recent:
            created = sent.date_created
            if created is not None and created < since - _CLOCK_SKEW:
                continue
            if "body" in params and (sent.body or "").strip() != params["body"].strip():
                continue
            return ProviderResult(self.name, str(sent.sid), status=str(sent.status or "sent"))
        return None

    async def close(self) -> None:
        await self.account.close()
