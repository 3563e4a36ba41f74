"""The background worker: procrastinate on the same PostgreSQL, and the tasks it runs."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

import procrastinate
from sqlalchemy import select

from agentconnect.automations.runner import Runner
from agentconnect.config import Settings
from agentconnect.db import Database, database_url, plain_url
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from agentconnect.models import Lead
from agentconnect.webhooks.dispatcher import Dispatcher, DispatchSettings

app = procrastinate.App(connector=procrastinate.PsycopgConnector())
_database: Database | None = None
_engine: Engine | None = None
_dispatcher: Dispatcher | None = None
_automations: Runner | None = None


def configure(settings: Settings) -> Database:
    """Point the queue, the tasks and the delivery engine at the configured (or embedded)
    database."""
    global _database, _engine, _dispatcher, _automations
    url = database_url(settings)
    connector = procrastinate.PsycopgConnector(conninfo=plain_url(url))
    # what App.replace_connector does, kept for the life of the process
    app.connector = connector
    app.job_manager.connector = connector
    _database = Database.from_url(url, pool_size=settings.db_pool_size)
    _engine = Engine(_database, *engine_settings(settings))
    _dispatcher = Dispatcher(
        _database,
        DispatchSettings(
            secret_key=settings.resolved_secret_key(),
            allow_private=settings.webhooks_allow_private_targets,
        ),
    )
    _automations = Runner(_database)
    return _database


def engine_settings(settings: Settings) -> tuple[EngineSettings, SenderSettings]:
    engine = EngineSettings(
        base_url=str(settings.base_url).rstrip("/"),
        secret_key=settings.resolved_secret_key(),
        batch_size=settings.delivery_batch_size,
        twilio_api_base=(
            str(settings.twilio_api_base).rstrip("/") if settings.twilio_api_base else None
        ),
    )
    sender = SenderSettings(
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
        batch_size=settings.delivery_batch_size,
        concurrency=settings.delivery_concurrency,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
    )
    return engine, sender


async def run(*, wait: bool = True, install_signal_handlers: bool = True) -> None:
    """Process jobs and run the delivery engine until stopped (or, with wait=False, until no
    job is due; the engine then does not run)."""
    async with app.open_async():
        if not wait:
            await app.run_worker_async(
                queues=["scoring"], wait=False, install_signal_handlers=install_signal_handlers
            )
            return
        assert _engine is not None, "configure() the worker before running it"
        assert _dispatcher is not None
        assert _automations is not None
        stop = asyncio.Event()
        engine = asyncio.create_task(_engine.run_forever(stop))
        # Outbound webhooks beside the engine: their own loop, so a slow receiver never holds
        # up campaign sends.
        webhooks = asyncio.create_task(_dispatcher.run_forever(stop))
        automations = asyncio.create_task(_automations.run_forever(stop))
        try:
            await app.run_worker_async(
                queues=["scoring"], install_signal_handlers=install_signal_handlers
            )
        finally:
            # The job worker stopped (a signal, or cancellation): let the engine finish its
            # batch instead of cutting it off mid-transaction.
            stop.set()
            await engine
            await webhooks
            await automations


@app.task(name="agentconnect.worker.rescore_contacts", queue="scoring", retry=3)
async def rescore_contacts(company_id: str, contact_ids: list[str]) -> dict[str, Any]:
    from agentconnect.scoring.service import qualify_leads

    assert _database is not None, "configure() the worker before running tasks"
    company = uuid.UUID(company_id)
    async with _database.unit_of_work() as session:
        lead_ids = list(
            (
                await session.scalars(
                    select(Lead.id).where(
                        Lead.company_id == company,
                        Lead.contact_id.in_([uuid.UUID(c) for c in contact_ids]),
                    )
                )
            ).all()
        )
        outcomes = await qualify_leads(session, company, lead_ids)
    return {"leads": len(outcomes)}
