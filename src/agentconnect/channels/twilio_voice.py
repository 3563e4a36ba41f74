"""Voice calls through Twilio's Calls API: the sender only places the call.

What happens on the call is decided by our webhooks (channels/twilio_voice_webhooks.py):
Twilio fetches TwiML from `Url` when the callee answers; asynchronous answering-machine
detection (`DetectMessageEnd`) reports a machine once its greeting ends, and the call is then
redirected to leave the step's voicemail after the beep; a person talks to the AI agent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from twilio.twiml.voice_response import VoiceResponse

from agentconnect.channels.base import OutboundMessage, ProviderError, ProviderResult
from agentconnect.channels.twilio_client import TwilioAccount

_LOOKUP_LIMIT = 20
_CLOCK_SKEW = timedelta(minutes=2)
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
            return await self._test_call(message, caller)
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

    async def find_sent(self, message: OutboundMessage, since: datetime) -> ProviderResult | None:
        """The call Twilio placed for this delivery on an attempt whose outcome was never
        recorded, or None: the latest call from our number to the contact since the attempt
        began (a second call minutes later is the duplicate to avoid either way)."""
        caller = self.account.config.voice_from
        if not caller:
            return None
        async with self.account.calling():
            recent = await self.account.client.calls.list_async(
                to=message.to, from_=caller, limit=_LOOKUP_LIMIT
            )
        for call in recent:
            created = call.date_created
            if created is None or created >= since - _CLOCK_SKEW:
                return ProviderResult(self.name, str(call.sid), status=str(call.status))
        return None

    async def _test_call(self, message: OutboundMessage, caller: str) -> ProviderResult:
        """A test-send has no delivery for the webhooks to follow: the call reads the step's
        script (inline TwiML) and hangs up."""
        response = VoiceResponse()
        response.say(message.body or "This is a test call.")
        response.hangup()
        async with self.account.calling():
            call = await self.account.client.calls.create_async(
                to=message.to, from_=caller, twiml=str(response)
            )
        return ProviderResult(
            provider=self.name, provider_message_id=str(call.sid), status=str(call.status)
        )

    async def close(self) -> None:
        await self.account.close()
