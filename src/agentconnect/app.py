"""create_app(): routers, error handlers, middleware and the database lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from agentconnect import __version__
from agentconnect.activities.endpoints import router as activities_router
from agentconnect.automations.endpoints import router as automations_router
from agentconnect.campaigns.endpoints import router as campaigns_router
from agentconnect.channels.email_webhooks import admin_router as email_webhook_admin_router
from agentconnect.channels.email_webhooks import router as email_webhooks_router
from agentconnect.channels.endpoints import router as channels_router
from agentconnect.channels.twilio_status_fastpath import TwilioStatusFastPath
from agentconnect.channels.twilio_voice_webhooks import router as twilio_voice_router
from agentconnect.channels.twilio_webhooks import router as twilio_webhooks_router
from agentconnect.config import Settings, get_settings
from agentconnect.contacts.endpoints import router as contacts_router
from agentconnect.conversations.endpoints import router as conversations_router
from agentconnect.db import Database, database_url
from agentconnect.errors import install_error_handlers, problem_response
from agentconnect.leads.endpoints import router as leads_router
from agentconnect.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from agentconnect.migrations_runner import current_revision, head_revision
from agentconnect.openapi import install_openapi
from agentconnect.scoring.endpoints import router as scoring_router
from agentconnect.tenancy.endpoints import router as tenancy_router
from agentconnect.tracking.endpoints import router as tracking_router
from agentconnect.web import mount_web
from agentconnect.webhooks.endpoints import router as webhooks_router


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        app.state.database = database or Database.from_url(
            database_url(settings), pool_size=settings.db_pool_size
        )
        try:
            yield
        finally:
            if owned:
                await app.state.database.dispose()

    app = FastAPI(
        title="AgentConnect CRM",
        version=__version__,
        description="A multi-tenant B2B CRM for teams running AI agents.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.secret_key = settings.resolved_secret_key()
    if database is not None:
        app.state.database = database

    install_error_handlers(app)
    # Innermost: Twilio's status callbacks skip routing and the ORM, inside the size limit.
    app.add_middleware(TwilioStatusFastPath)
    app.add_middleware(
        BodySizeLimitMiddleware,
        default_limit=settings.max_request_bytes,
        limits={"/contacts/import": settings.import_max_bytes},
    )
    app.add_middleware(RequestIdMiddleware)

    app.include_router(tenancy_router)
    app.include_router(contacts_router)
    app.include_router(scoring_router)
    app.include_router(leads_router)
    app.include_router(campaigns_router)
    app.include_router(channels_router)
    app.include_router(conversations_router)
    app.include_router(activities_router)
    app.include_router(email_webhook_admin_router)
    app.include_router(email_webhooks_router)
    app.include_router(tracking_router)
    app.include_router(twilio_webhooks_router)
    app.include_router(twilio_voice_router)
    app.include_router(webhooks_router)
    app.include_router(automations_router)

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"], response_model=None)
    async def ready(request: Request) -> JSONResponse | dict[str, str | None]:
        """Readiness: the database answers and its schema is at the newest migration."""
        db: Database = request.app.state.database
        try:
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                revision = await connection.run_sync(current_revision)
        except Exception as error:  # any failure to reach the database means "not ready"
            return problem_response(503, f"database unreachable: {type(error).__name__}")
        if revision is None:
            return problem_response(503, "the database has no schema yet: run migrate")
        if revision != head_revision():
            return problem_response(
                503, f"database schema at {revision}, expected {head_revision()}: run migrate"
            )
        return {"status": "ready", "revision": revision}

    mount_web(app)  # the dashboard at /app
    install_openapi(app)
    return app
