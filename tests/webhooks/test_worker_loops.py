"""The worker's loops over the wall clock, lease recovery, and event retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.automations.runner import Runner
from agentconnect.db import Database
from agentconnect.models import Event, WebhookDelivery
from agentconnect.webhooks.dispatcher import Dispatcher
from tests.automations.conftest import new_rule
from tests.fixtures.world import World
from tests.leads.conftest import new_contact, new_lead
from tests.webhooks.conftest import Receiver, new_endpoint


async def test_the_loops_deliver_and_automate_until_stopped(
    world: World, receiver: Receiver, dispatcher: Dispatcher, database: Database
) -> None:
    await new_endpoint(world.a.admin, receiver.url, ["contact.created", "lead.created"])
    await new_rule(world.a.manager, {"type": "contact_created"}, [{"type": "create_lead"}])
    stop = asyncio.Event()
    loops = [
        asyncio.create_task(dispatcher.run_forever(stop, idle_seconds=0.05)),
        asyncio.create_task(Runner(database).run_forever(stop, idle_seconds=0.05)),
    ]
    try:
        await new_contact(world.a.admin, email="loop@example.com")
        for _ in range(400):
            if len(receiver.accepted) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    # the contact, then the lead the rule opened for it
    assert [r.message["type"] for r in receiver.accepted] == ["contact.created", "lead.created"]
    assert all(task.done() for task in loops)


async def test_an_expired_lease_is_sent_again(
    world: World, receiver: Receiver, dispatcher: Dispatcher, session: AsyncSession
) -> None:
    await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    await new_lead(world.a.admin)
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert (await dispatcher.fan_out(now))[1] == 1
    # a worker leased it and died
    await session.execute(
        update(WebhookDelivery).values(
            status="sending", attempts=1, lease_expires_at=now - timedelta(seconds=1)
        )
    )
    await session.commit()

    outcome = await dispatcher.tick(now)

    assert outcome.released == 1
    assert len(receiver.accepted) == 1
    delivery = (await session.scalars(select(WebhookDelivery))).one()
    await session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


async def test_old_events_are_purged_once_taken(
    world: World,
    receiver: Receiver,
    dispatcher: Dispatcher,
    database: Database,
    session: AsyncSession,
) -> None:
    await new_endpoint(world.a.admin, receiver.url, ["lead.created"])
    await new_lead(world.a.admin)
    now = datetime.now(UTC) + timedelta(minutes=1)
    await dispatcher.tick(now)
    assert (await dispatcher.tick(now + timedelta(days=40))).purged == 0  # rules not run yet
    await Runner(database).tick(now)
    assert (await dispatcher.tick(now + timedelta(days=29))).purged == 0  # still kept
    # the lead's event: nothing listens for contact.created, so none was written
    assert (await dispatcher.tick(now + timedelta(days=31))).purged == 1
    assert await session.scalar(select(func.count()).select_from(Event)) == 0
    assert await session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert (await session.execute(text("SELECT count(*) FROM leads"))).scalar_one() == 1
