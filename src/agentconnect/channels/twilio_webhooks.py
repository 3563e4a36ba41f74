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

from agentconnect.channels import twilio_messaging
from agentconnect.channels.twilio_signature import TwilioRequest, verify
from agentconnect.deps import SessionDep, get_public_base_url, get_secret_key
from agentconnect.errors import Forbidden

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio webhooks"])

TWIML_MEDIA_TYPE = "application/xml"
_REFUSED = "the request does not carry a valid Twilio signature for this company"
_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "missing or wrong signature, or no Twilio settings for the company"},
    422: {"description": "a signed request without Twilio's fields"},
}


async def _verified(company_id: str, request: Request, session: AsyncSession) -> TwilioRequest:
    try:
        company = uuid.UUID(company_id)
    except ValueError:
        # The same answer as a bad signature: a prober learns nothing from the URL.
        raise Forbidden(_REFUSED) from None
    # Read here rather than through SecretKeyDep/PublicBaseUrlDep: FastAPI runs a plain-def
    # dependency in its thread pool, two thread hand-offs per callback on the hot path.
    secret, base_url = get_secret_key(request), get_public_base_url(request)
    return await verify(request, session, company, secret_key=secret, public_base_url=base_url)


def _delivery_named(request: Request) -> uuid.UUID | None:
    """The delivery the callback URL names (`?delivery=`, covered by the signature)."""
    try:
        return uuid.UUID(request.query_params.get("delivery", ""))
    except ValueError:
        return None


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
) -> Response:
    """A Twilio message status callback (`MessageSid`, `MessageStatus`, `ErrorCode`, ...).

    Stored once per message and status; the delivery's status moves forward only, and each
    real transition writes one activity (`sms_delivered`, `sms_failed`, `whatsapp_delivered`,
    `whatsapp_read`, `whatsapp_failed`). Error 21610 (the recipient had replied STOP) also
    suppresses the number. A message the company never sent is stored and ignored.
    """
    # Autocommit: the write is one statement, atomic by itself (the rare 21610 path is ordered
    # so that each of its statements is), so BEGIN and COMMIT would be two round trips that
    # buy nothing on the hottest endpoint.
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    verified = await _verified(company_id, request, session)
    await twilio_messaging.record_status(
        session, verified.company_id, verified.form, _delivery_named(request)
    )
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
) -> Response:
    """A text or WhatsApp message to one of the company's numbers (`MessageSid`, `From`, `To`,
    `Body`, ...).

    STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT) suppresses the number on
    that channel and cancels the contact's queued messages there; START/UNSTOP lifts that;
    HELP/INFO answers with the company's `sms_help_text`. Anything else from a contact is a
    reply: `sms_replied`/`whatsapp_replied`, the contact's conversation, `reply` goals and a
    new score. Stored once by `MessageSid`: a repeat answers the same TwiML and does nothing.
    """
    verified = await _verified(company_id, request, session)
    twiml = await twilio_messaging.receive_message(session, verified.company_id, verified.form)
    return Response(content=twiml, media_type=TWIML_MEDIA_TYPE)
