"""SMS through Twilio's Messages API (the official SDK).

Each message carries our status callback URL, so delivery reports come back to the
company's webhook; the segment count Twilio bills is recorded. The sending rate (1/s for a
long code, 3/s toll-free, 100/s for a short code, or the Messaging Service's) is the
provider's `rate_per_second`, which the sender's rate limiter keeps to.
"""

from __future__ import annotations

from typing import Any

from agentconnect.channels.base import OutboundMessage, ProviderError, ProviderResult
from agentconnect.channels.twilio_client import TwilioAccount


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
        params["status_callback"] = self.account.url("messages/status")
        async with self.account.calling():
            sent = await self.account.client.messages.create_async(**params)
        segments = int(sent.num_segments) if str(sent.num_segments or "").isdigit() else None
        return ProviderResult(
            provider=self.name,
            provider_message_id=str(sent.sid),
            status=str(sent.status or "queued"),
            segments=segments,
        )

    async def close(self) -> None:
        await self.account.close()
