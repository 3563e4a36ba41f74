"""Wire shapes of leads, stage changes, assignment and pipeline statistics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from agentconnect.kit.money import Currency, MoneyIn, MoneyOut
from agentconnect.kit.schemas import InputSchema, OutputSchema, check_json_depth
from agentconnect.models.enums import LeadStage, QualificationStatus, StageChangeSource

MAX_BULK_IDS = 10_000

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Source = Annotated[str, StringConstraints(max_length=100)]
LeadIds = Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_BULK_IDS)]


class QualificationData(BaseModel):
    """The answers scoring reads; other keys are kept as they are."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _shallow(cls, data: Any) -> Any:
        return check_json_depth(data, limit=5)

    budget_confirmed: bool | None = None
    timeline_defined: bool | None = None
    decision_maker: bool | None = None
    questions_total: Annotated[int, Field(ge=0, le=1000)] | None = None
    questions_answered: Annotated[int, Field(ge=0, le=1000)] | None = None
    company_size: Annotated[str, StringConstraints(max_length=50)] | None = None
    industry: Annotated[str, StringConstraints(max_length=100)] | None = None
    job_title: Annotated[str, StringConstraints(max_length=200)] | None = None

    @field_validator("questions_answered")
    @classmethod
    def _not_more_than_asked(cls, value: int | None, info: Any) -> int | None:
        total = info.data.get("questions_total")
        if value is not None and total is not None and value > total:
            raise ValueError("questions_answered cannot exceed questions_total")
        return value


class LeadFilterQuery(BaseModel):
    """The filters of the lead list and the kanban board, read from the query string as one
    model: FastAPI then validates them in one call instead of parameter by parameter (most of
    its per-request cost)."""

    contact_id: uuid.UUID | None = Field(default=None, description="the leads of one contact")
    assigned_to: uuid.UUID | None = None
    qualification_status: list[QualificationStatus] | None = None
    min_score: Annotated[int, Field(ge=0, le=100)] | None = None
    max_score: Annotated[int, Field(ge=0, le=100)] | None = None
    min_value: Annotated[Decimal, Field(ge=0)] | None = None
    max_value: Annotated[Decimal, Field(ge=0)] | None = None
    q: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="title or contact"
    )


class LeadListQuery(LeadFilterQuery):
    stage: list[LeadStage] | None = Field(default=None, description="repeatable")
    sort: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, examples=["-score"]
    )


class KanbanQuery(LeadFilterQuery):
    per_stage: Annotated[int, Field(ge=1, le=100, description="cards per column")] = 10


class LeadCreate(InputSchema):
    contact_id: uuid.UUID
    title: Title | None = Field(
        default=None, description="defaults to the contact's company or name"
    )
    stage: LeadStage = LeadStage.LEAD
    deal_value: MoneyIn | None = None
    currency: Currency = "USD"
    expected_close_date: date | None = None
    assigned_to: uuid.UUID | None = None
    source: Source | None = None
    qualification_data: QualificationData = Field(default_factory=QualificationData)
    lost_reason: Reason | None = Field(default=None, description="required when stage is lost")

    @model_validator(mode="after")
    def _lost_reason_with_lost(self) -> LeadCreate:
        if self.lost_reason and self.stage != LeadStage.LOST:
            raise ValueError("lost_reason applies only to a lead created as lost")
        return self


class LeadUpdate(InputSchema):
    """Everything but the stage (PUT /stage) and the assignee (PUT /assign)."""

    title: Title | None = None
    deal_value: MoneyIn | None = None
    currency: Currency | None = None
    expected_close_date: date | None = None
    source: Source | None = None
    qualification_data: QualificationData | None = None


class ContactSummary(OutputSchema):
    id: uuid.UUID
    first_name: str | None
    last_name: str | None
    email: str | None
    company_name: str | None


class Lead(OutputSchema):
    id: uuid.UUID
    contact_id: uuid.UUID
    title: str
    stage: LeadStage
    qualification_status: QualificationStatus
    score: int
    deal_value: MoneyOut | None
    currency: str
    expected_close_date: date | None
    assigned_to: uuid.UUID | None
    source: str | None
    qualification_data: dict[str, Any]
    previous_stage: LeadStage | None
    stage_changed_at: datetime
    lost_reason: str | None
    created_at: datetime
    updated_at: datetime
    contact: ContactSummary


class StageChangeRequest(InputSchema):
    stage: LeadStage
    reason: Reason | None = None


class StageChange(OutputSchema):
    id: uuid.UUID
    lead_id: uuid.UUID
    from_stage: LeadStage | None
    to_stage: LeadStage
    reason: str | None
    changed_by: uuid.UUID | None
    source: StageChangeSource
    changed_at: datetime


class BulkStageRequest(InputSchema):
    lead_ids: LeadIds
    stage: LeadStage
    reason: Reason | None = None


class Refusal(BaseModel):
    lead_id: uuid.UUID
    reason: str


class BulkResult(BaseModel):
    updated: int
    unchanged: int = Field(default=0, description="already in the wanted state")
    not_found: list[uuid.UUID]
    refused: list[Refusal] = Field(default_factory=list)


class AssignRequest(InputSchema):
    user_id: uuid.UUID | None


class BulkAssignRequest(InputSchema):
    lead_ids: LeadIds
    user_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=1000)]
    strategy: Literal["single", "round_robin", "least_loaded"] = "round_robin"


class BulkAssignResult(BulkResult):
    assignments: dict[uuid.UUID, int] = Field(description="leads given to each user by this call")


class StageStats(BaseModel):
    stage: LeadStage
    count: int
    value: MoneyOut
    probability: Decimal
    weighted_value: MoneyOut
    average_days_in_stage: float | None


class Conversion(BaseModel):
    from_stage: LeadStage
    to_stage: LeadStage
    reached_from: int
    reached_to: int
    rate: float | None


class PipelineStats(BaseModel):
    total_leads: int
    open_leads: int
    stages: list[StageStats]
    total_pipeline_value: MoneyOut = Field(description="deal value of open leads")
    weighted_pipeline_value: MoneyOut = Field(description="open deal value times stage probability")
    won_value: MoneyOut
    average_score: float | None
    win_rate: float | None = Field(description="customer / (customer + lost)")
    conversion_rates: list[Conversion]


class StageColumn(BaseModel):
    stage: LeadStage
    count: int
    value: MoneyOut
    leads: list[Lead]


class Kanban(BaseModel):
    columns: list[StageColumn]
