"""The `agentconnect` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy import text

from agentconnect.config import ConfigError, Settings, get_settings

app = typer.Typer(
    help="AgentConnect CRM: serve the API, run migrations, manage companies.", no_args_is_help=True
)
company_app = typer.Typer(help="Manage companies (tenants).", no_args_is_help=True)
app.add_typer(company_app, name="company")
analytics_app = typer.Typer(help="Campaign analytics upkeep.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")
console = Console(stderr=True)
T = TypeVar("T")


def _database_url(settings: Settings) -> str:
    from agentconnect.db import database_url

    with console.status("starting the database" if not settings.database_url else "connecting"):
        return database_url(settings)


def _migrate(settings: Settings) -> str:
    from agentconnect import migrations_runner

    url = _database_url(settings)
    with console.status("applying migrations"):
        migrations_runner.upgrade(url)
    return url


def _in_unit_of_work(url: str, work: Callable[..., Awaitable[T]]) -> T:
    from agentconnect.db import Database

    async def run() -> T:
        database = Database.from_url(url, pool_size=1)
        try:
            async with database.unit_of_work() as session:
                return await work(session)
        finally:
            await database.dispose()

    return asyncio.run(run())


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    _migrate(get_settings())
    console.print("[green]database is at the newest migration[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    demo: Annotated[bool, typer.Option(help="seed the demo company on first start")] = False,
    with_worker: Annotated[bool, typer.Option(help="run the background worker in-process")] = False,
) -> None:
    """Migrate, then serve the API (and, with --demo, print a demo login and API key)."""
    import uvicorn

    from agentconnect.app import create_app
    from agentconnect.logging_setup import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    url = _migrate(settings)
    if demo:
        from agentconnect.demo import ensure_demo

        login = _in_unit_of_work(url, ensure_demo)
        state = "created" if login.created else "found"
        console.print(
            f"\n[bold]AgentConnect CRM[/bold] on http://{host}:{port}  (API docs: /docs)\n"
            f"demo company {state}: log in as [cyan]{login.email}[/cyan] / "
            f"[cyan]{login.password}[/cyan]\n"
            f"API key (new on every start): [cyan]{login.api_key}[/cyan]\n"
            f"try: curl -H 'Authorization: Bearer {login.api_key}' "
            f"http://{host}:{port}/api/v1/contacts\n",
            soft_wrap=True,
        )
    else:
        console.print(f"AgentConnect CRM on http://{host}:{port}  (API docs: /docs)")
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_config=None)
    asyncio.run(_serve(uvicorn.Server(config), settings, with_worker))


async def _serve(server: Any, settings: Settings, with_worker: bool) -> None:
    if not with_worker:
        await server.serve()
        return
    from agentconnect import worker

    database = worker.configure(settings)
    jobs = asyncio.create_task(worker.run(install_signal_handlers=False))
    try:
        await server.serve()
    finally:
        jobs.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await jobs
        await database.dispose()


@app.command("worker")
def run_worker() -> None:
    """Run the background worker: the delivery engine and rescoring after interactions."""
    from agentconnect import worker
    from agentconnect.logging_setup import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    _migrate(settings)
    worker.configure(settings)
    console.print("worker started; Ctrl+C stops it after the running jobs")
    asyncio.run(worker.run())


@app.command()
def demo() -> None:
    """Create the demo company (once) and print its login and a fresh API key as JSON."""
    from agentconnect.demo import ensure_demo

    login = _in_unit_of_work(_migrate(get_settings()), ensure_demo)
    print(
        json.dumps(
            {
                "company_id": login.company_id,
                "email": login.email,
                "password": login.password,
                "api_key": login.api_key,
                "created": login.created,
            }
        )
    )


@company_app.command("create")
def company_create(
    name: Annotated[str, typer.Option(help="company name")],
    admin_email: Annotated[str, typer.Option(help="e-mail of the first admin (the login)")],
    admin_password: Annotated[
        str,
        typer.Option(help="password of the first admin (8+ chars)", prompt=True, hide_input=True),
    ],
    admin_name: Annotated[str, typer.Option(help="name of the first admin")] = "Administrator",
) -> None:
    """Create a company with its first admin; print its ids and an API key (shown once)."""
    from pydantic import ValidationError

    from agentconnect.errors import AppError
    from agentconnect.tenancy.schemas import UserCreate
    from agentconnect.tenancy.service import create_company

    try:
        admin = UserCreate(email=admin_email, name=admin_name, password=admin_password)
    except ValidationError as error:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())
        raise typer.BadParameter(problems) from None
    if not name.strip():
        raise typer.BadParameter("--name must not be empty")

    async def work(session):  # type: ignore[no-untyped-def]
        return await create_company(
            session,
            name=name.strip(),
            admin_email=admin.email,
            admin_password=admin.password,
            admin_name=admin.name,
        )

    try:
        new = _in_unit_of_work(_migrate(get_settings()), work)
    except AppError as error:
        console.print(f"[red]error:[/red] {error.detail}")
        raise typer.Exit(1) from None
    print(
        json.dumps(
            {
                "company_id": str(new.company.id),
                "user_id": str(new.admin.id),
                "api_key": new.api_key,
            }
        )
    )


@analytics_app.command("rebuild")
def analytics_rebuild(
    company: Annotated[
        list[str] | None,
        typer.Option("--company", help="a company id (repeatable); default: every company"),
    ] = None,
    check_only: Annotated[
        bool, typer.Option("--check", help="only compare the rollups with the raw log")
    ] = False,
) -> None:
    """Recount the analytics rollups from the raw activity log, then check that they agree
    with it (exit 1 if they do not). With --check, only the comparison."""
    from agentconnect.analytics import rollups
    from agentconnect.db import Database

    url = _migrate(get_settings())
    try:
        wanted = [uuid.UUID(value) for value in company or []]
    except ValueError as error:
        console.print(f"[red]--company must be a company id: {error}[/red]")
        raise typer.Exit(2) from None

    async def run() -> list[rollups.Difference]:
        database = Database.from_url(url, pool_size=2)
        try:
            async with database.unit_of_work() as session:
                ids = wanted or list(
                    (await session.scalars(text("SELECT id FROM companies"))).all()
                )
            if not check_only:
                with console.status(f"recounting the activities of {len(ids)} companies ..."):
                    async with database.unit_of_work() as session:
                        counted = await rollups.rebuild(session, ids)
                console.print(f"recounted {counted:,} activities")
            await rollups.fold(database)
            async with database.unit_of_work() as session:
                return await rollups.differences(session, ids)
        finally:
            await database.dispose()

    found = asyncio.run(run())
    if found:
        for difference in found[:20]:
            console.print(
                f"[red]{difference.table} {difference.key}: stored {difference.stored}, "
                f"recomputed {difference.recomputed}[/red]"
            )
        console.print(f"[red]{len(found)} differences from the raw log[/red]")
        raise typer.Exit(1)
    console.print("[green]the rollups agree with the raw activity log[/green]")


def main() -> None:
    try:
        app()
    except ConfigError as error:
        print(f"agentconnect: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
