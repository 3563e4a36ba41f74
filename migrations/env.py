"""Alembic environment: runs migrations on a synchronous psycopg connection."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool

from agentconnect.models import Base

config = context.config
target_metadata = Base.metadata

# Indexes that exist only where the server has the extension they need (pg_trgm); they are
# created by migrations when possible and are not part of the models.
OPTIONAL_INDEXES = {"ix_contacts_search_text_trgm"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ == "index" and name in OPTIONAL_INDEXES:
        return False
    # The job queue's tables belong to procrastinate, whose schema a migration applies as is.
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (table or "").startswith("procrastinate")


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set (agentconnect.migrations_runner does it)"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_object=include_object,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
