"""Migrations: upgrade, downgrade and upgrade again on an empty database; models match."""

from __future__ import annotations

import os

import psycopg
from alembic import command

from agentconnect.migrations_runner import alembic_config, downgrade, head_revision, upgrade
from tests.fixtures.postgres import create_test_database, drop_test_database


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_upgrade_downgrade_upgrade_and_models_match(postgres_server: str) -> None:
    name = f"agentconnect_migrations_{os.getpid()}"
    url = create_test_database(postgres_server, name, migrated=False)
    try:
        upgrade(url)
        assert {"companies", "users", "api_keys", "contacts"} <= _tables(url)
        downgrade(url, "base")
        assert _tables(url) <= {"alembic_version"}
        upgrade(url)
        with psycopg.connect(url) as connection:
            version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        assert version is not None
        assert version[0] == head_revision()
        # `alembic check`: autogenerate finds nothing the models have that migrations lack
        command.check(alembic_config(url))
    finally:
        drop_test_database(postgres_server, name)
