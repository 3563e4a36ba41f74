"""The embedded PostgreSQL that `make run` uses when no database URL is configured."""

from __future__ import annotations

from pathlib import Path

import psycopg

from agentconnect.db import plain_url, sqlalchemy_url, start_embedded_postgres


def test_urls_are_converted_between_forms() -> None:
    assert sqlalchemy_url("postgresql://u:p@h:5/d") == "postgresql+psycopg://u:p@h:5/d"
    assert plain_url("postgresql+psycopg://u:p@h:5/d") == "postgresql://u:p@h:5/d"


def test_embedded_server_starts_keeps_data_and_is_reused(tmp_path: Path) -> None:
    url = start_embedded_postgres(tmp_path)
    with psycopg.connect(plain_url(url), autocommit=True) as connection:
        connection.execute("CREATE TABLE kept (v int)")
        connection.execute("INSERT INTO kept VALUES (42)")
    assert start_embedded_postgres(tmp_path) == url
    with psycopg.connect(plain_url(url)) as connection:
        row = connection.execute("SELECT v FROM kept").fetchone()
    assert row == (42,)
    assert (tmp_path / "pg" / "PG_VERSION").exists()
