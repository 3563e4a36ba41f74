"""Wire shapes of campaigns, sequence steps, targeting and enrollment."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from agentconnect.agent.flow import CallFlowConfig
from agentconnect.contacts.schemas import Contact
from agentconnect.kit.money import Currency, MoneyIn, MoneyOut
from agentconnect.kit.schemas import InputSchema, OutputSchema, check_json_depth
from agentconnect.kit.timezones import validate_timezone
from agentconnect.models.enums import (
    CampaignStatus,
    CampaignType,
    DelayUnit,
    EnrollmentStatus,
    GoalType,
    LeadStage,
    LifecycleStage,
    MessageType,
    OptInStatus,
)

MAX_BULK_IDS = 10_000
SMS_MAX_CHARS = 1_600
WHATSAPP_MAX_CHARS = 4_096
EMAIL_MAX_CHARS = 200_000

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_depth)]
ContactIds = Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_BULK_IDS)]


class TargetCriteria(InputSchema):
    """Who a campaign is for. Lists are ORs within a field; fields are ANDed together."""

    lifecycle_stages: list[LifecycleStage] = Field(default_factory=list, max_length=20)
    lead_stages: list[LeadStage] = Field(default_factory=list, max_length=20)
    min_score: Annotated[int, Field(ge=0, le=100)] | None = None
    max_score: Annotated[int, Field(ge=0, le=100)] | None = None
    lead_sources: list[Annotated[str, StringConstraints(max_length=100)]] = Field(
        default_factory=list, max_length=100
    )
    tags_all: list[Tag] = Field(default_factory=list, max_length=50)
    tags_any: list[Tag] = Field(default_factory=list, max_length=50)
    opt_in_statuses: list[OptInStatus] = Field(default_factory=list, max_length=4)
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ranges(self) -> TargetCriteria:
        low, high = self.min_score, self.max_score
        if low is not None and high is not None and low > high:
            raise ValueError("min_score is greater than max_score")
        if self.created_after and self.created_before and self.created_after > self.created_before:
            raise ValueError("created_after is later than created_before")
        if OptInStatus.OPTED_OUT in self.opt_in_statuses:
            raise ValueError("opted-out contacts are never targeted; remove opted_out")
        return self

    def is_empty(self) -> bool:
        return self == TargetCriteria()


class QuietHours(InputSchema):
    start: ClockTime = "08:00"
    end: ClockTime = "21:00"


class CampaignFields(InputSchema):
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    goal_type: GoalType | None = None
    target_criteria: TargetCriteria | None = None
    schedule_start: AwareDatetime | None = None
    schedule_end: AwareDatetime | None = None
    timezone: Annotated[str, AfterValidator(validate_timezone)] | None = None
    send_time_optimization: bool | None = None
    quiet_hours: QuietHours | None = None
    budget: MoneyIn | None = None
    cost: MoneyIn | None = None
    currency: Currency | None = None
    attribution_window_days: Annotated[int, Field(ge=1, le=365)] | None = Field(
        default=None,
        description="analytics: a conversion within this many days after a message of the "
        "campaign may be credited to it (default 30)",
    )
    call_flow_config: CallFlowConfig | None = Field(
        default=None,
        description="the AI agent's script for voice calls: greeting, qualification questions "
        "(budget, timeline, decision_maker, company_size), meeting prompt, closing; every "
        "field has a default, so {} is a complete flow",
    )

    @model_validator(mode="after")
    def _schedule_in_order(self) -> CampaignFields:
        if self.schedule_start and self.schedule_end and self.schedule_end <= self.schedule_start:
            raise ValueError("schedule_end must be after schedule_start")
        return self


class CampaignCreate(CampaignFields):
    name: Name
    campaign_type: CampaignType


class CampaignUpdate(CampaignFields):
    name: Name | None = None
    campaign_type: CampaignType | None = None


class Campaign(OutputSchema):
    id: uuid.UUID
    name: str
    description: str | None
    campaign_type: CampaignType
    status: CampaignStatus
    goal_type: GoalType
    target_criteria: dict[str, Any]
    schedule_start: datetime | None
    schedule_end: datetime | None
    timezone: str | None
    send_time_optimization: bool
    quiet_hours: dict[str, Any] | None
    budget: MoneyOut | None
    cost: MoneyOut
    currency: str
    call_flow_config: dict[str, Any] | None
    attribution_window_days: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class CampaignDetail(Campaign):
    message_count: int
    enrollment_counts: dict[str, int] = Field(description="enrollments per status")


# --- sequence steps -----------------------------------------------------------------------------


class Variant(InputSchema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    weight: Annotated[int, Field(ge=1, le=1000)] = 1
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    body: Annotated[str, StringConstraints(max_length=EMAIL_MAX_CHARS)] | None = None


class SendWindow(InputSchema):
    """Hours (in the contact's time zone) and weekdays (0 = Monday) a step may be sent in."""

    start: ClockTime
    end: ClockTime
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: list(range(7)), min_length=1, max_length=7
    )

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindow:
        if self.start == self.end:
            raise ValueError("a send window needs start and end to differ")
        return self


class WhatsAppTemplate(InputSchema):
    """An approved WhatsApp template (Twilio Content API): what may be sent outside the 24 hours
    after the contact's last message. Variable values may use personalisation tokens."""

    content_sid: Annotated[str, StringConstraints(pattern=r"^HX[0-9a-fA-F]{32}$")]
    variables: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^\w+$")],
        Annotated[str, StringConstraints(max_length=1000)],
    ] = Field(default_factory=dict, max_length=20)


class StepOptions(InputSchema):
    """Channel-specific step settings, stored together."""

    whatsapp_template: WhatsAppTemplate | None = None
    voicemail_message: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        default=None, description="said after the beep when a machine answers (default: body)"
    )
    voicemail_audio_url: HttpUrl | None = Field(
        default=None, description="an audio file played after the beep instead"
    )


class StepFields(StepOptions):
    delay_value: Annotated[int, Field(ge=0, le=10_000)] | None = None
    delay_unit: DelayUnit | None = None
    subject: Annotated[str, StringConstraints(max_length=500)] | None = None
    body: Annotated[str, StringConstraints(max_length=EMAIL_MAX_CHARS)] | None = None
    variants: list[Variant] | None = Field(default=None, max_length=10)
    send_window: SendWindow | None = None

    def options_given(self) -> dict[str, Any]:
        """The channel options this request sets (JSON-ready), by name."""
        given = self.model_fields_set & set(StepOptions.model_fields)
        return self.model_dump(mode="json", include=given)

    @model_validator(mode="after")
    def _variant_names_unique(self) -> StepFields:
        names = [v.name for v in self.variants or []]
        if len(names) != len(set(names)):
            raise ValueError("variant names must be unique within a step")
        return self


class StepCreate(StepFields):
    sequence_order: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None, description="position; later steps move down. Default: after the last"
    )
    message_type: MessageType | None = Field(
        default=None, description="the channel; defaults to the campaign's own"
    )


class StepUpdate(StepFields):
    message_type: MessageType | None = None


class Step(OutputSchema):
    id: uuid.UUID
    campaign_id: uuid.UUID
    sequence_order: int
    message_type: MessageType
    delay_value: int
    delay_unit: DelayUnit
    subject: str | None
    body: str
    variants: list[dict[str, Any]]
    send_window: dict[str, Any] | None
    whatsapp_template: dict[str, Any] | None = None
    voicemail_message: str | None = None
    voicemail_audio_url: str | None = None
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _unpack_options(cls, data: Any) -> Any:
        """Steps keep channel options in one JSON column; the API shows them as fields."""
        options = getattr(data, "options", None)
        if options is None or isinstance(data, dict):
            return data
        fields = {name: getattr(data, name) for name in cls.model_fields if hasattr(data, name)}
        return {**fields, **{k: v for k, v in options.items() if k in cls.model_fields}}


# --- targeting and enrollment -------------------------------------------------------------------


class PreviewRequest(InputSchema):
    target_criteria: TargetCriteria | None = None
    sample_size: Annotated[int, Field(ge=0, le=100)] = 10


class Preview(BaseModel):
    total: int
    sample: list[Contact]


class EnrollRequest(InputSchema):
    contact_ids: ContactIds


class Skipped(BaseModel):
    contact_id: uuid.UUID
    reason: str


class EnrollResult(BaseModel):
    enrolled: int
    skipped: list[Skipped]


class EnrollFromCriteriaRequest(InputSchema):
    target_criteria: TargetCriteria | None = None


class EnrollFromCriteriaResult(BaseModel):
    enrolled: int
    skipped: int = Field(description="contacts matching the criteria that were not enrolled")


class UnenrollResult(BaseModel):
    updated: int
    not_found: list[uuid.UUID] = Field(description="ids with no active or paused enrollment")


class ContactBrief(OutputSchema):
    id: uuid.UUID
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None


class Enrollment(OutputSchema):
    id: uuid.UUID
    contact: ContactBrief
    lead_id: uuid.UUID | None
    status: EnrollmentStatus
    current_step: int
    next_step_at: datetime | None
    variant_assignments: dict[str, Any]
    enrolled_at: datetime
    completed_at: datetime | None
    exited_at: datetime | None
    exit_reason: str | None


# --- test send and summary ----------------------------------------------------------------------


class TestSendRequest(InputSchema):
    message_id: uuid.UUID
    to: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    contact_id: uuid.UUID | None = None
    variant: Annotated[str, StringConstraints(max_length=100)] | None = None


class TestSendResult(BaseModel):
    channel: MessageType
    to: str
    subject: str | None
    body: str
    html_body: str | None
    provider: str
    provider_message_id: str


class Summary(BaseModel):
    campaign: Campaign
    steps: list[Step]
    enrollment_counts: dict[str, int]
    metrics: dict[str, int] = Field(description="activity counts by type")
    total_cost: MoneyOut
    budget_remaining: MoneyOut | None
