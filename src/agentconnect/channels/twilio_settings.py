"""A company's Twilio settings: the account, its numbers, and the auth token (encrypted at
rest with a key derived from the app secret, never returned).

The auth token is also what every Twilio webhook of the company is verified with
(`X-Twilio-Signature`), so reading it is on the hot path of status callbacks: one primary-key
read and an AES-GCM decryption, no more.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.channels import schemas
from agentconnect.channels.base import ProviderError
from agentconnect.channels.repository import KEEP, ChannelSettingRepository, SecretUpdate
from agentconnect.channels.settings import secret_context
from agentconnect.errors import InvalidInput
from agentconnect.kit.crypto import SecretDecryptionError, decrypt_secret, encrypt_secret
from agentconnect.models import ChannelSetting

TWILIO = "twilio"
_STORED_FIELDS = (
    "account_sid",
    "sms_from",
    "messaging_service_sid",
    "messaging_service_rate",
    "whatsapp_from",
    "voice_from",
    "transfer_number",
)
# Twilio's documented sending rates per sender (messages per second).
LONG_CODE_RATE = 1.0
TOLL_FREE_RATE = 3.0
SHORT_CODE_RATE = 100.0
DEFAULT_MESSAGING_SERVICE_RATE = 1.0
# North American toll-free prefixes: +1 800, 833, 844, 855, 866, 877, 888.
_TOLL_FREE = re.compile(r"^\+1(800|833|844|855|866|877|888)\d{7}$")
_SHORT_CODE = re.compile(r"^\d{5,6}$")


@dataclass(frozen=True)
class TwilioConfig:
    """A company's Twilio account, its auth token decrypted."""

    company_id: uuid.UUID
    account_sid: str
    auth_token: str = field(repr=False)  # never in a log line or a traceback
    sms_from: str | None = None
    messaging_service_sid: str | None = None
    messaging_service_rate: float | None = None
    whatsapp_from: str | None = None
    voice_from: str | None = None
    transfer_number: str | None = None

    @property
    def sms_rate(self) -> float | None:
        return sms_rate(self.sms_from, self.messaging_service_sid, self.messaging_service_rate)


def sms_rate(
    sms_from: str | None, messaging_service_sid: str | None, service_rate: float | None
) -> float | None:
    """Messages per second the company's SMS sender allows: a Messaging Service sends at its
    senders' combined rate (configured), else the number's own rate by its kind."""
    if messaging_service_sid:
        return service_rate or DEFAULT_MESSAGING_SERVICE_RATE
    if sms_from is None:
        return None
    if _SHORT_CODE.match(sms_from):
        return SHORT_CODE_RATE
    if _TOLL_FREE.match(sms_from):
        return TOLL_FREE_RATE
    return LONG_CODE_RATE


def webhook_urls(base_url: str, company_id: uuid.UUID) -> schemas.TwilioWebhookUrls:
    root = f"{base_url.rstrip('/')}/webhooks/twilio/{company_id}"
    return schemas.TwilioWebhookUrls(
        incoming_messages=f"{root}/messages/inbound", message_status=f"{root}/messages/status"
    )


def _describe(
    row: ChannelSetting | None, base_url: str, company_id: uuid.UUID
) -> schemas.TwilioSettings:
    stored: dict[str, Any] = dict(row.settings or {}) if row is not None else {}
    return schemas.TwilioSettings(
        account_sid=stored.get("account_sid"),
        auth_token_set=row is not None and row.secret_ciphertext is not None,
        sms_from=stored.get("sms_from"),
        messaging_service_sid=stored.get("messaging_service_sid"),
        messaging_service_rate=stored.get("messaging_service_rate"),
        whatsapp_from=stored.get("whatsapp_from"),
        voice_from=stored.get("voice_from"),
        transfer_number=stored.get("transfer_number"),
        sms_rate_per_second=sms_rate(
            stored.get("sms_from"),
            stored.get("messaging_service_sid"),
            stored.get("messaging_service_rate"),
        ),
        webhooks=webhook_urls(base_url, company_id),
        updated_at=row.updated_at if row is not None else None,
    )


async def get_twilio_settings(
    session: AsyncSession, principal: Principal, *, base_url: str
) -> schemas.TwilioSettings:
    row = await ChannelSettingRepository(session, principal.company_id).find(TWILIO)
    return _describe(row, base_url, principal.company_id)


async def put_twilio_settings(
    session: AsyncSession,
    principal: Principal,
    data: schemas.TwilioSettingsUpdate,
    *,
    secret_key: str,
    base_url: str,
) -> schemas.TwilioSettings:
    repo = ChannelSettingRepository(session, principal.company_id)
    problems: list[dict[str, Any]] = []
    if data.auth_token is None:
        row = await repo.find(TWILIO)
        if row is None or row.secret_ciphertext is None:
            problems.append(
                {"loc": ["body", "auth_token"], "msg": "required: none is stored yet",
                 "type": "missing"}
            )  # fmt: skip
    if not any((data.sms_from, data.messaging_service_sid, data.whatsapp_from, data.voice_from)):
        problems.append(
            {
                "loc": ["body"],
                "msg": "name at least one sender: sms_from, messaging_service_sid, "
                "whatsapp_from or voice_from",
                "type": "missing",
            }
        )
    if data.messaging_service_rate is not None and data.messaging_service_sid is None:
        problems.append(
            {
                "loc": ["body", "messaging_service_rate"],
                "msg": "only meaningful with messaging_service_sid",
                "type": "value_error",
            }
        )
    if problems:
        raise InvalidInput("the Twilio settings are incomplete", errors=problems)
    settings = {name: getattr(data, name) for name in _STORED_FIELDS}
    secret: SecretUpdate = KEEP
    if data.auth_token is not None:
        secret = encrypt_secret(
            data.auth_token, secret_key, context=secret_context(principal.company_id, TWILIO)
        )
    row = await repo.save(TWILIO, settings, secret=secret)
    CACHE.forget(principal.company_id)
    return _describe(row, base_url, principal.company_id)


class ConfigCache:
    """Companies' Twilio settings as status callbacks read them, kept for a few seconds: at a
    thousand callbacks a second, reading and decrypting them for each would be most of the
    work. A save in this process forgets the company's entry at once; other processes see a
    change within `seconds` (a token rotated at Twilio is still accepted that much longer)."""

    def __init__(self, seconds: float = 5.0) -> None:
        self.seconds = seconds
        self._entries: dict[uuid.UUID, tuple[float, TwilioConfig | None]] = {}

    def get(self, company_id: uuid.UUID, clock: float) -> tuple[bool, TwilioConfig | None]:
        entry = self._entries.get(company_id)
        if entry is None or clock - entry[0] > self.seconds:
            return False, None
        return True, entry[1]

    def put(self, company_id: uuid.UUID, config: TwilioConfig | None, clock: float) -> None:
        if len(self._entries) > 10_000:  # many companies: start over rather than grow
            self._entries.clear()
        self._entries[company_id] = (clock, config)

    def forget(self, company_id: uuid.UUID) -> None:
        self._entries.pop(company_id, None)


CACHE = ConfigCache()

_READ_CONFIG = text(
    "SELECT settings, secret_ciphertext FROM channel_settings "
    "WHERE company_id = :company_id AND channel = 'twilio'"
)


async def twilio_config(
    session: AsyncSession, company_id: uuid.UUID, secret_key: str
) -> TwilioConfig | None:
    """The company's Twilio configuration with its auth token, or None when it has none.

    ProviderError (permanent) when the stored token cannot be decrypted: the app secret
    changed since it was saved, and only saving it again helps.
    """
    row = (await session.execute(_READ_CONFIG, {"company_id": company_id})).first()
    if row is None:
        return None
    return config_from_row(company_id, row.settings, row.secret_ciphertext, secret_key)


def config_from_row(
    company_id: uuid.UUID,
    stored: dict[str, Any] | None,
    ciphertext: bytes | None,
    secret_key: str,
) -> TwilioConfig | None:
    """The configuration in a `channel_settings` row, its token decrypted."""
    stored = stored or {}
    if ciphertext is None or not stored.get("account_sid"):
        return None
    try:
        token = decrypt_secret(
            bytes(ciphertext), secret_key, context=secret_context(company_id, TWILIO)
        )
    except SecretDecryptionError as exc:
        raise ProviderError(
            f"the stored Twilio auth token cannot be used ({exc}); save it again",
            transient=False,
        ) from exc
    return TwilioConfig(
        company_id=company_id,
        account_sid=stored["account_sid"],
        auth_token=token,
        sms_from=stored.get("sms_from"),
        messaging_service_sid=stored.get("messaging_service_sid"),
        messaging_service_rate=stored.get("messaging_service_rate"),
        whatsapp_from=stored.get("whatsapp_from"),
        voice_from=stored.get("voice_from"),
        transfer_number=stored.get("transfer_number"),
    )
