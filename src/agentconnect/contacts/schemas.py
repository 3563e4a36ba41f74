"""Wire shapes of contacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    model_validator,
)

from agentconnect.contacts.fields import IDENTITY_FIELDS, check_custom_fields, clean_tags
from agentconnect.kit.emails import normalize_email
from agentconnect.kit.phones import to_e164
from agentconnect.kit.schemas import InputSchema, OutputSchema
from agentconnect.kit.timezones import validate_timezone
from agentconnect.models.enums import LifecycleStage, OptInStatus

Text50 = Annotated[str, StringConstraints(max_length=50)]
Text100 = Annotated[str, StringConstraints(max_length=100)]
Text200 = Annotated[str, StringConstraints(max_length=200)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalize_email)]
Phone = Annotated[str, StringConstraints(max_length=40), AfterValidator(to_e164)]
Timezone = Annotated[str, AfterValidator(validate_timezone)]
Tags = Annotated[
    list[Annotated[str, StringConstraints(max_length=200)]], AfterValidator(clean_tags)
]
CustomFields = Annotated[dict[str, Any], AfterValidator(check_custom_fields)]

# Fields that may be written but never set to null.
NOT_NULLABLE = ("lifecycle_stage", "opt_in_status", "do_not_contact", "tags", "custom_fields")


class ContactFields(InputSchema):
    first_name: Text100 | None = None
    last_name: Text100 | None = None
    email: Email | None = None
    phone: Phone | None = None
    company_name: Text200 | None = None
    job_title: Text200 | None = None
    industry: Text100 | None = None
    company_size: Text50 | None = None
    timezone: Timezone | None = None
    lifecycle_stage: LifecycleStage | None = None
    lead_source: Text100 | None = None
    opt_in_status: OptInStatus | None = None
    do_not_contact: bool | None = None
    tags: Tags | None = None
    custom_fields: CustomFields | None = None
    last_contacted_at: AwareDatetime | None = None
    notes: Notes | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ContactFields:
        nulls = [f for f in NOT_NULLABLE if f in self.model_fields_set and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(nulls)}")
        return self


class ContactCreate(ContactFields):
    @model_validator(mode="after")
    def _identifiable(self) -> ContactCreate:
        if not any(getattr(self, field) for field in IDENTITY_FIELDS):
            raise ValueError("a contact needs at least one of " + ", ".join(IDENTITY_FIELDS))
        return self


class ContactUpdate(ContactFields):
    pass


class Contact(OutputSchema):
    id: uuid.UUID
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    company_name: str | None
    job_title: str | None
    industry: str | None
    company_size: str | None
    timezone: str | None
    lifecycle_stage: LifecycleStage
    lead_source: str | None
    opt_in_status: OptInStatus
    do_not_contact: bool
    tags: list[str]
    custom_fields: dict[str, Any]
    lead_score: int = Field(ge=0, le=100)
    last_contacted_at: datetime | None
    notes: str | None
    created_at: datetime
    updated_at: datetime


class ImportRowError(BaseModel):
    row: int = Field(description="the line of the file where the record starts (header: 1)")
    msg: str


class ImportResult(BaseModel):
    created: int
    updated: int
    errors: list[ImportRowError] = Field(description="the first 1,000 refused rows")
    error_count: int = Field(description="all refused rows, also those beyond the first 1,000")
    ignored_columns: list[str] = Field(
        default_factory=list, description="header columns that are not contact fields"
    )
