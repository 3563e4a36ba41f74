"""The engine's loop: the scheduler and the sender side by side, plus upkeep.

Every worker process runs one loop; any number of them share the work through `SKIP LOCKED`
claims and leases. Time comes from a clock passed in, so tests run the engine over simulated
time (`tick(now)`) and production over the wall clock (`run_forever`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.analytics import rollups
from agentconnect.channels.base import ChannelProvider
from agentconnect.channels.registry import ProviderEnvironment, provider_for
from agentconnect.db import Database
from agentconnect.delivery import repository as repo
from agentconnect.delivery.scheduler import BatchOutcome, EngineSettings, Scheduler
from agentconnect.delivery.sender import Leased, Sender, SenderSettings, SendOutcome
from agentconnect.kit.clock import Clock, stopwatch, wall_clock
from agentconnect.models.enums import MessageType

log = logging.getLogger(__name__)

# Channels whose providers (Twilio's REST API) send without a point of no return: a lease
# that expires there may hide a message the provider took, so it is looked up first.
_LOOKUP_CHANNELS = frozenset({MessageType.SMS, MessageType.WHATSAPP, MessageType.VOICE})


@dataclass
class TickOutcome:
    scheduled: BatchOutcome
    sent: SendOutcome
    leases_released: int = 0
    campaigns_completed: int = 0


class Engine:
    def __init__(
        self,
        database: Database,
        settings: EngineSettings,
        sender_settings: SenderSettings | None = None,
    ) -> None:
        self.database = database
        self.scheduler = Scheduler(settings)
        self.sender = Sender(database, self._provider, sender_settings)

    async def _provider(
        self, session: AsyncSession, company_id: uuid.UUID, channel: MessageType
    ) -> ChannelProvider:
        settings = self.scheduler.settings
        return await provider_for(
            session,
            company_id,
            channel,
            settings.secret_key,
            ProviderEnvironment(settings.base_url, settings.twilio_api_base),
        )

    async def schedule(self, now: datetime) -> BatchOutcome:
        """Schedule every due enrollment, batch after batch (one transaction each)."""
        total = BatchOutcome()
        elapsed = stopwatch()
        while True:
            async with self.database.unit_of_work() as session:
                batch = await self.scheduler.run_batch(session, now + elapsed())
            _add(total, batch)
            if batch.claimed < self.scheduler.settings.batch_size:
                return total

    async def send(self, now: datetime) -> SendOutcome:
        """Send every delivery due now, batch after batch."""
        total = SendOutcome()
        elapsed = stopwatch()
        while True:
            # Each batch at its own instant: leases and backoffs count from when it starts.
            batch = await self.sender.run_batch(now + elapsed())
            _add(total, batch)
            # Deferred rows (more than a slow sender's lease could cover) are due again now.
            if batch.leased < self.sender.settings.batch_size and not batch.deferred:
                return total

    async def drain(self, now: datetime) -> tuple[BatchOutcome, SendOutcome]:
        """Schedule and send side by side until nothing is due: while the scheduler renders
        its next batch, the sender's lanes talk to the providers and the database commits
        what either wrote, instead of each waiting for the other to finish."""
        scheduled = BatchOutcome()
        sent = SendOutcome()
        elapsed = stopwatch()
        queued_more = asyncio.Event()
        scheduling = True

        async def schedule() -> None:
            nonlocal scheduling
            try:
                while True:
                    async with self.database.unit_of_work() as session:
                        batch = await self.scheduler.run_batch(session, now + elapsed())
                    _add(scheduled, batch)
                    queued_more.set()
                    if batch.claimed < self.scheduler.settings.batch_size:
                        return
            finally:
                scheduling = False
                queued_more.set()

        def lease() -> tuple[bool, asyncio.Task[Leased]]:
            # Cleared before the lease and the scheduler's state read before it too: a batch
            # committed after the lease looked sets the event again, so none is missed, and
            # once scheduling has ended everything it queued is visible to the lease.
            queued_more.clear()
            return scheduling, asyncio.create_task(self.sender.lease(now + elapsed()))

        async def send() -> None:
            more_coming, leasing = lease()
            try:
                while True:
                    leased = await leasing
                    full = len(leased.rows) >= self.sender.settings.batch_size
                    if full:
                        # More are probably due: lease the next batch while these go out, so
                        # the lanes do not idle through the lease statement between batches.
                        more_coming, leasing = lease()
                    batch = await self.sender.send_leased(leased, now + elapsed())
                    _add(sent, batch)
                    if full:
                        continue
                    if batch.deferred:
                        more_coming, leasing = lease()
                        continue
                    if not more_coming:
                        return
                    await queued_more.wait()
                    more_coming, leasing = lease()
            finally:
                # Stopped early (a failure, a shutdown): a batch leased ahead and not sent goes
                # back to the queue when its lease expires.
                leasing.cancel()

        async with asyncio.TaskGroup() as both:
            both.create_task(schedule())
            both.create_task(send())
        return scheduled, sent

    async def upkeep(self, now: datetime) -> tuple[int, int]:
        """Settle expired leases (a message the provider took is recorded, the rest go back
        to the queue); complete campaigns with nothing left to do."""
        last: uuid.UUID | None = None
        while True:  # every expired lease is looked up before any is released below
            async with self.database.unit_of_work() as session:
                expired = await repo.expired_leases(
                    session, now, sorted(_LOOKUP_CHANNELS), after=last
                )
            if not expired:
                break
            await self.sender.reconcile(expired, now)
            last = expired[-1].id
        async with self.database.unit_of_work() as session:
            released = await repo.release_expired_leases(
                session, now, self.sender.settings.max_attempts
            )
            completed = await repo.complete_finished_campaigns(session, now)
        if released:
            log.warning("returned %d deliveries with expired leases to the queue", released)
        return released, completed

    async def tick(self, now: datetime) -> TickOutcome:
        """One full pass at the instant `now`: what the loop does, for a clock the caller
        controls."""
        released, _ = await self.upkeep(now)
        try:
            scheduled, sent = await self.drain(now)
        finally:
            await self.sender.close()
        _, completed = await self.upkeep(now)
        return TickOutcome(scheduled, sent, released, completed)

    async def run_forever(
        self, stop: asyncio.Event, clock: Clock = wall_clock, idle_seconds: float = 1.0
    ) -> None:
        """Schedule and send until `stop` is set; sleep when there is nothing to do."""
        try:
            await self._loop(stop, clock, idle_seconds)
        finally:
            await self.sender.close()

    async def _loop(self, stop: asyncio.Event, clock: Clock, idle_seconds: float) -> None:
        # Often enough that a dead sender's leases come back soon after they expire.
        upkeep_every = min(30.0, self.sender.settings.lease.total_seconds() / 2)
        last_upkeep = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                if loop.time() - last_upkeep >= upkeep_every:
                    await self.upkeep(clock())
                    last_upkeep = loop.time()
                scheduled, sent = await self.drain(clock())
                # The analytics rollups catch up with what this pass (and the API) wrote.
                folded = await rollups.fold(self.database)
                busy = scheduled.claimed or sent.leased or folded
            except Exception:  # the loop must outlive a failed batch; the next one retries it
                log.exception("delivery engine batch failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)


def _add(total: BatchOutcome | SendOutcome, batch: BatchOutcome | SendOutcome) -> None:
    for name, value in vars(batch).items():
        setattr(total, name, getattr(total, name) + value)
