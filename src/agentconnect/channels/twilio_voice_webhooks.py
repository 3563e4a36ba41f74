"""Twilio's voice webhooks for campaign calls, under `/webhooks/twilio/{company_id}/voice/`.

Each URL names the delivery the call belongs to (`?delivery=`), and Twilio's signature covers
the whole URL, so the id cannot be swapped. Every request is verified first (403 otherwise,
nothing stored); what each one does is in channels/twilio_calls.py.

- `POST .../voice/twiml` — the TwiML when the callee answers (the agent's greeting).
- `POST .../voice/gather` — a speech `<Gather>` result: the agent's next turn as TwiML.
- `POST .../voice/amd` — asynchronous answering-machine detection's verdict.
- `POST .../voice/status` — call status callbacks.
- `POST .../voice/recording` — a recording is ready.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from agentconnect.agent.base import Agent
from agentconnect.channels import twilio_calls as calls
from agentconnect.channels.registry import ProviderEnvironment
from agentconnect.channels.twilio_calls import CallContext
from agentconnect.channels.twilio_client import TwilioAccount
from agentconnect.channels.twilio_signature import REFUSED, TwilioRequest, verify
from agentconnect.deps import ProviderEnvironmentDep, SecretKeyDep, SessionDep
from agentconnect.errors import Forbidden

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio webhooks"])

_XML = "application/xml"


def _agent(request: Request) -> Agent:
    """The app's agent (`app.state.voice_agent`, pluggable), else the built-in rule agent."""
    agent: Agent | None = getattr(request.app.state, "voice_agent", None)
    return agent or calls.default_agent()


@dataclass(frozen=True)
class VoiceCallback:
    """A verified voice webhook and the call it names (None: the URL names no call of the
    company, which is answered harmlessly rather than as an error Twilio would retry)."""

    verified: TwilioRequest
    call: CallContext | None
    environment: ProviderEnvironment


async def verified_callback(
    company_id: str,
    request: Request,
    session: SessionDep,
    secret: SecretKeyDep,
    environment: ProviderEnvironmentDep,
) -> VoiceCallback:
    """Every voice webhook's first step: the signature (403 otherwise, nothing stored), then
    the call of `?delivery=`."""
    try:
        company = uuid.UUID(company_id)
    except ValueError:
        raise Forbidden(REFUSED) from None  # as for a bad signature: the URL tells nothing
    verified = await verify(
        request,
        session,
        company,
        secret_key=secret,
        public_base_url=environment.public_base_url,
    )
    try:
        delivery_id = uuid.UUID(request.query_params.get("delivery", ""))
    except ValueError:
        return VoiceCallback(verified, None, environment)
    return VoiceCallback(
        verified, await calls.load_call(session, company, delivery_id), environment
    )


CallbackDep = Annotated[VoiceCallback, Depends(verified_callback)]


def _turn(request: Request) -> int | None:
    """Which turn a Gather result answers (`turn=`, set by the app in the Gather's URL)."""
    value = request.query_params.get("turn", "")
    return int(value) if value.isdigit() else None


def _gather_url(environment: ProviderEnvironment, call: CallContext) -> str:
    company_id, delivery_id = call.delivery.company_id, call.delivery.id
    root = environment.public_base_url
    return f"{root}/webhooks/twilio/{company_id}/voice/gather?delivery={delivery_id}"


@router.post("/{company_id}/voice/twiml", response_class=Response)
async def voice_twiml(request: Request, session: SessionDep, callback: CallbackDep) -> Response:
    """TwiML for an answered campaign call: the AI agent's greeting in a speech `<Gather>`, or
    the step's script when the campaign has no call flow."""
    call = callback.call
    if call is None:
        return Response(calls.hangup_twiml(), media_type=_XML)
    twiml = await calls.start(
        session,
        call,
        callback.verified.form,
        _gather_url(callback.environment, call),
        _agent(request),
        datetime.now(UTC),
        transfer_number=callback.verified.config.transfer_number,
    )
    return Response(twiml, media_type=_XML)


@router.post("/{company_id}/voice/gather", response_class=Response)
async def voice_gather(request: Request, session: SessionDep, callback: CallbackDep) -> Response:
    """What the callee said (`SpeechResult`; none when they stayed silent): the agent's next
    turn as TwiML."""
    call = callback.call
    if call is None:
        return Response(calls.hangup_twiml(), media_type=_XML)
    twiml = await calls.speech(
        session,
        call,
        callback.verified.form,
        _gather_url(callback.environment, call),
        _agent(request),
        datetime.now(UTC),
        transfer_number=callback.verified.config.transfer_number,
        answering=_turn(request),
    )
    return Response(twiml, media_type=_XML)


@router.post("/{company_id}/voice/amd", status_code=204, response_class=Response)
async def voice_amd(session: SessionDep, callback: CallbackDep) -> Response:
    """Answering-machine detection's verdict (`AnsweredBy`): a machine gets the voicemail."""
    if callback.call is not None:
        account = TwilioAccount(
            callback.verified.config,
            public_base_url=callback.environment.public_base_url,
            api_base=callback.environment.twilio_api_base,
        )
        try:
            await calls.machine_detected(
                session, callback.call, callback.verified.form, account, datetime.now(UTC)
            )
        finally:
            await account.close()
    return Response(status_code=204)


@router.post("/{company_id}/voice/status", status_code=204, response_class=Response)
async def voice_status(session: SessionDep, callback: CallbackDep) -> Response:
    """A call status callback (`CallStatus`, `CallDuration`)."""
    if callback.call is not None:
        await calls.call_status(session, callback.call, callback.verified.form, datetime.now(UTC))
    return Response(status_code=204)


@router.post("/{company_id}/voice/recording", status_code=204, response_class=Response)
async def voice_recording(session: SessionDep, callback: CallbackDep) -> Response:
    """A finished recording (`RecordingSid`, `RecordingUrl`): referenced on the call session."""
    if callback.call is not None:
        await calls.recording(session, callback.call, callback.verified.form, datetime.now(UTC))
    return Response(status_code=204)
