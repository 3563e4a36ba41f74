"""SQL of the webhook API: endpoints and their delivery log, scoped to one company."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text

from agentconnect.models import Event, WebhookDelivery, WebhookEndpoint
from agentconnect.tenancy.scoping import TenantRepository


class EndpointRepository(TenantRepository[WebhookEndpoint]):
    model = WebhookEndpoint

    async def page_all(self, limit: int, offset: int) -> tuple[list[WebhookEndpoint], int]:
        stmt = self.select().order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        return await self.page(stmt, limit, offset)


class DeliveryRepository(TenantRepository[WebhookDelivery]):
    model = WebhookDelivery

    async def of_endpoint(
        self, endpoint_id: uuid.UUID, status: str | None, limit: int, offset: int
    ) -> tuple[list[WebhookDelivery], int]:
        stmt = self.select().where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        stmt = stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        return await self.page(stmt, limit, offset)

    async def one(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        delivery: WebhookDelivery | None = await self.session.scalar(
            self.select().where(
                WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.id == delivery_id
            )
        )
        return delivery

    async def ping(self, endpoint_id: uuid.UUID, now: datetime) -> WebhookDelivery:
        """A `webhook.ping` event meant for this endpoint only (marked as consumed, so
        neither the fan-out nor automations see it) and its delivery."""
        event = Event(
            id=uuid.uuid4(),
            company_id=self.company_id,
            event_type="webhook.ping",
            payload={"endpoint_id": str(endpoint_id), "message": "ping"},
            fanned_out_at=now,
            automated_at=now,
        )
        self.session.add(event)
        await self.session.flush()
        return await self.redeliver(endpoint_id, event.id, now)

    async def redeliver(
        self, endpoint_id: uuid.UUID, event_id: uuid.UUID, now: datetime
    ) -> WebhookDelivery:
        """A new delivery of an event, outside the per-lead order (a deliberate replay)."""
        params = {
            "company_id": self.company_id,
            "endpoint_id": endpoint_id,
            "event_id": event_id,
            "now": now,
        }
        delivery_id = (await self.session.execute(text(_REDELIVER), params)).scalar_one()
        delivery = await self.get(delivery_id)
        assert delivery is not None
        return delivery


_REDELIVER = """
INSERT INTO webhook_deliveries
    (id, company_id, endpoint_id, event_id, event_type, ordering_key, seq, status, attempts,
     next_attempt_at, created_at)
SELECT uuid_v7(), e.company_id, :endpoint_id, e.id, e.event_type, NULL, e.seq,
       'pending', 0, :now, :now
FROM events AS e
WHERE e.company_id = :company_id AND e.id = :event_id
RETURNING id
"""
