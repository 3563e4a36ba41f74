"""The webhook worker: fan events out to endpoints, send due deliveries, retry, disable.

One pass (`tick(now)`, or `run_forever` over the wall clock):

1. fan-out: claim a batch of events not yet fanned out (`SKIP LOCKED`) and, in one statement,
   write a `pending` delivery for every enabled endpoint of the company subscribed to the
   event's type;
2. upkeep: deliveries whose lease expired (a worker that died mid-send) go back to pending;
3. send: lease due deliveries — never one whose lead has an earlier delivery to the same
   endpoint still unfinished, so one lead's events arrive in order — POST them, signed with
   every valid secret of the endpoint, and record each outcome under the lease's fence.

Outcomes: 2xx delivered; 410 fails the delivery and disables the endpoint; 429, 5xx, a
timeout or a refused connection retry after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10 %
jitter, or the `Retry-After` given) and then fail; any other answer fails at once. An endpoint
whose deliveries have failed without a single success for `disable_after` (5 days) is
disabled with the reason. Time comes from the caller, so tests drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import text

from agentconnect.db import Database
from agentconnect.kit.clock import Clock, stopwatch, wall_clock
from agentconnect.kit.crypto import SecretDecryptionError
from agentconnect.webhooks import service, signing, ssrf

log = logging.getLogger(__name__)

RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
MAX_RETRY_AFTER = timedelta(hours=10)
UPKEEP_EVERY = 30.0  # seconds between passes over expired leases and old events


@dataclass(frozen=True)
class DispatchSettings:
    secret_key: str
    allow_private: bool = False
    batch_size: int = 200
    concurrency: int = 20
    timeout: float = 10.0
    lease: timedelta = timedelta(seconds=60)
    disable_after: timedelta = timedelta(days=5)
    jitter: float = 0.1
    # events (with their deliveries) are kept this long once every consumer has taken them
    retention: timedelta = timedelta(days=30)


@dataclass
class DispatchOutcome:
    fanned_out: int = 0
    created: int = 0
    sent: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    endpoints_disabled: int = 0
    released: int = 0
    purged: int = 0


@dataclass
class _Job:
    id: uuid.UUID
    company_id: uuid.UUID
    endpoint_id: uuid.UUID
    attempt: int
    url: str
    secrets: list[str]
    message_id: str
    body: bytes
    error: str | None = None


@dataclass
class _Result:
    status: int | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    permanent: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def retry_delay(attempts: int, retry_after: timedelta | None, jitter: float) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    if retry_after is not None:
        return min(max(retry_after, timedelta(seconds=1)), MAX_RETRY_AFTER)
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    return base * (1 + random.uniform(-jitter, jitter))  # noqa: S311 - jitter, not security


def _result_of(answer: _Result | BaseException) -> _Result:
    """A job whose send raised what `_post` does not expect is retried like a failed attempt,
    so one endpoint's oddity never leaves a whole leased batch unrecorded (and resent).
    A cancellation still stops the pass (the leases expire and the jobs come back)."""
    if isinstance(answer, _Result):
        return answer
    if not isinstance(answer, Exception):
        raise answer
    log.error("webhook delivery failed unexpectedly", exc_info=answer)
    return _Result(error=f"{type(answer).__name__}: {answer}")


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # capped before it becomes a timedelta: a huge number would overflow it
        return timedelta(seconds=min(int(value), int(MAX_RETRY_AFTER.total_seconds())))
    with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(when - now, timedelta(0))
    return None


_FAN_OUT = """
WITH batch AS (
    SELECT id FROM events WHERE fanned_out_at IS NULL ORDER BY seq LIMIT :limit
    FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE events AS e SET fanned_out_at = :now FROM batch WHERE e.id = batch.id
    RETURNING e.id, e.company_id, e.event_type, e.lead_id, e.seq
), created AS (
    INSERT INTO webhook_deliveries
        (id, company_id, endpoint_id, event_id, event_type, ordering_key, seq, status,
         attempts, next_attempt_at, created_at)
    SELECT uuid_v7(), m.company_id, w.id, m.id, m.event_type, m.lead_id, m.seq,
           'pending', 0, :now, :now
    FROM marked AS m
    JOIN webhook_endpoints AS w
      ON w.company_id = m.company_id AND w.enabled AND w.event_types @> to_jsonb(m.event_type)
    ORDER BY m.seq
    RETURNING 1
)
SELECT (SELECT count(*) FROM marked), (SELECT count(*) FROM created)
"""

_RELEASE = """
UPDATE webhook_deliveries SET status = 'pending', lease_expires_at = NULL,
       next_attempt_at = :now, last_error = 'the worker sending it stopped; retried'
WHERE status = 'sending' AND lease_expires_at < :now
"""

# Events past the retention that both consumers have taken go, with their deliveries (a
# delivery still waiting for a disabled endpoint after that long goes too). Only the oldest
# rows by `seq` are looked at, so a pass costs a bounded index range, however big the table.
_PURGE = """
DELETE FROM events WHERE id IN (
    SELECT oldest.id FROM (SELECT id, occurred_at, fanned_out_at, automated_at
                           FROM events ORDER BY seq LIMIT :limit) AS oldest
    WHERE oldest.occurred_at < :before
      AND oldest.fanned_out_at IS NOT NULL AND oldest.automated_at IS NOT NULL
)
"""

_LEASE = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries AS d
    JOIN webhook_endpoints AS w ON w.id = d.endpoint_id AND w.company_id = d.company_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= :now AND w.enabled
      AND (d.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM webhook_deliveries AS p
            WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key
              AND p.status IN ('pending', 'sending') AND p.seq < d.seq))
    ORDER BY d.next_attempt_at, d.seq
    LIMIT :limit
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries AS d
SET status = 'sending', attempts = d.attempts + 1, lease_expires_at = :lease_until,
    last_attempt_at = :now
FROM due, events AS e, webhook_endpoints AS w
WHERE d.id = due.id AND e.id = d.event_id AND w.id = d.endpoint_id
RETURNING d.id, d.company_id, d.endpoint_id, d.attempts, e.id, e.event_type, e.occurred_at,
          e.payload, w.url, w.secret_ciphertext, w.previous_secret_ciphertext,
          w.previous_secret_expires_at
"""

_OUTCOME = """
UPDATE webhook_deliveries
SET status = CAST(:status AS varchar), response_status = :response_status,
    last_error = CAST(:error AS text), lease_expires_at = NULL,
    next_attempt_at = coalesce(CAST(:next_attempt_at AS timestamptz), next_attempt_at),
    delivered_at = CASE WHEN CAST(:status AS varchar) = 'delivered'
                        THEN CAST(:now AS timestamptz) ELSE delivered_at END
WHERE id = :id AND status = 'sending' AND attempts = :attempt
RETURNING id
"""

_ENDPOINT_SUCCEEDED = """
UPDATE webhook_endpoints SET failing_since = NULL
WHERE id = :id AND failing_since IS NOT NULL
"""

# A failure starts (or continues) the endpoint's failure streak; a streak as long as
# disable_after, or a 410, disables it with the reason.
_ENDPOINT_FAILED = """
UPDATE webhook_endpoints
SET failing_since = coalesce(failing_since, CAST(:now AS timestamptz)),
    enabled = CASE WHEN CAST(:gone AS boolean) THEN false
                   WHEN coalesce(failing_since, :now) <= :cutoff THEN false
                   ELSE enabled END,
    disabled_reason = CASE
        WHEN NOT enabled THEN disabled_reason
        WHEN CAST(:gone AS boolean) THEN CAST(:reason AS text)
        WHEN coalesce(failing_since, :now) <= :cutoff THEN
            'deliveries have failed since '
            || to_char(coalesce(failing_since, :now) AT TIME ZONE 'UTC',
                       'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            || ' without a success; last error: ' || CAST(:reason AS text)
        ELSE disabled_reason END,
    updated_at = now()
WHERE id = :id
RETURNING enabled
"""


def message_body(event_type: str, occurred_at: datetime, payload: dict[str, Any]) -> bytes:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    document = {
        "type": event_type,
        "timestamp": occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": payload,
    }
    return json.dumps(document, separators=(",", ":"), default=str).encode()


class Dispatcher:
    def __init__(self, database: Database, settings: DispatchSettings) -> None:
        self.database = database
        self.settings = settings

    async def fan_out(self, now: datetime) -> tuple[int, int]:
        events = created = 0
        while True:
            async with self.database.unit_of_work() as session:
                row = (
                    await session.execute(
                        text(_FAN_OUT), {"limit": self.settings.batch_size, "now": now}
                    )
                ).one()
            events, created = events + int(row[0]), created + int(row[1])
            if row[0] < self.settings.batch_size:
                return events, created

    async def release_expired(self, now: datetime) -> int:
        async with self.database.unit_of_work() as session:
            result = await session.execute(text(_RELEASE), {"now": now})
        return int(getattr(result, "rowcount", 0) or 0)

    async def purge(self, now: datetime) -> int:
        """Forget events older than the retention, a batch per call."""
        async with self.database.unit_of_work() as session:
            result = await session.execute(
                text(_PURGE), {"before": now - self.settings.retention, "limit": 5000}
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _lease(self, now: datetime) -> list[_Job]:
        lease_until = now + self.settings.lease
        async with self.database.unit_of_work() as session:
            rows = (
                await session.execute(
                    text(_LEASE),
                    {"now": now, "limit": self.settings.batch_size, "lease_until": lease_until},
                )
            ).all()
        jobs = []
        for row in rows:
            job = _Job(
                id=row[0],
                company_id=row[1],
                endpoint_id=row[2],
                attempt=row[3],
                url=row[8],
                secrets=[],
                message_id=f"msg_{row[4].hex}",
                body=message_body(row[5], row[6], row[7]),
            )
            try:
                job.secrets.append(self._decrypt(row[9], job))
                if row[10] is not None and row[11] is not None and row[11] > now:
                    job.secrets.append(self._decrypt(row[10], job))
            except SecretDecryptionError:
                job.error = (
                    "the endpoint's secret cannot be decrypted (was the app secret changed?)"
                )
            jobs.append(job)
        return jobs

    def _decrypt(self, ciphertext: bytes, job: _Job) -> str:
        return service.decrypt(
            ciphertext, self.settings.secret_key, job.company_id, job.endpoint_id
        )

    async def send(self, now: datetime, outcome: DispatchOutcome) -> None:
        """Lease and send until nothing is due (each lead's next event becomes due once the
        one before it is delivered)."""
        connector = aiohttp.TCPConnector(
            resolver=ssrf.GuardedResolver(allow_private=self.settings.allow_private),
            limit=self.settings.concurrency,
        )
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        # The timeout starts once a job has a connection slot, not while it waits for one
        # behind slow endpoints (aiohttp counts the wait for the connector's limit in it).
        slots = asyncio.Semaphore(self.settings.concurrency)
        elapsed = stopwatch()
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            while True:
                # Each batch at its own instant: its lease, signature timestamps and retry
                # times count from when it runs, not from when the pass began.
                at = now + elapsed()
                jobs = await self._lease(at)
                if not jobs:
                    return
                answers = await asyncio.gather(
                    *(self._post_in_slot(slots, http, job, at) for job in jobs),
                    return_exceptions=True,
                )
                results = [_result_of(answer) for answer in answers]
                await self._record(jobs, results, at, outcome)

    async def _post_in_slot(
        self, slots: asyncio.Semaphore, http: aiohttp.ClientSession, job: _Job, now: datetime
    ) -> _Result:
        async with slots:
            return await self._post(http, job, now)

    async def _post(self, http: aiohttp.ClientSession, job: _Job, now: datetime) -> _Result:
        if job.error is not None:
            return _Result(error=job.error, permanent=True)
        try:
            await ssrf.check_url(job.url, allow_private=self.settings.allow_private)
        except ssrf.UnsafeTarget as error:
            return _Result(error=f"refused: {error}", permanent=True)
        headers = signing.headers(job.secrets, job.message_id, int(now.timestamp()), job.body)
        headers["user-agent"] = "AgentConnect-Webhooks/1"
        try:
            async with http.post(
                job.url, data=job.body, headers=headers, allow_redirects=False
            ) as response:
                await response.content.read(64 * 1024)  # drained, not kept
                code = response.status
                if 200 <= code < 300:
                    return _Result(status=code)
                if code == 410:
                    return _Result(status=code, error="the endpoint answered 410 Gone")
                if code == 429 or code >= 500:
                    return _Result(
                        status=code,
                        error=f"HTTP {code}",
                        retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
                    )
                return _Result(status=code, error=f"HTTP {code}", permanent=True)
        except ssrf.UnsafeTarget as error:
            return _Result(error=f"refused: {error}", permanent=True)
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, ssrf.UnsafeTarget):
                return _Result(error=f"refused: {error.os_error}", permanent=True)
            return _Result(error=f"cannot connect: {error.os_error}")
        except TimeoutError:
            return _Result(error=f"no answer within {self.settings.timeout:g} s")
        except (aiohttp.ClientError, OSError) as error:
            return _Result(error=f"{type(error).__name__}: {error}")

    async def _record(
        self, jobs: list[_Job], results: list[_Result], now: datetime, outcome: DispatchOutcome
    ) -> None:
        cutoff = now - self.settings.disable_after
        async with self.database.unit_of_work() as session:
            for job, result in zip(jobs, results, strict=True):
                outcome.sent += 1
                delivered = result.error is None
                gone = result.status == 410
                next_at = None
                if delivered:
                    status = "delivered"
                elif result.permanent or gone or job.attempt >= MAX_ATTEMPTS:
                    status = "failed"
                else:
                    status = "pending"
                    next_at = now + retry_delay(
                        job.attempt, result.retry_after, self.settings.jitter
                    )
                error = result.error
                if status == "failed" and not result.permanent and not gone:
                    error = f"gave up after {job.attempt} attempts: {result.error}"
                fenced = await session.execute(
                    text(_OUTCOME),
                    {"id": job.id, "attempt": job.attempt, "status": status, "now": now,
                     "response_status": result.status, "error": error,
                     "next_attempt_at": next_at},
                )  # fmt: skip
                if fenced.first() is None:
                    continue  # another worker holds it now: its outcome counts, not ours
                if delivered:
                    outcome.delivered += 1
                    await session.execute(text(_ENDPOINT_SUCCEEDED), {"id": job.endpoint_id})
                    continue
                if status == "failed":
                    outcome.failed += 1
                else:
                    outcome.retried += 1
                reason = (
                    f"the endpoint answered 410 Gone on {now:%Y-%m-%dT%H:%M:%SZ}"
                    if gone
                    else (result.error or "failed")
                )
                params = {
                    "id": job.endpoint_id,
                    "now": now,
                    "cutoff": cutoff,
                    "gone": gone,
                    "reason": reason,
                }
                enabled = (await session.execute(text(_ENDPOINT_FAILED), params)).scalar_one()
                if not enabled:
                    outcome.endpoints_disabled += 1
                    log.warning("webhook endpoint %s disabled: %s", job.endpoint_id, reason)

    async def tick(self, now: datetime, *, upkeep: bool = True) -> DispatchOutcome:
        """One full pass at the instant `now` (upkeep: expired leases and old events too)."""
        outcome = DispatchOutcome()
        if upkeep:
            outcome.released = await self.release_expired(now)
            outcome.purged = await self.purge(now)
        outcome.fanned_out, outcome.created = await self.fan_out(now)
        await self.send(now, outcome)
        return outcome

    async def run_forever(
        self, stop: asyncio.Event, clock: Clock = wall_clock, idle_seconds: float = 1.0
    ) -> None:
        loop = asyncio.get_running_loop()
        last_upkeep = -UPKEEP_EVERY
        while not stop.is_set():
            try:
                upkeep = loop.time() - last_upkeep >= UPKEEP_EVERY
                done = await self.tick(clock(), upkeep=upkeep)
                if upkeep:
                    last_upkeep = loop.time()
                busy = done.fanned_out or done.sent
            except Exception:  # the loop must outlive a failed pass; the next one retries
                log.exception("webhook dispatch failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
