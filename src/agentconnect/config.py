"""Runtime configuration: one Settings object, read from AGENTCONNECT_* environment variables."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line meant for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENTCONNECT_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:pass@host:port/db; unset means the embedded PostgreSQL",
    )
    data_dir: Path = Field(
        default=Path(".data"),
        description="where the embedded PostgreSQL and the generated secret key live",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="signs access tokens and tracking links; generated into data_dir when unset",
    )
    base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: text on a terminal, JSON lines otherwise"
    )
    access_token_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    max_request_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    import_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    delivery_batch_size: int = Field(default=500, ge=1, le=10_000)
    delivery_concurrency: int = Field(
        default=20, ge=1, le=500, description="connections per company and channel"
    )
    delivery_lease_seconds: float = Field(
        default=300, gt=0, description="how long a sender holds a delivery before it returns"
    )
    twilio_api_base: AnyHttpUrl | None = None
    webhooks_allow_private_targets: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ValueError("must be a postgresql://user:pass@host:port/db URL")
        return value

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in data_dir so restarts keep it."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad variable, e.g. `AGENTCONNECT_LOG_LEVEL: Input should be ...`."""
    parts = []
    for item in error.errors():
        name = "AGENTCONNECT_" + "_".join(str(p) for p in item["loc"]).upper()
        parts.append(f"{name}: {item['msg']}")
    return "invalid configuration: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
