"""The sender: leases queued deliveries and hands them to the company's provider.

Exactly once, without distributed transactions:
- a delivery is leased (`sending`, with an expiry) in its own short transaction;
- a provider that can stop just short of its point of no return (SMTP before the final `.`
  of DATA) is *prepared*, then the delivery is committed as `sent` with its activity, and only
  then does the provider pass that point. A crash before the commit leaves the message
  undelivered and the lease expires back to the queue; a crash after it leaves the message
  recorded, and the provider finishes it or the server discards it — never a second copy;
- the console provider writes into the same transaction as the `sent` record;
- other providers send, then record; a crash in between is reconciled when the lease expires.

Transient failures go back to the queue with exponential backoff and jitter; permanent ones
fail the delivery with the reason and a `message_failed` activity.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.channels.base import (
    ChannelProvider,
    CommitUncertain,
    OutboundMessage,
    PreparedSend,
    ProviderError,
    ProviderResult,
    Reconcilable,
    TwoPhaseProvider,
)
from agentconnect.db import Database
from agentconnect.delivery import repository as repo
from agentconnect.delivery import timing
from agentconnect.delivery.scheduler import OUTSIDE_WHATSAPP_SESSION, WHATSAPP_SESSION
from agentconnect.kit.clock import stopwatch
from agentconnect.models.enums import ActivityType, MessageType

log = logging.getLogger(__name__)

# Makes a provider for a company's channel inside the given session (the console provider
# writes through it; real providers only read their settings).
ProviderFactory = Callable[[AsyncSession, uuid.UUID, MessageType], Awaitable[ChannelProvider]]


# The last attempt of a delivery whose `last_error` starts so may have reached the provider;
# the lookup before the next attempt reaches back UNCERTAIN_WINDOW before it was due again.
UNCERTAIN = "uncertain: "
UNCERTAIN_WINDOW = timedelta(hours=3)
# A provider lookup that fails is asked again after LOOKUP_RETRY, for LOOKUP_PATIENCE after the
# lease ran out.
LOOKUP_RETRY = timedelta(minutes=1)
LOOKUP_PATIENCE = timedelta(minutes=30)


@dataclass(frozen=True)
class SenderSettings:
    worker_id: str = "worker"
    batch_size: int = 500
    # Messages in flight at once per company and channel (one provider connection each).
    concurrency: int = 20
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 8
    retry_base: timedelta = timedelta(seconds=30)
    retry_cap: timedelta = timedelta(hours=2)
    # Messages per second a company may send per channel (None: as fast as the lanes go).
    rate_per_second: dict[MessageType, float] = field(default_factory=dict)
    # How long provider connections are reused before settings are read again.
    pool_seconds: float = 60.0


class _GroupRecorder:
    """Writes what the lanes submit, one transaction at a time: while one commits, the lanes
    go on working, and the next transaction takes everything that arrived meanwhile."""

    def __init__(
        self,
        write: Callable[[list[_Result]], Awaitable[dict[uuid.UUID, uuid.UUID]]],
        lanes: int,
        linger: float = 0.0,
    ) -> None:
        self._write = write
        self._gather_at = max(1, lanes // 2)
        self._linger = linger
        self._pending: list[tuple[_Result, asyncio.Future[uuid.UUID | None]]] = []
        self._wake = asyncio.Event()
        self._closed = False

    async def submit(self, item: _Result) -> uuid.UUID | None:
        """Returns once the item is committed: its `sent` activity id, if it was sent."""
        if self._closed:
            raise RuntimeError("the recorder has stopped")
        future: asyncio.Future[uuid.UUID | None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wake.set()
        return await future

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._pending:
                if self._closed:
                    return
                continue
            if self._closed:
                # Submitted by a lane that was being cancelled: nothing may be recorded now.
                for _, future in self._pending:
                    future.set_exception(RuntimeError("the recorder has stopped"))
                self._pending = []
                return
            if not self._closed and len(self._pending) < self._gather_at:
                # A moment for the other lanes to arrive: one commit for many messages costs
                # far less than a commit for each.
                await asyncio.sleep(self._linger)
            batch, self._pending = self._pending, []
            try:
                ids = await self._write([item for item, _ in batch])
            except Exception as error:
                for _, future in batch:
                    future.set_exception(error)
                continue
            for item, future in batch:
                future.set_result(ids.get(item.row.id))


class RateLimiter:
    """A token bucket: at most `rate` acquisitions per second on average, bursts of one."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


class Leased(NamedTuple):
    """A batch of deliveries this worker holds, and until when."""

    rows: list[Any]
    until: datetime


@dataclass
class SendOutcome:
    leased: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    # Leased inside the contact's quiet hours: back to the queue until they end.
    held: int = 0
    # More than a slow sender could send within its lease: back to the queue for the next one.
    deferred: int = 0


@dataclass
class _Result:
    """What became of one delivery in a round."""

    row: Any
    result: ProviderResult | None = None
    error: ProviderError | None = None
    prepared: PreparedSend | None = None


@dataclass
class _Group:
    company_id: uuid.UUID
    channel: MessageType
    rows: list[Any] = field(default_factory=list)


class Sender:
    def __init__(
        self,
        database: Database,
        providers: ProviderFactory,
        settings: SenderSettings | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.providers = providers
        self.settings = settings or SenderSettings()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._limiters: dict[tuple[uuid.UUID, MessageType], RateLimiter] = {}
        self._pools: dict[tuple[uuid.UUID, MessageType], tuple[float, list[ChannelProvider]]] = {}

    async def run_batch(self, now: datetime) -> SendOutcome:
        """Lease one batch of due deliveries and send them."""
        return await self.send_leased(await self.lease(now), now)

    async def lease(self, now: datetime) -> Leased:
        """Lease one batch of due deliveries (its own transaction), for `send_leased`."""
        until = now + self.settings.lease
        async with self.database.unit_of_work() as session:
            rows = await repo.lease_queued(
                session, now, until, self.settings.worker_id, self.settings.batch_size
            )
        return Leased(list(rows), until)

    async def send_leased(self, leased: Leased, now: datetime) -> SendOutcome:
        """Send deliveries this worker leased, well inside their lease (a batch leased ahead
        has less of it left when its turn comes)."""
        rows: Sequence[Any] = leased.rows
        outcome = SendOutcome(leased=len(rows))
        rows = await self._hold_quiet_hours(rows, now, outcome)
        rows = await self._keep_whatsapp_window(rows, now, outcome)
        groups: dict[tuple[uuid.UUID, str], _Group] = {}
        for row in rows:
            key = (row.company_id, row.channel)
            groups.setdefault(key, _Group(row.company_id, MessageType(row.channel))).rows.append(
                row
            )
        for group in groups.values():
            await self._send_group(group, now, leased.until, outcome)
        return outcome

    async def _hold_quiet_hours(
        self, rows: Sequence[Any], now: datetime, outcome: SendOutcome
    ) -> list[Any]:
        """The rows that may go now. The scheduler queued each delivery inside the allowed
        hours, but a retry's backoff or a paused campaign's resume can bring an SMS or a call
        due at night: those go back to the queue until the contact's quiet hours end."""
        ready, held = [], []
        for row in rows:
            until = quiet_until(row, now)
            if until is None:
                ready.append(row)
            else:
                held.append({"id": row.id, "attempts": row.attempts, "not_before": until})
        if held:
            async with self.database.unit_of_work() as session:
                outcome.held += len(await repo.record_held(session, held, self.settings.worker_id))
        return ready

    async def reconcile(self, rows: Sequence[Any], now: datetime) -> SendOutcome:
        """Expired leases of providers that send without a point of no return (an HTTP API):
        the sender may have died after the provider took the message and before recording
        it. Ask the provider; a message it has is recorded as sent (under the dead sender's
        fence), so the lease expiry does not send it again; one it cannot be asked about
        keeps its lease a while longer. The rest is left to `release_expired_leases`."""
        outcome = SendOutcome()
        groups: dict[tuple[uuid.UUID, str, str], list[Any]] = {}
        for row in rows:
            groups.setdefault((row.company_id, row.channel, row.leased_by), []).append(row)
        for (company_id, channel, worker), members in groups.items():
            try:
                await self._reconcile_group(company_id, channel, worker, members, now, outcome)
            except Exception:  # one company's settings or provider must not stop the others
                log.exception("could not settle the expired leases of company %s", company_id)
        return outcome

    async def _reconcile_group(
        self,
        company_id: uuid.UUID,
        channel: str,
        worker: str,
        members: Sequence[Any],
        now: datetime,
        outcome: SendOutcome,
    ) -> None:
        async with self.database.unit_of_work() as session:
            provider = await self.providers(session, company_id, MessageType(channel))
        try:
            if not isinstance(provider, Reconcilable):
                return
            found, unknown = [], []
            for row in members:
                # From when the attempt was leased (the lease statement's `updated_at`, which
                # extending the lease leaves alone), so repeated lookups keep the same window.
                try:
                    result = await provider.find_sent(_message(row), row.updated_at)
                except ProviderError as error:
                    log.warning("delivery %s: lookup failed (%s)", row.id, error.reason)
                    unknown.append(row)
                    continue
                if result is not None:
                    found.append(_Result(row, result=result))
        finally:
            await _close_all([provider])
        if unknown:
            # Not known either way: ask again in a while rather than risk a second copy, for
            # a bounded time after the lease, after which the delivery is re-queued.
            async with self.database.unit_of_work() as session:
                await repo.extend_unverified_leases(
                    session,
                    [row.id for row in unknown],
                    now + LOOKUP_RETRY,
                    now - self.settings.lease - LOOKUP_PATIENCE,
                )
        if found:
            async with self.database.unit_of_work() as session:
                recorded = await self._record(session, found, now, outcome, worker=worker)
            log.warning(
                "%d deliveries the provider had taken before their sender stopped: recorded as "
                "sent, not sent again",
                len(recorded),
            )

    async def _keep_whatsapp_window(
        self, rows: Sequence[Any], now: datetime, outcome: SendOutcome
    ) -> list[Any]:
        """WhatsApp free text goes only within 24 hours of the contact's last message. The
        scheduler decided at queue time; a message that waited (a paused campaign, retries)
        may find the window closed: it goes as the step's template if it has one, else it
        fails with the reason instead of being refused by WhatsApp."""
        free_text = [
            row
            for row in rows
            if row.channel == MessageType.WHATSAPP and not (row.details or {}).get("content_sid")
        ]
        if not free_text:
            return list(rows)
        async with self.database.unit_of_work() as session:
            last = await repo.last_inbound(
                session,
                list({row.company_id for row in free_text}),
                list({row.contact_id for row in free_text}),
                "whatsapp_replied",
                now - WHATSAPP_SESSION,
            )
        waiting = {row.id for row in free_text}
        ready: list[Any] = []
        closed: list[_Result] = []
        for row in rows:
            if row.id not in waiting or row.contact_id in last:
                ready.append(row)
            elif (template := (row.details or {}).get("template")) is not None:
                ready.append(SimpleNamespace(**{**row._asdict(), "details": template}))
            else:
                error = ProviderError(OUTSIDE_WHATSAPP_SESSION, transient=False)
                closed.append(_Result(row, error=error))
        if closed:
            async with self.database.unit_of_work() as session:
                await self._record(session, closed, now, outcome)
        return ready

    async def _send_group(
        self, group: _Group, now: datetime, lease_until: datetime, outcome: SendOutcome
    ) -> None:
        try:
            lanes = await self._lanes(group)
        except Exception as error:  # settings that cannot be read or a provider not built
            # The group's deliveries are retried (or failed) like any provider error; the
            # other companies' groups in the batch go on.
            reason = error if isinstance(error, ProviderError) else None
            log.warning("no provider for company %s: %s", group.company_id, error)
            failure = reason or ProviderError(
                f"the provider could not be set up: {error}", transient=True
            )
            async with self.database.unit_of_work() as session:
                await self._record(
                    session, [_Result(r, error=failure) for r in group.rows], now, outcome
                )
            return
        if lanes is None:
            await self._send_in_transaction(group, now, outcome)
            return
        limiter = self._limiter(group, lanes[0])
        rows = group.rows
        if limiter is not None:
            # A slow sender (a long code: one SMS a second) must finish well inside its lease:
            # a lease that runs out mid-batch would let another worker send the rest again.
            # What does not fit goes back to the queue at once, for the next lease. The room
            # is half of what is left of this lease: the groups sent before this one used some.
            left = (lease_until - now).total_seconds()
            # At least one while half the lease is left, so a rate slower than that still
            # moves; a batch leased ahead whose turn came late goes back whole.
            fits = max(int(left >= self.settings.lease.total_seconds() / 2),
                       int(left / 2 / limiter.interval))  # fmt: skip
            rows, later = rows[:fits], rows[fits:]
            outcome.deferred += await self._hold(later, now)
        if rows:
            await self._pipeline(lanes, rows, now, outcome, limiter)

    async def _hold(self, rows: Sequence[Any], until: datetime) -> int:
        """Back to the queue, not before `until`, the lease not counted as an attempt; returns
        how many this worker still held."""
        if not rows:
            return 0
        held = [{"id": r.id, "attempts": r.attempts, "not_before": until} for r in rows]
        async with self.database.unit_of_work() as session:
            return len(await repo.record_held(session, held, self.settings.worker_id))

    async def _lanes(self, group: _Group) -> list[ChannelProvider] | None:
        """The group's provider connections, kept across batches for a while (a connection
        costs a handshake, TLS and AUTH); None for the console provider, which writes through
        the sender's own transaction. Settings changes apply when the pool is renewed."""
        key = (group.company_id, group.channel)
        clock = asyncio.get_running_loop().time()
        cached = self._pools.get(key)
        if cached is not None and clock - cached[0] < self.settings.pool_seconds:
            return cached[1]
        if cached is not None:
            await _close_all(self._pools.pop(key)[1])
        async with self.database.unit_of_work() as session:
            first = await self.providers(session, group.company_id, group.channel)
            if not isinstance(first, TwoPhaseProvider) and first.name == "console":
                return None
            lanes = [first]
            wanted = self.settings.concurrency
            rate = getattr(first, "rate_per_second", None)
            if rate is not None:
                # A rate-limited provider needs only enough lanes to keep to its rate while
                # some requests are in flight; more would only hold connections.
                wanted = min(wanted, max(2, math.ceil(rate)))
            while len(lanes) < wanted:
                lanes.append(await self.providers(session, group.company_id, group.channel))
        self._pools[key] = (clock, lanes)
        return lanes

    async def close(self) -> None:
        """Close every pooled provider connection."""
        pools, self._pools = self._pools, {}
        for _, lanes in pools.values():
            await _close_all(lanes)

    async def _send_in_transaction(
        self, group: _Group, now: datetime, outcome: SendOutcome
    ) -> None:
        """The console provider records inside the database: message and `sent` commit
        together."""
        async with self.database.unit_of_work() as session:
            provider = await self.providers(session, group.company_id, group.channel)
            results = []
            for row in group.rows:
                try:
                    results.append(_Result(row, result=await provider.send(_message(row))))
                except ProviderError as error:
                    results.append(_Result(row, error=error))
            await self._record(session, results, now, outcome)

    async def _pipeline(
        self,
        lanes: Sequence[ChannelProvider],
        rows: Sequence[Any],
        now: datetime,
        outcome: SendOutcome,
        limiter: RateLimiter | None,
    ) -> None:
        """Every lane works through the rows at its own pace; what the lanes have prepared is
        recorded together (group commit) while the other lanes go on talking to the server."""
        queue = deque(rows)

        async def write(items: list[_Result]) -> dict[uuid.UUID, uuid.UUID]:
            if all(item.error is None for item in items):
                return await self._record_sent_alone(items, now, outcome)
            async with self.database.unit_of_work() as session:
                return await self._record(session, items, now, outcome)

        recorder = _GroupRecorder(write, lanes=min(len(lanes), len(rows)))
        elapsed = stopwatch()

        async def work(lane: ChannelProvider) -> None:
            # Asked once per lane: a runtime Protocol check costs tens of microseconds.
            two_phase = isinstance(lane, TwoPhaseProvider)
            while queue:
                row = queue.popleft()
                if not two_phase:
                    # Quiet hours again, just before it goes: a rate-limited batch takes minutes.
                    until = quiet_until(row, now + elapsed())
                    if until is not None:
                        outcome.held += await self._hold([row], until)
                        continue
                    await recorder.submit(await _send(lane, row, limiter))
                    continue
                item = await _prepare(cast(TwoPhaseProvider, lane), row, limiter)
                try:
                    activity_id = await recorder.submit(item)
                except BaseException:
                    if item.prepared is not None:
                        await item.prepared.abort()  # not recorded: the server must drop it
                    raise
                if item.prepared is None:
                    continue
                if activity_id is None:
                    # Another worker holds this delivery now (our lease ran out): drop ours.
                    await item.prepared.abort()
                    continue
                # Recorded as sent: now, and only now, past the point of no return.
                await self._commit_recorded(item, activity_id, now, outcome)

        runner = asyncio.create_task(recorder.run())
        try:
            # A failing lane cancels the others (each aborts what it prepared), so no lane is
            # left waiting on a recorder that has stopped.
            async with asyncio.TaskGroup() as lanes_running:
                for lane in lanes[: len(rows)]:
                    lanes_running.create_task(work(lane))
        finally:
            recorder.close()
            await runner

    async def _commit_recorded(
        self, item: _Result, activity_id: uuid.UUID | None, now: datetime, outcome: SendOutcome
    ) -> None:
        committed = await _commit(item)
        if committed.error is None:
            return
        if isinstance(committed.error, CommitUncertain):
            log.warning("delivery %s: %s; kept as sent", item.row.id, committed.error.reason)
            return
        # Refused at the very end (rare): undo the `sent` record, then retry or fail.
        async with self.database.unit_of_work() as session:
            if activity_id is not None:
                await repo.delete_activities(session, [activity_id])
            outcome.sent -= 1
            await self._record(session, [committed], now, outcome)

    async def _record(
        self,
        session: AsyncSession,
        results: Sequence[_Result],
        now: datetime,
        outcome: SendOutcome,
        *,
        worker: str | None = None,
    ) -> dict[uuid.UUID, uuid.UUID]:
        """Write what happened, for the deliveries this worker still holds; returns the id of
        the `*_sent` activity of each delivery recorded as sent (absent: not recorded, and a
        prepared message must then be dropped)."""
        sent, retries, failures = _classify(results, now, self.settings.max_attempts, self._backoff)
        worker = worker or self.settings.worker_id
        recorded_sent = await repo.record_sent(session, sent, worker)
        recorded_retries = await repo.record_retry(session, retries, worker)
        recorded_failures = await repo.record_failed(session, failures, worker)
        rows = {item.row.id: item.row for item in results}
        # The provider says the address refuses the channel (Twilio 21610: the recipient
        # replied STOP to the sender): never try it again on that channel.
        refused = {f["id"] for f in failures if f["suppress_address"]} & recorded_failures
        await repo.suppress_addresses(session, [rows[d] for d in refused])
        await repo.insert_activities(
            session,
            [
                _activity(
                    rows[f["id"]],
                    ActivityType.MESSAGE_FAILED,
                    now,
                    {"delivery_id": str(f["id"]), "reason": f["error"], "step": f["step"]},
                )
                for f in failures
                if f["id"] in recorded_failures
            ],
        )
        stale = len(results) - len(recorded_sent) - len(recorded_retries) - len(recorded_failures)
        if stale:
            log.warning("%d deliveries had been taken over by another worker; left alone", stale)
        outcome.sent += len(recorded_sent)
        outcome.retried += len(recorded_retries)
        outcome.failed += len(recorded_failures)
        return {s["id"]: s["activity_id"] for s in sent if s["id"] in recorded_sent}

    async def _record_sent_alone(
        self, results: Sequence[_Result], now: datetime, outcome: SendOutcome
    ) -> dict[uuid.UUID, uuid.UUID]:
        """`_record` for results that were all sent: one autocommit statement on a bare
        connection, the cheapest transaction there is (the group commit's usual case)."""
        sent, _, _ = _classify(results, now, self.settings.max_attempts, self._backoff)
        pool = await self.database.bare_pool()
        async with pool.connection() as connection:
            recorded = await repo.record_sent_alone(connection, sent, self.settings.worker_id)
        if len(recorded) < len(results):
            log.warning(
                "%d deliveries had been taken over by another worker; left alone",
                len(results) - len(recorded),
            )
        outcome.sent += len(recorded)
        return {s["id"]: s["activity_id"] for s in sent if s["id"] in recorded}

    def _limiter(self, group: _Group, provider: ChannelProvider) -> RateLimiter | None:
        """The company's rate for the channel: the provider's own (a Twilio number's), else the
        configured one. One limiter per company and channel lives across batches, so the
        rate holds over the whole run, not per batch."""
        rate = getattr(provider, "rate_per_second", None) or self.settings.rate_per_second.get(
            group.channel
        )
        if rate is None:
            return None
        key = (group.company_id, group.channel)
        known = self._limiters.get(key)
        if known is None or known.interval != 1.0 / rate:  # a new number, a new rate
            self._limiters[key] = known = RateLimiter(rate)
        return known

    def _backoff(self, attempts: int, error: ProviderError) -> timedelta:
        cap = self.settings.retry_cap
        if error.retry_after is not None:
            return min(timedelta(seconds=error.retry_after), cap)
        base = self.settings.retry_base * (2 ** max(attempts - 1, 0))
        # Jitter spreads the retries of a batch that failed together; the cap holds after it.
        jittered: timedelta = base * self.rng.uniform(0.5, 1.5)
        return min(jittered, cap)


def _classify(
    results: Sequence[_Result],
    now: datetime,
    max_attempts: int,
    backoff: Callable[[int, ProviderError], timedelta],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of the sent, retry and failure records for what happened in a round."""
    sent, retries, failures = [], [], []
    for item in results:
        row = item.row
        if item.error is None:
            result = item.result
            sent.append(
                {
                    "id": row.id,
                    "attempts": row.attempts,
                    "sent_at": now,
                    "contact_id": row.contact_id,
                    "provider": result.provider if result else None,
                    "provider_message_id": result.provider_message_id if result else None,
                    "provider_status": result.status if result else None,
                    "segments": result.segments if result else None,
                    # Known before the statement, so a refusal at the final `.` can undo it.
                    "activity_id": uuid.uuid4(),
                }
            )
        elif item.error.transient and row.attempts < max_attempts:
            retries.append(
                {
                    "id": row.id,
                    "attempts": row.attempts,
                    "error": item.error.reason,
                    "not_before": now + backoff(row.attempts, item.error),
                }
            )
        else:
            reason = item.error.reason
            if item.error.transient:
                reason = f"gave up after {row.attempts} attempts: {reason}"
            failures.append(
                {
                    "id": row.id,
                    "attempts": row.attempts,
                    "failed_at": now,
                    "error": reason,
                    "step": row.step_order,
                    "suppress_address": item.error.suppress_address,
                }
            )
    return sent, retries, failures


def quiet_until(row: Any, now: datetime) -> datetime | None:
    """When a phone delivery (SMS, WhatsApp, call) leased at `now` may go, if not now: the
    end of the company's quiet hours in the contact's time zone."""
    if row.channel not in timing.QUIET_CHANNELS:
        return None
    hours = timing.phone_hours(row.company_quiet_hours)
    tz = timing.zone(row.contact_timezone, row.fallback_timezone)
    allowed = timing.earliest_allowed(now, tz, window=None, quiet=hours)
    if allowed is None or allowed <= now:
        return None
    return allowed


async def _close_all(lanes: Sequence[ChannelProvider]) -> None:
    for lane in lanes:
        close = getattr(lane, "close", None)
        if close is not None:
            await close()


def _activity(
    row: Any,
    kind: ActivityType,
    now: datetime,
    metadata: dict[str, Any],
    activity_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    return {
        "id": activity_id,
        "company_id": row.company_id,
        "campaign_id": row.campaign_id,
        "contact_id": row.contact_id,
        "lead_id": row.lead_id,
        "message_id": row.message_id,
        "variant": row.variant,
        "activity_type": kind,
        "occurred_at": now,
        "metadata": metadata,
    }


def _message(row: Any) -> OutboundMessage:
    details = row.details or {}
    return OutboundMessage(
        company_id=row.company_id,
        channel=MessageType(row.channel),
        to=row.to_address,
        body=row.body_text,
        subject=row.subject,
        html_body=row.body_html,
        metadata={"delivery_id": str(row.id), "campaign_id": str(row.campaign_id)},
        message_id_header=row.message_id_header,
        headers=details.get("headers", {}),
        delivery_id=row.id,
        details=details,
    )


async def _prepare(lane: TwoPhaseProvider, row: Any, limiter: RateLimiter | None) -> _Result:
    if limiter is not None:
        await limiter.acquire()
    try:
        prepared = await lane.prepare(_message(row))
    except ProviderError as error:
        return _Result(row, error=error)
    # What is recorded before the point of no return: the provider's id is the Message-ID.
    provisional = ProviderResult(lane.name, row.message_id_header or str(row.id))
    return _Result(row, result=provisional, prepared=prepared)


async def _commit(item: _Result) -> _Result:
    assert item.prepared is not None
    try:
        item.result = await item.prepared.commit()
    except ProviderError as error:
        item.error = error
    return item


async def _send(lane: ChannelProvider, row: Any, limiter: RateLimiter | None) -> _Result:
    message = _message(row)
    if (row.last_error or "").startswith(UNCERTAIN) and isinstance(lane, Reconcilable):
        # The last attempt timed out after the request left: the provider may have the
        # message. Asked first, so a timeout never becomes a second copy.
        try:
            found = await lane.find_sent(message, row.not_before - UNCERTAIN_WINDOW)
        except ProviderError as error:
            return _Result(row, error=_uncertain(error))
        if found is not None:
            return _Result(row, result=found)
    if limiter is not None:
        await limiter.acquire()
    try:
        return _Result(row, result=await lane.send(message))
    except ProviderError as error:
        return _Result(row, error=_uncertain(error) if error.uncertain else error)


def _uncertain(error: ProviderError) -> ProviderError:
    """Recorded with the retry, so the next attempt knows to ask the provider first."""
    reason = error.reason if error.reason.startswith(UNCERTAIN) else f"{UNCERTAIN}{error.reason}"
    return ProviderError(
        reason, transient=True, retry_after=error.retry_after, code=error.code, uncertain=True
    )
