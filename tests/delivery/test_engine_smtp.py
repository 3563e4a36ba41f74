"""The engine sending email through a real SMTP server on loopback, and its faults: servers that
refuse for a while, servers that refuse for good, and a worker process killed mid-run."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from agentconnect.models import CampaignActivity, Delivery
from tests.campaigns.conftest import CAMPAIGNS, contact, email_step, new_campaign
from tests.fixtures.smtp import SmtpServer
from tests.fixtures.world import World

NOW = datetime.now(UTC) + timedelta(minutes=5)
BASE_URL = "http://crm.test"


@pytest.fixture
def engine(database: Database, app: Any) -> Engine:
    settings = EngineSettings(base_url=BASE_URL, secret_key=app.state.secret_key)
    return Engine(
        database, settings, SenderSettings(worker_id="test", batch_size=100, concurrency=4)
    )


async def _use_smtp(world: World, server: SmtpServer) -> None:
    response = await world.a.admin.put(
        "/api/v1/channels/email",
        json={
            "provider": "smtp",
            "host": server.host,
            "port": server.port,
            "security": "none",
            "from_email": "news@company-a.example",
            "from_name": "Company A",
            "reply_to": "sales@company-a.example",
        },
    )
    assert response.status_code == 200, response.text
    patched = await world.a.admin.patch(
        "/api/v1/company", json={"postal_address": "1 Main St, Springfield"}
    )
    assert patched.status_code == 200, patched.text


async def _campaign(world: World, people: int, **step: Any) -> tuple[str, list[str]]:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"], delay_value=0, delay_unit="minutes", **step)
    ids = []
    for n in range(people):
        person = await contact(
            world.a.admin, first_name=f"P{n}", email=f"p{n}@x.example", company_name="Initech"
        )
        ids.append(person["id"])
    enrolled = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": ids}
    )
    assert enrolled.status_code == 200, enrolled.text
    started = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    assert started.status_code == 200, started.text
    return campaign["id"], ids


def _part(message: Any, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


async def test_what_arrives_headers_tokens_links_footer_and_variants(
    world: World, engine: Engine, smtp_server: SmtpServer, session: AsyncSession
) -> None:
    await _use_smtp(world, smtp_server)
    await _campaign(
        world,
        6,
        subject="Hi {{first_name}}",
        body="<p>Hello {{first_name|there}} at {{company_name}}.</p>"
        '<p><a href="https://example.com/pricing?plan=pro">See pricing</a></p>',
        variants=[
            {
                "name": "a",
                "weight": 1,
                "subject": "A for {{first_name}}",
                "body": '<p>A: <a href="https://example.com/a">go</a></p>',
            },
            {
                "name": "b",
                "weight": 1,
                "subject": "B for {{first_name}}",
                "body": '<p>B: <a href="https://example.com/b">go</a></p>',
            },
        ],
    )
    result = await engine.tick(NOW)
    assert result.sent.sent == 6
    assert len(smtp_server.messages) == 6
    rows = {row.to_address: row for row in (await session.scalars(select(Delivery))).all()}
    for received in smtp_server.messages:
        message = received.message
        to = received.rcpt_tos[0]
        delivery = rows[to]
        number = to.split("@")[0][1:]
        assert message["Subject"] == f"{delivery.variant.upper()} for P{number}"  # type: ignore[union-attr]
        assert message["From"] == "Company A <news@company-a.example>"
        assert message["Reply-To"] == "sales@company-a.example"
        assert message["Message-ID"] == f"<{delivery.message_id_header}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "mailto:" in message["List-Unsubscribe"]
        # Message-ID and the unsubscribe mailbox live in the sending address's domain.
        assert str(delivery.message_id_header).endswith("@company-a.example")
        assert "@company-a.example" in message["List-Unsubscribe"]
        assert f"{BASE_URL}/u/" in message["List-Unsubscribe"]
        html, plain = _part(message, "html"), _part(message, "plain")
        assert f"https://example.com/{delivery.variant}" not in html, "links are rewritten"
        assert re.search(rf'href="{BASE_URL}/t/c/[^"]+"', html)
        assert f'src="{BASE_URL}/t/o/' in html
        assert "1 Main St, Springfield" in html
        assert "1 Main St, Springfield" in plain
        assert f"{BASE_URL}/u/" in plain
    assert {r.variant for r in rows.values()} == {"a", "b"}
    # The connection is reused: far fewer connections than messages.
    assert smtp_server.connections <= 4


async def test_a_server_refusing_for_a_while_then_recovering_gets_every_message_once(
    world: World, engine: Engine, smtp_server: SmtpServer, session: AsyncSession
) -> None:
    await _use_smtp(world, smtp_server)
    await _campaign(world, 8)
    smtp_server.fail_next(5, code=451, at="rcpt")
    smtp_server.fail_next(3, code=421, at="mail")
    moment = NOW
    for _ in range(12):
        await engine.tick(moment)
        if len(smtp_server.messages) == 8:
            break
        moment += timedelta(hours=1)  # past any backoff
    recipients = sorted(m.rcpt_tos[0] for m in smtp_server.messages)
    assert recipients == sorted(f"p{n}@x.example" for n in range(8))
    statuses = (await session.scalars(select(Delivery.status))).all()
    assert set(statuses) == {"sent"}
    retried = await session.scalar(select(func.count()).where(Delivery.attempts > 1))
    assert retried, "some deliveries needed more than one attempt"


async def test_a_permanent_refusal_fails_the_delivery_and_nothing_retries_it(
    world: World, engine: Engine, smtp_server: SmtpServer, session: AsyncSession
) -> None:
    await _use_smtp(world, smtp_server)
    _, ids = await _campaign(world, 2)
    smtp_server.refuse("p0@x.example", code=550, text="5.1.1 mailbox unknown")
    result = await engine.tick(NOW)
    assert (result.sent.sent, result.sent.failed) == (1, 1)
    failed = await session.scalar(select(Delivery).where(Delivery.status == "failed"))
    assert failed is not None
    assert "550" in (failed.last_error or "")
    assert "mailbox unknown" in (failed.last_error or "")
    activity = await session.scalar(
        select(CampaignActivity).where(CampaignActivity.activity_type == "message_failed")
    )
    assert activity is not None
    assert activity.contact_id == uuid.UUID(ids[0])
    later = await engine.tick(NOW + timedelta(days=1))
    assert later.sent.leased == 0
    assert [m.rcpt_tos for m in smtp_server.messages] == [["p1@x.example"]]


async def test_a_refusal_after_the_content_is_not_recorded_as_sent(
    world: World, engine: Engine, smtp_server: SmtpServer, session: AsyncSession
) -> None:
    await _use_smtp(world, smtp_server)
    await _campaign(world, 1)
    smtp_server.fail_next(1, code=452, at="data")
    first = await engine.tick(NOW)
    assert first.sent.sent == 0
    assert smtp_server.messages == []
    delivery = await session.scalar(select(Delivery))
    assert delivery is not None
    assert delivery.status == "queued"
    sent_activities = await session.scalar(
        select(func.count()).where(CampaignActivity.activity_type == "email_sent")
    )
    assert sent_activities == 0
    again = await engine.tick(NOW + timedelta(hours=3))
    assert again.sent.sent == 1
    assert len(smtp_server.messages) == 1


# --- a worker killed mid-run ------------------------------------------------------------------

FAULT_MESSAGES = 5000


async def _bulk_campaign(session: AsyncSession, company_id: uuid.UUID, count: int) -> None:
    """Contacts, a one-step email campaign and its due enrollments, written with SQL."""
    campaign_id, step_id = uuid.uuid4(), uuid.uuid4()
    await session.execute(
        text("""
        INSERT INTO contacts (id, company_id, first_name, email, lifecycle_stage, opt_in_status,
                              do_not_contact, tags, custom_fields, lead_score)
        SELECT gen_random_uuid(), :company, 'Person ' || n, 'bulk' || n || '@x.example',
               'lead', 'opted_in', false, '[]', '{}', 0
        FROM generate_series(1, :count) AS n
        """),
        {"company": company_id, "count": count},
    )
    await session.execute(
        text("""
        INSERT INTO campaigns (id, company_id, name, campaign_type, status, goal_type,
                               target_criteria, send_time_optimization, cost, currency,
                               started_at)
        VALUES (:id, :company, 'Bulk', 'email', 'active', 'none', '{}', false, 0, 'USD', now())
        """),
        {"id": campaign_id, "company": company_id},
    )
    await session.execute(
        text("""
        INSERT INTO campaign_messages (id, company_id, campaign_id, sequence_order, message_type,
                                       delay_value, delay_unit, subject, body, variants)
        VALUES (:id, :company, :campaign, 1, 'email', 0, 'minutes', 'Hello {{first_name}}',
                'Hi {{first_name}}, see https://example.com/offer', '[]')
        """),
        {"id": step_id, "company": company_id, "campaign": campaign_id},
    )
    await session.execute(
        text("""
        INSERT INTO campaign_contacts (id, company_id, campaign_id, contact_id, status,
                                       current_step, next_step_at, variant_assignments)
        SELECT gen_random_uuid(), :company, :campaign, id, 'active', 1,
               now() - interval '1 minute', '{}'
        FROM contacts WHERE company_id = :company
        """),
        {"company": company_id, "campaign": campaign_id},
    )
    await session.commit()


def _worker(database_url: str, secret_key: str, log: Path) -> subprocess.Popen[bytes]:
    """A worker process; its log goes to a file (a pipe nobody reads would stall it once
    full)."""
    env = {
        **os.environ,
        "AGENTCONNECT_DATABASE_URL": database_url,
        "AGENTCONNECT_SECRET_KEY": secret_key,
        "AGENTCONNECT_DELIVERY_LEASE_SECONDS": "4",
        "AGENTCONNECT_DELIVERY_BATCH_SIZE": "200",
        "AGENTCONNECT_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "agentconnect.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


async def test_a_worker_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    world: World,
    smtp_server: SmtpServer,
    session: AsyncSession,
    database_url: str,
    app: Any,
    tmp_path: Path,
) -> None:
    await _use_smtp(world, smtp_server)
    await _bulk_campaign(session, world.a.id, FAULT_MESSAGES)
    log = tmp_path / "workers.log"
    first = _worker(database_url, app.state.secret_key, log)
    try:
        await smtp_server.wait_for(lambda: len(smtp_server.messages) >= 1500, within=120)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    at_kill = len(smtp_server.messages)
    assert at_kill < FAULT_MESSAGES, "the worker finished before it could be killed"
    second = _worker(database_url, app.state.secret_key, log)
    try:
        try:
            await smtp_server.wait_for(
                lambda: len(smtp_server.messages) >= FAULT_MESSAGES, within=240
            )
        except AssertionError as error:
            logged = log.read_text()[-3000:]
            raise AssertionError(f"{error}; the workers logged:\n{logged}") from None
        await asyncio.sleep(2)  # anything more would be a duplicate
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
    recipients = [m.rcpt_tos[0] for m in smtp_server.messages]
    assert len(recipients) == FAULT_MESSAGES, f"{len(recipients)} received, killed at {at_kill}"
    assert len(set(recipients)) == FAULT_MESSAGES
    message_ids = {m.message["Message-ID"] for m in smtp_server.messages}
    assert len(message_ids) == FAULT_MESSAGES
    session.expire_all()
    counted = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    statuses = {str(status): count for status, count in counted.all()}
    assert statuses == {"sent": FAULT_MESSAGES}


async def test_drain_sends_what_the_scheduler_queues_while_it_is_still_scheduling(
    world: World, smtp_server: SmtpServer, session: AsyncSession, database: Database, app: Any
) -> None:
    # Batches of three: the sender leases the first batch while the scheduler is still
    # deciding the later ones, and must not stop before the scheduler is done.
    engine = Engine(
        database,
        EngineSettings(base_url=BASE_URL, secret_key=app.state.secret_key, batch_size=3),
        SenderSettings(worker_id="test", batch_size=3, concurrency=2),
    )
    await _use_smtp(world, smtp_server)
    await _campaign(world, 8, subject="Hi {{first_name}}", body="<p>Hello.</p>")
    try:
        scheduled, sent = await engine.drain(NOW)
        again = await engine.drain(NOW)
    finally:
        await engine.sender.close()
    assert (scheduled.claimed, scheduled.queued, sent.leased, sent.sent) == (8, 8, 8, 8)
    assert (again[0].claimed, again[1].leased) == (0, 0)
    assert sorted(m.message["Subject"] for m in smtp_server.messages) == [
        f"Hi P{n}" for n in range(8)
    ]
    # Each message's content was written once, beside its delivery, and is what was sent.
    stored = (
        await session.execute(
            text(
                "SELECT d.status, c.subject, c.company_id = d.company_id"
                " FROM deliveries AS d JOIN delivery_contents AS c ON c.delivery_id = d.id"
            )
        )
    ).all()
    assert sorted(stored) == [("sent", f"Hi P{n}", True) for n in range(8)]
    kinds = await session.scalars(select(CampaignActivity.activity_type))
    assert sorted(str(k) for k in kinds).count("email_sent") == 8
