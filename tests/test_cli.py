"""The `agentconnect` command, run as a user runs it: a subprocess against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agentconnect.auth.secrets import hash_api_key
from tests.fixtures.postgres import create_test_database, drop_test_database


@pytest.fixture
def cli_database(postgres_server: str) -> Iterator[str]:
    name = f"agentconnect_cli_{os.getpid()}"
    url = create_test_database(postgres_server, name, migrated=False)
    yield url
    drop_test_database(postgres_server, name)


def run_cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTCONNECT_DATABASE_URL": url, "AGENTCONNECT_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "agentconnect.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_company_create_prints_ids_and_a_working_key(cli_database: str, tmp_path: Path) -> None:
    result = run_cli(
        cli_database,
        tmp_path,
        "company",
        "create",
        "--name",
        "Initech",
        "--admin-email",
        "Boss@Initech.example",
        "--admin-password",
        "s3cret-pass",
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) == {"company_id", "user_id", "api_key"}
    with psycopg.connect(cli_database) as connection:
        key_row = connection.execute(
            "SELECT company_id, role FROM api_keys WHERE key_hash = %s",
            (hash_api_key(printed["api_key"]),),
        ).fetchone()
        plain = connection.execute(
            "SELECT count(*) FROM api_keys WHERE key_hash = %s", (printed["api_key"],)
        ).fetchone()
        user = connection.execute("SELECT email, role FROM users").fetchone()
    assert key_row is not None
    assert str(key_row[0]) == printed["company_id"]
    assert key_row[1] == "admin"
    assert plain == (0,)  # stored only as a hash
    assert user == ("boss@initech.example", "admin")


def test_company_create_refuses_bad_input_and_duplicates(cli_database: str, tmp_path: Path) -> None:
    short = run_cli(
        cli_database,
        tmp_path,
        "company",
        "create",
        "--name",
        "X",
        "--admin-email",
        "x@x.example",
        "--admin-password",
        "short",
    )
    assert short.returncode == 2
    assert "password" in short.stderr
    args = [
        "company",
        "create",
        "--name",
        "Y",
        "--admin-email",
        "y@y.example",
        "--admin-password",
        "long-enough",
    ]
    assert run_cli(cli_database, tmp_path, *args).returncode == 0
    again = run_cli(cli_database, tmp_path, *args)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_demo_seeds_once_and_issues_a_new_key_each_time(cli_database: str, tmp_path: Path) -> None:
    first = json.loads(run_cli(cli_database, tmp_path, "demo").stdout)
    second = json.loads(run_cli(cli_database, tmp_path, "demo").stdout)
    assert first["created"] is True
    assert second["created"] is False
    assert first["company_id"] == second["company_id"]
    with psycopg.connect(cli_database) as connection:
        contacts = connection.execute("SELECT count(*) FROM contacts").fetchone()
        stages = connection.execute(
            "SELECT count(DISTINCT lifecycle_stage), count(DISTINCT lead_source),"
            " count(DISTINCT timezone) FROM contacts"
        ).fetchone()
        live = connection.execute(
            "SELECT key_hash FROM api_keys WHERE revoked_at IS NULL"
        ).fetchall()
    assert contacts == (250,)
    assert stages is not None
    assert min(stages) >= 5
    assert live == [(hash_api_key(second["api_key"]),)]


def test_analytics_rebuild_recounts_and_checks_the_rollups(
    cli_database: str, tmp_path: Path
) -> None:
    company = json.loads(run_cli(cli_database, tmp_path, "demo").stdout)["company_id"]
    with psycopg.connect(cli_database) as connection:
        # the demo's enrollments wrote `enrolled` activities; break a rollup behind the
        # triggers' back, as a restore of an older backup would
        connection.execute("SELECT analytics_fold(100000)")
        connection.execute("UPDATE analytics_campaign_stats SET events = events + 5")
        connection.commit()

    checked = run_cli(cli_database, tmp_path, "analytics", "rebuild", "--check")
    assert checked.returncode == 1
    assert "differences from the raw log" in checked.stderr  # the console writes to stderr

    rebuilt = run_cli(cli_database, tmp_path, "analytics", "rebuild", "--company", company)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "recounted" in rebuilt.stderr
    assert "agree with the raw activity log" in rebuilt.stderr

    refused = run_cli(cli_database, tmp_path, "analytics", "rebuild", "--company", "acme")
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentconnect.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for command in ("serve", "migrate", "demo", "company"):
        assert command in result.stdout
