"""Settings: defaults, validation, and the one-line error an operator sees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from agentconnect.config import Settings, describe_validation_error


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.database_url is None
    assert str(settings.base_url) == "http://127.0.0.1:8000/"
    assert settings.log_level == "INFO"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTCONNECT_DATABASE_URL", "postgresql://u:p@db:5432/crm")
    monkeypatch.setenv("AGENTCONNECT_LOG_LEVEL", "debug")
    monkeypatch.setenv("AGENTCONNECT_WEBHOOKS_ALLOW_PRIVATE_TARGETS", "true")
    settings = Settings()
    assert settings.database_url == "postgresql://u:p@db:5432/crm"
    assert settings.log_level == "DEBUG"
    assert settings.webhooks_allow_private_targets is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGENTCONNECT_DATABASE_URL", "mysql://x/y"),
        ("AGENTCONNECT_LOG_LEVEL", "loud"),
        ("AGENTCONNECT_BASE_URL", "not a url"),
        ("AGENTCONNECT_ACCESS_TOKEN_MINUTES", "0"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = describe_validation_error(caught.value)
    assert variable in message
    assert "\n" not in message


def test_generated_secret_key_survives_a_restart(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key()
    second = Settings(data_dir=tmp_path).resolved_secret_key()
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_cli_reports_bad_configuration_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentconnect.cli", "migrate"],
        env={"AGENTCONNECT_LOG_LEVEL": "loud", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]]
    assert "AGENTCONNECT_LOG_LEVEL" in lines[0]
    assert "Traceback" not in result.stderr
