"""Voice calls through Twilio's Calls API: the sender only places the call.

What happens on the call is decided by our webhooks (channels/twilio_voice_webhooks.py):
Twilio fetches TwiML from `Url` when the callee answers; asynchronous answering-machine
detection (`DetectMessageEnd`) reports a machine once its greeting ends, and the call is then
redirected to leave the step's voicemail after the beep; a person talks to the AI agent.
"""

from __future__ import annotations

from agentconnect.channels.base import OutboundMessage, ProviderError, ProviderResult
from agentconnect.channels.twilio_client import TwilioAccount

# Twilio places one call per second per account unless the account's limit was raised.
CALLS_PER_SECOND = 1.0
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioVoiceProvider:
    name = "twilio"

    def __init__(self, account: TwilioAccount) -> None:
        self.account = account
        self.rate_per_second: float | None = CALLS_PER_SECOND

    async def send(self, message: OutboundMessage) -> ProviderResult:
        caller = self.account.config.voice_from
        if not caller:
            raise ProviderError("no voice number is configured for Twilio", transient=False)
        if message.delivery_id is None:
            raise ProviderError("a call needs its delivery id for its callbacks", transient=False)
        url = self.account.url
        delivery = message.delivery_id
        async with self.account.calling():
            call = await self.account.client.calls.create_async(
                to=message.to,
                from_=caller,
                url=url("voice/twiml", delivery),
                method="POST",
                status_callback=url("voice/status", delivery),
                status_callback_event=STATUS_EVENTS,
                status_callback_method="POST",
                machine_detection="DetectMessageEnd",
                async_amd="true",
                async_amd_status_callback=url("voice/amd", delivery),
                async_amd_status_callback_method="POST",
                record=True,
                recording_status_callback=url("voice/recording", delivery),
                recording_status_callback_method="POST",
            )
        return ProviderResult(
            provider=self.name, provider_message_id=str(call.sid), status=str(call.status)
        )

    async def close(self) -> None:
        await self.account.close()
