"""A company's channel settings: which provider sends its email, and that provider's
credentials (the password encrypted at rest, never returned)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.channels import schemas
from agentconnect.channels.base import ProviderError
from agentconnect.channels.email_message import EmailSender
from agentconnect.channels.email_smtp import SmtpSettings
from agentconnect.channels.repository import KEEP, ChannelSettingRepository, SecretUpdate
from agentconnect.errors import InvalidInput
from agentconnect.kit.crypto import SecretDecryptionError, decrypt_secret, encrypt_secret
from agentconnect.models import ChannelSetting

EMAIL = "email"
_SMTP_REQUIRED = ("host", "port", "from_email")
_STORED_FIELDS = (
    "provider",
    "host",
    "port",
    "security",
    "username",
    "from_email",
    "from_name",
    "reply_to",
)


@dataclass(frozen=True)
class SmtpConfig:
    """What an SmtpProvider is built from: connection settings and the sender."""

    smtp: SmtpSettings
    sender: EmailSender


def secret_context(company_id: uuid.UUID, channel: str) -> bytes:
    """Binds a stored secret to its row: copied into another company's row it won't decrypt."""
    return f"channel_settings:{company_id}:{channel}".encode()


def _describe(row: ChannelSetting | None) -> schemas.EmailChannelSettings:
    stored: dict[str, Any] = dict(row.settings or {}) if row is not None else {}
    return schemas.EmailChannelSettings(
        provider=stored.get("provider", "console"),
        host=stored.get("host"),
        port=stored.get("port"),
        security=stored.get("security", "starttls"),
        username=stored.get("username"),
        password_set=row is not None and row.secret_ciphertext is not None,
        from_email=stored.get("from_email"),
        from_name=stored.get("from_name"),
        reply_to=stored.get("reply_to"),
        updated_at=row.updated_at if row is not None else None,
    )


async def get_email_settings(
    session: AsyncSession, principal: Principal
) -> schemas.EmailChannelSettings:
    row = await ChannelSettingRepository(session, principal.company_id).find(EMAIL)
    return _describe(row)


async def put_email_settings(
    session: AsyncSession,
    principal: Principal,
    data: schemas.EmailChannelSettingsUpdate,
    *,
    secret_key: str,
) -> schemas.EmailChannelSettings:
    repo = ChannelSettingRepository(session, principal.company_id)
    password_given = "password" in data.model_fields_set
    if data.provider == "smtp":
        missing = [name for name in _SMTP_REQUIRED if getattr(data, name) is None]
        if data.username is not None:
            has_password = (
                data.password is not None if password_given else await _stored_password_exists(repo)
            )
            if not has_password:
                missing.append("password")
        if missing:
            raise InvalidInput(
                f"provider smtp needs {', '.join(missing)}",
                errors=[
                    {
                        "loc": ["body", name],
                        "msg": "required when provider is smtp"
                        + (" and a username is set" if name == "password" else ""),
                        "type": "missing",
                    }
                    for name in missing
                ],
            )
    settings = {name: getattr(data, name) for name in _STORED_FIELDS}
    secret: SecretUpdate = KEEP
    if password_given:
        secret = (
            None
            if data.password is None
            else encrypt_secret(
                data.password,
                secret_key,
                context=secret_context(principal.company_id, EMAIL),
            )
        )
    row = await repo.save(EMAIL, settings, secret=secret)
    return _describe(row)


async def _stored_password_exists(repo: ChannelSettingRepository) -> bool:
    row = await repo.find(EMAIL)
    return row is not None and row.secret_ciphertext is not None


async def smtp_config(
    session: AsyncSession, company_id: uuid.UUID, secret_key: str | None
) -> SmtpConfig | None:
    """The company's SMTP configuration with the password decrypted, or None when its email
    goes to the console provider.

    ProviderError (permanent) when the stored password cannot be decrypted: the app secret
    changed since it was saved, and only saving it again helps.
    """
    row = await ChannelSettingRepository(session, company_id).find(EMAIL)
    stored: dict[str, Any] = dict(row.settings or {}) if row is not None else {}
    if row is None or stored.get("provider") != "smtp":
        return None
    password: str | None = None
    if row.secret_ciphertext is not None:
        if secret_key is None:
            raise RuntimeError("the app secret is needed to read the company's SMTP password")
        try:
            password = decrypt_secret(
                row.secret_ciphertext, secret_key, context=secret_context(company_id, EMAIL)
            )
        except SecretDecryptionError as exc:
            raise ProviderError(
                f"the stored SMTP password cannot be used ({exc}); save it again",
                transient=False,
            ) from exc
    return SmtpConfig(
        smtp=SmtpSettings(
            host=stored["host"],
            port=int(stored["port"]),
            security=stored.get("security", "starttls"),
            username=stored.get("username"),
            password=password,
        ),
        sender=EmailSender(
            from_email=stored["from_email"],
            from_name=stored.get("from_name"),
            reply_to=stored.get("reply_to"),
        ),
    )
