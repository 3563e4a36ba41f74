"""Wire shapes of auth, users, API keys and company settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints, field_validator, model_validator

from agentconnect.kit.schemas import InputSchema, OutputSchema
from agentconnect.kit.timezones import validate_timezone
from agentconnect.models.enums import Role

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# Spaces are part of a password: never trimmed (sign-in does not trim them either).
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=200, strip_whitespace=False, pattern=r"\S"),
]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name
    expires_in: int


class CompanyBrief(OutputSchema):
    id: uuid.UUID
    name: str


class UserBrief(OutputSchema):
    id: uuid.UUID
    email: str
    name: str
    role: Role


class Me(BaseModel):
    user: UserBrief | None = Field(description="null when the caller is an API key")
    company: CompanyBrief
    role: Role
    auth: Literal["user", "api_key"]


class UserCreate(InputSchema):
    email: EmailStr
    name: Name
    role: Role = Role.AGENT
    password: Password

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class UserUpdate(InputSchema):
    email: EmailStr | None = None
    name: Name | None = None
    role: Role | None = None
    password: Password | None = None
    is_active: bool | None = None

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value


class User(OutputSchema):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ApiKeyCreate(InputSchema):
    name: Name
    role: Role = Role.ADMIN


class ApiKey(OutputSchema):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="the secret; shown only in this answer")


class FrequencyCap(InputSchema):
    per_day: int | None = Field(default=None, ge=1, le=1000)
    per_week: int | None = Field(default=None, ge=1, le=10000)


LEGAL_EARLIEST, LEGAL_LATEST = "08:00", "21:00"


class QuietHours(InputSchema):
    """The hours SMS and calls may reach a contact, in the contact's time zone. The US TCPA
    allows 08:00-21:00 local time; a company may narrow the hours, never widen them."""

    start: ClockTime = "08:00"
    end: ClockTime = "21:00"

    @model_validator(mode="after")
    def _within_the_law(self) -> QuietHours:
        if self.start < LEGAL_EARLIEST:
            raise ValueError(f"start may not be before {LEGAL_EARLIEST}")
        if self.end > LEGAL_LATEST:
            raise ValueError(f"end may not be after {LEGAL_LATEST}")
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


StageProbability = Annotated[Decimal, Field(ge=0, le=1)]


class StageProbabilities(InputSchema):
    lead: StageProbability | None = None
    mql: StageProbability | None = None
    sql: StageProbability | None = None
    opportunity: StageProbability | None = None
    customer: StageProbability | None = None
    lost: StageProbability | None = None


class CompanySettingsUpdate(InputSchema):
    name: Name | None = None
    postal_address: Annotated[str, StringConstraints(max_length=1000)] | None = None
    default_timezone: str | None = None
    frequency_cap: FrequencyCap | None = None
    quiet_hours: QuietHours | None = None
    sms_help_text: Annotated[str, StringConstraints(max_length=320)] | None = None
    stage_probabilities: StageProbabilities | None = None

    @field_validator("default_timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str:
        # Runs only when the field is sent: an explicit null cannot clear a NOT NULL column.
        if value is None:
            raise ValueError("default_timezone cannot be null")
        return validate_timezone(value)

    @model_validator(mode="after")
    def _name_not_null(self) -> CompanySettingsUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class CompanySettings(BaseModel):
    id: uuid.UUID
    name: str
    postal_address: str | None
    default_timezone: str
    frequency_cap: dict[str, int | None]
    quiet_hours: dict[str, str]
    sms_help_text: str | None
    stage_probabilities: dict[str, Decimal]
    created_at: datetime
