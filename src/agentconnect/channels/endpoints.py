"""Channel endpoints: what the console provider recorded, and the email and Twilio settings."""

from __future__ import annotations

from fastapi import APIRouter

from agentconnect.channels import console, schemas, settings, twilio_settings
from agentconnect.deps import AdminDep, ManagerDep, PublicBaseUrlDep, SecretKeyDep, SessionDep
from agentconnect.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


@router.get("/console/messages", response_model=Page[schemas.ConsoleMessageOut])
async def console_messages(
    session: SessionDep, principal: ManagerDep, page: PageDep
) -> Page[schemas.ConsoleMessageOut]:
    """Messages the console provider recorded instead of sending, newest first."""
    rows, total = await console.recorded(session, principal, page.limit, page.offset)
    items = [schemas.ConsoleMessageOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/email", response_model=schemas.EmailChannelSettings)
async def get_email_settings(
    session: SessionDep, principal: AdminDep
) -> schemas.EmailChannelSettings:
    """The company's email provider and its settings; `console` until configured. The
    password is never shown: `password_set` says whether one is stored."""
    return await settings.get_email_settings(session, principal)


@router.put("/email", response_model=schemas.EmailChannelSettings)
async def put_email_settings(
    session: SessionDep,
    principal: AdminDep,
    secret: SecretKeyDep,
    body: schemas.EmailChannelSettingsUpdate,
) -> schemas.EmailChannelSettings:
    """Replace the email settings. `provider: smtp` needs `host`, `port` and `from_email`
    (and a password when `username` is set). Omitting `password` keeps the stored one,
    `"password": null` clears it; it is stored encrypted and never returned."""
    return await settings.put_email_settings(session, principal, body, secret_key=secret)


@router.get("/twilio", response_model=schemas.TwilioSettings)
async def get_twilio_settings(
    session: SessionDep, principal: AdminDep, base_url: PublicBaseUrlDep
) -> schemas.TwilioSettings:
    """The company's Twilio account and numbers, the sending rate the engine keeps to, and the
    URLs to enter in the Twilio console. The auth token is never shown: `auth_token_set`
    says whether one is stored."""
    return await twilio_settings.get_twilio_settings(session, principal, base_url=base_url)


@router.put("/twilio", response_model=schemas.TwilioSettings)
async def put_twilio_settings(
    session: SessionDep,
    principal: AdminDep,
    secret: SecretKeyDep,
    base_url: PublicBaseUrlDep,
    body: schemas.TwilioSettingsUpdate,
) -> schemas.TwilioSettings:
    """Replace the Twilio settings: `account_sid`, `auth_token` (write-only; omitted keeps the
    stored one), and at least one sender (`sms_from` or `messaging_service_sid`,
    `whatsapp_from`, `voice_from`); `transfer_number` is where the AI agent puts callers
    through to a person."""
    return await twilio_settings.put_twilio_settings(
        session, principal, body, secret_key=secret, base_url=base_url
    )
