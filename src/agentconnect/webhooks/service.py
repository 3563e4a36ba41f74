"""Rules of outbound webhook endpoints: who may manage them, safe URLs, secrets and rotation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.errors import InvalidInput, NotFound
from agentconnect.kit.crypto import decrypt_secret, encrypt_secret
from agentconnect.kit.schemas import refuse_nulls
from agentconnect.models import Role, WebhookDelivery, WebhookEndpoint
from agentconnect.webhooks import schemas, signing, ssrf
from agentconnect.webhooks.repository import DeliveryRepository, EndpointRepository


def secret_context(company_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes:
    """Binds a stored secret to its endpoint: copied into another row it won't decrypt."""
    return f"webhook:{company_id}:{endpoint_id}".encode()


def encrypt(secret: str, secret_key: str, company_id: uuid.UUID, endpoint_id: uuid.UUID) -> bytes:
    return encrypt_secret(secret, secret_key, context=secret_context(company_id, endpoint_id))


def decrypt(
    ciphertext: bytes, secret_key: str, company_id: uuid.UUID, endpoint_id: uuid.UUID
) -> str:
    return decrypt_secret(ciphertext, secret_key, context=secret_context(company_id, endpoint_id))


async def _safe_url(url: str, allow_private: bool) -> None:
    try:
        await ssrf.check_url(url, allow_private=allow_private)
    except ssrf.UnsafeTarget as error:
        raise InvalidInput(
            "the webhook URL is not allowed",
            errors=[{"loc": ["body", "url"], "msg": str(error), "type": "value_error"}],
        ) from None


async def get_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    principal.require(Role.ADMIN)
    endpoint = await EndpointRepository(session, principal.company_id).get(endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


async def list_endpoints(
    session: AsyncSession, principal: Principal, limit: int, offset: int
) -> tuple[list[WebhookEndpoint], int]:
    principal.require(Role.ADMIN)
    return await EndpointRepository(session, principal.company_id).page_all(limit, offset)


async def create_endpoint(
    session: AsyncSession,
    principal: Principal,
    data: schemas.WebhookEndpointCreate,
    *,
    secret_key: str,
    allow_private: bool,
) -> schemas.WebhookEndpointWithSecret:
    principal.require(Role.ADMIN)
    await _safe_url(data.url, allow_private)
    endpoint_id = uuid.uuid4()
    secret = signing.new_secret()
    endpoint = EndpointRepository(session, principal.company_id).add(
        WebhookEndpoint(
            id=endpoint_id,
            url=data.url,
            description=data.description,
            event_types=data.event_types,
            enabled=data.enabled,
            secret_ciphertext=encrypt(secret, secret_key, principal.company_id, endpoint_id),
        )
    )
    await session.flush()
    await session.refresh(endpoint)
    shown = schemas.WebhookEndpoint.model_validate(endpoint).model_dump()
    return schemas.WebhookEndpointWithSecret(**shown, secret=secret)


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    data: schemas.WebhookEndpointUpdate,
    *,
    allow_private: bool,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    changes = data.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("url", "event_types", "enabled"))
    if "url" in changes:
        await _safe_url(changes["url"], allow_private)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if changes.get("enabled"):
        # Turned back on by the admin: the reason and the failure streak are history.
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    data: schemas.RotateSecret,
    *,
    secret_key: str,
) -> schemas.WebhookEndpointWithSecret:
    """A new secret signs from now on; the old one signs too until the grace period ends."""
    endpoint = await get_endpoint(session, principal, endpoint_id)
    secret = signing.new_secret()
    if data.grace_hours > 0:
        endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
        endpoint.previous_secret_expires_at = datetime.now(UTC) + timedelta(hours=data.grace_hours)
    else:
        endpoint.previous_secret_ciphertext = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_ciphertext = encrypt(secret, secret_key, principal.company_id, endpoint.id)
    await session.flush()
    await session.refresh(endpoint)
    shown = schemas.WebhookEndpoint.model_validate(endpoint).model_dump()
    return schemas.WebhookEndpointWithSecret(**shown, secret=secret)


async def ping(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookDelivery:
    endpoint = await get_endpoint(session, principal, endpoint_id)
    return await DeliveryRepository(session, principal.company_id).ping(
        endpoint.id, datetime.now(UTC)
    )


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookDelivery], int]:
    await get_endpoint(session, principal, endpoint_id)
    return await DeliveryRepository(session, principal.company_id).of_endpoint(
        endpoint_id, status, limit, offset
    )


async def redeliver(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    await get_endpoint(session, principal, endpoint_id)
    deliveries = DeliveryRepository(session, principal.company_id)
    original = await deliveries.one(endpoint_id, delivery_id)
    if original is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return await deliveries.redeliver(endpoint_id, original.event_id, datetime.now(UTC))
