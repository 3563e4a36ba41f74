"""Twilio messaging webhooks: `POST /webhooks/twilio/{company_id}/messages/status` (delivery
reports, sent with each message as its StatusCallback) and `.../messages/inbound` (texts and
WhatsApp messages to the company's numbers, configured on the number in Twilio's console).

Each request is verified first (`X-Twilio-Signature` under the company's auth token, over the
public URL; see twilio_signature.py): 403 and nothing stored otherwise. What the callbacks mean
is in twilio_messaging.py. The status endpoint takes a few thousand requests a second at
peak, so it does only this: the raw body read once, one settings read, the HMAC, one SQL
statement.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from agentconnect.channels import twilio_messaging
from agentconnect.channels.base import ProviderError
from agentconnect.channels.twilio_settings import twilio_config
from agentconnect.channels.twilio_signature import (
    SIGNATURE_HEADER,
    TwilioRequest,
    parse_form,
    public_url,
)
from agentconnect.deps import PublicBaseUrlDep, SecretKeyDep, SessionDep
from agentconnect.errors import Forbidden

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio webhooks"])

TWIML_MEDIA_TYPE = "application/xml"
_REFUSED = "the request does not carry a valid Twilio signature for this company"
_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "missing or wrong signature, or no Twilio settings for the company"},
    422: {"description": "a signed request without Twilio's fields"},
}


class _MultiValues(dict[str, list[str]]):
    """Parameters with all their values, in the shape RequestValidator reads repeated ones
    from (`getall`, as a MultiDict); given a plain dict it would wrap each list in another."""

    def getall(self, name: str) -> list[str]:
        return self[name]


async def _verify(
    request: Request, session: AsyncSession, company_id: uuid.UUID, secret: str, base_url: str
) -> TwilioRequest:
    """twilio_signature.verify's checks, in order, with the parameters wrapped for the
    validator. TODO: call twilio_signature.verify once it wraps them itself (today it hands
    RequestValidator a dict of lists and fails with TypeError on every signed form)."""
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise Forbidden(_REFUSED)
    try:
        config = await twilio_config(session, company_id, secret)
    except ProviderError:  # a token that cannot be decrypted verifies nothing
        config = None
    if config is None:
        raise Forbidden(_REFUSED)
    params = _MultiValues(parse_form(await request.body()))
    validator = RequestValidator(config.auth_token)
    if not validator.validate(public_url(request, base_url), params, signature):
        raise Forbidden(_REFUSED)
    form = {name: values[-1] for name, values in params.items()}
    if form.get("AccountSid", config.account_sid) != config.account_sid:
        raise Forbidden(_REFUSED)
    return TwilioRequest(config, form)


async def _verified(
    company_id: str, request: Request, session: AsyncSession, secret: str, base_url: str
) -> TwilioRequest:
    try:
        company = uuid.UUID(company_id)
    except ValueError:
        # The same answer as a bad signature: a prober learns nothing from the URL.
        raise Forbidden(_REFUSED) from None
    return await _verify(request, session, company, secret, base_url)


@router.post(
    "/{company_id}/messages/status",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "recorded (or a repeat, ignored)"}, **_RESPONSES},
)
async def message_status(
    company_id: str,
    request: Request,
    session: SessionDep,
    secret: SecretKeyDep,
    base_url: PublicBaseUrlDep,
) -> Response:
    """A Twilio message status callback (`MessageSid`, `MessageStatus`, `ErrorCode`, ...).

    Stored once per message and status; the delivery's status moves forward only, and each
    real transition writes one activity (`sms_delivered`, `sms_failed`, `whatsapp_delivered`,
    `whatsapp_read`, `whatsapp_failed`). Error 21610 (the recipient had replied STOP) also
    suppresses the number. A message the company never sent is stored and ignored.
    """
    verified = await _verified(company_id, request, session, secret, base_url)
    await twilio_messaging.record_status(session, verified.company_id, verified.form)
    return Response(status_code=204)


@router.post(
    "/{company_id}/messages/inbound",
    response_class=Response,
    responses={
        200: {
            "description": "TwiML: empty, or the HELP answer",
            "content": {TWIML_MEDIA_TYPE: {}},
        },
        **_RESPONSES,
    },
)
async def inbound_message(
    company_id: str,
    request: Request,
    session: SessionDep,
    secret: SecretKeyDep,
    base_url: PublicBaseUrlDep,
) -> Response:
    """A text or WhatsApp message to one of the company's numbers (`MessageSid`, `From`, `To`,
    `Body`, ...).

    STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT) suppresses the number on
    that channel and cancels the contact's queued messages there; START/UNSTOP lifts that;
    HELP/INFO answers with the company's `sms_help_text`. Anything else from a contact is a
    reply: `sms_replied`/`whatsapp_replied`, the contact's conversation, `reply` goals and a
    new score. Stored once by `MessageSid`: a repeat answers the same TwiML and does nothing.
    """
    verified = await _verified(company_id, request, session, secret, base_url)
    twiml = await twilio_messaging.receive_message(session, verified.company_id, verified.form)
    return Response(content=twiml, media_type=TWIML_MEDIA_TYPE)
