"""Outbound webhook endpoints (admin): CRUD, secret rotation, test ping, the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from agentconnect.deps import AdminDep, SecretKeyDep, SessionDep, SettingsDep
from agentconnect.kit.pagination import Page, PageDep
from agentconnect.webhooks import schemas, service

router = APIRouter(prefix="/api/v1/webhook-endpoints", tags=["webhooks"])


@router.post(
    "", response_model=schemas.WebhookEndpointWithSecret, status_code=status.HTTP_201_CREATED
)
async def create_endpoint(
    session: SessionDep,
    principal: AdminDep,
    settings: SettingsDep,
    secret_key: SecretKeyDep,
    body: schemas.WebhookEndpointCreate,
) -> schemas.WebhookEndpointWithSecret:
    """Register a URL for the given event types. The answer carries the signing secret
    (`whsec_...`) — the only time it is shown. URLs that resolve to loopback, private,
    link-local or metadata addresses are refused (422) unless the operator allows them."""
    return await service.create_endpoint(
        session,
        principal,
        body,
        secret_key=secret_key,
        allow_private=settings.webhooks_allow_private_targets,
    )


@router.get("", response_model=Page[schemas.WebhookEndpoint])
async def list_endpoints(
    session: SessionDep, principal: AdminDep, page: PageDep
) -> Page[schemas.WebhookEndpoint]:
    """The company's webhook endpoints, oldest first; secrets are never shown."""
    rows, total = await service.list_endpoints(session, principal, page.limit, page.offset)
    return Page(
        items=[schemas.WebhookEndpoint.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{endpoint_id}", response_model=schemas.WebhookEndpoint)
async def get_endpoint(
    session: SessionDep, principal: AdminDep, endpoint_id: uuid.UUID
) -> schemas.WebhookEndpoint:
    """One endpoint; a disabled one says why in `disabled_reason`."""
    return schemas.WebhookEndpoint.model_validate(
        await service.get_endpoint(session, principal, endpoint_id)
    )


@router.patch("/{endpoint_id}", response_model=schemas.WebhookEndpoint)
async def update_endpoint(
    session: SessionDep,
    principal: AdminDep,
    settings: SettingsDep,
    endpoint_id: uuid.UUID,
    body: schemas.WebhookEndpointUpdate,
) -> schemas.WebhookEndpoint:
    """Change the URL, description, event types, or enable/disable the endpoint. Enabling a
    disabled endpoint clears its `disabled_reason`; its waiting deliveries go out again."""
    return schemas.WebhookEndpoint.model_validate(
        await service.update_endpoint(
            session,
            principal,
            endpoint_id,
            body,
            allow_private=settings.webhooks_allow_private_targets,
        )
    )


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_endpoint(
    session: SessionDep, principal: AdminDep, endpoint_id: uuid.UUID
) -> Response:
    """Delete the endpoint and its delivery log."""
    await service.delete_endpoint(session, principal, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{endpoint_id}/rotate-secret", response_model=schemas.WebhookEndpointWithSecret)
async def rotate_secret(
    session: SessionDep,
    principal: AdminDep,
    secret_key: SecretKeyDep,
    endpoint_id: uuid.UUID,
    body: schemas.RotateSecret | None = None,
) -> schemas.WebhookEndpointWithSecret:
    """Issue a new secret (shown once). During `grace_hours` (default 24) every delivery is
    signed with both the new and the old secret."""
    return await service.rotate_secret(
        session, principal, endpoint_id, body or schemas.RotateSecret(), secret_key=secret_key
    )


@router.post(
    "/{endpoint_id}/ping",
    response_model=schemas.WebhookDelivery,
    status_code=status.HTTP_202_ACCEPTED,
)
async def ping(
    session: SessionDep, principal: AdminDep, endpoint_id: uuid.UUID
) -> schemas.WebhookDelivery:
    """Queue a `webhook.ping` event to this endpoint only; follow it in the delivery log."""
    return schemas.WebhookDelivery.model_validate(
        await service.ping(session, principal, endpoint_id)
    )


@router.get("/{endpoint_id}/deliveries", response_model=Page[schemas.WebhookDelivery])
async def list_deliveries(
    session: SessionDep,
    principal: AdminDep,
    page: PageDep,
    endpoint_id: uuid.UUID,
    status_filter: Annotated[
        schemas.DeliveryStatus | None, Query(alias="status", description="only this status")
    ] = None,
) -> Page[schemas.WebhookDelivery]:
    """The delivery log, newest first: status, attempts, the last response code and error."""
    rows, total = await service.list_deliveries(
        session, principal, endpoint_id, status_filter, page.limit, page.offset
    )
    return Page(
        items=[schemas.WebhookDelivery.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    response_model=schemas.WebhookDelivery,
    status_code=status.HTTP_202_ACCEPTED,
)
async def redeliver(
    session: SessionDep, principal: AdminDep, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> schemas.WebhookDelivery:
    """Send the delivery's event again, as a new delivery (same `webhook-id`, so a receiver
    that already processed it can recognise the repeat)."""
    return schemas.WebhookDelivery.model_validate(
        await service.redeliver(session, principal, endpoint_id, delivery_id)
    )
