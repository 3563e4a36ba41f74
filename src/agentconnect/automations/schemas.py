"""Automation rules as the API takes and shows them: a trigger, conditions, actions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from agentconnect.contacts.schemas import ContactUpdate
from agentconnect.kit.schemas import InputSchema, OutputSchema
from agentconnect.leads.schemas import LeadUpdate
from agentconnect.models import LeadStage

TriggerType = Literal[
    "lead_stage_changed",
    "lead_qualified",
    "lead_disqualified",
    "score_crossed",
    "activity_recorded",
    "contact_created",
    "enrollment_completed",
    "goal_achieved",
]
ActivityKind = Literal["reply", "click", "meeting_scheduled", "form_submitted", "call_completed"]
Channel = Literal["email", "sms", "whatsapp", "voice"]

# What each trigger listens to in the event outbox.
TRIGGER_EVENTS: dict[str, str] = {
    "lead_stage_changed": "lead.stage_changed",
    "lead_qualified": "lead.qualified",
    "lead_disqualified": "lead.disqualified",
    "score_crossed": "lead.score_changed",
    "contact_created": "contact.created",
    "enrollment_completed": "enrollment.completed",
    "goal_achieved": "enrollment.goal_achieved",
}
ACTIVITY_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reply": ("message.replied", ("email_replied", "sms_replied", "whatsapp_replied")),
    "click": ("activity.recorded", ("email_clicked", "link_clicked")),
    "meeting_scheduled": ("meeting.scheduled", ("meeting_scheduled",)),
    "form_submitted": ("activity.recorded", ("form_submitted",)),
    "call_completed": ("activity.recorded", ("call_completed",)),
}
LEAD_FIELDS = tuple(LeadUpdate.model_fields)
CONTACT_FIELDS = tuple(ContactUpdate.model_fields)


class Trigger(InputSchema):
    type: TriggerType
    to_stage: LeadStage | None = Field(default=None, description="lead_stage_changed: only to")
    from_stage: LeadStage | None = Field(default=None, description="lead_stage_changed: from")
    threshold: int | None = Field(default=None, ge=0, le=100, description="score_crossed")
    direction: Literal["up", "down"] = Field(default="up", description="score_crossed")
    activity: ActivityKind | None = Field(default=None, description="activity_recorded")
    campaign_id: uuid.UUID | None = Field(
        default=None, description="enrollment_completed / goal_achieved: only this campaign"
    )

    @model_validator(mode="after")
    def _fits(self) -> Trigger:
        if self.type == "score_crossed" and self.threshold is None:
            raise ValueError("score_crossed needs a threshold (0-100)")
        if self.type == "activity_recorded" and self.activity is None:
            raise ValueError("activity_recorded needs an activity: " + ", ".join(ACTIVITY_EVENTS))
        if self.type != "lead_stage_changed" and (self.to_stage or self.from_stage):
            raise ValueError("to_stage and from_stage belong to lead_stage_changed")
        if self.type != "score_crossed" and self.threshold is not None:
            raise ValueError("threshold belongs to score_crossed")
        if self.type != "activity_recorded" and self.activity is not None:
            raise ValueError("activity belongs to activity_recorded")
        if self.campaign_id and self.type not in ("enrollment_completed", "goal_achieved"):
            raise ValueError("campaign_id belongs to enrollment_completed and goal_achieved")
        return self

    @property
    def event_type(self) -> str:
        if self.type == "activity_recorded":
            assert self.activity is not None
            return ACTIVITY_EVENTS[self.activity][0]
        return TRIGGER_EVENTS[self.type]


class Condition(InputSchema):
    type: Literal["stage_in", "score_at_least", "source_in", "has_tag", "channel_is"]
    stages: list[LeadStage] | None = Field(default=None, min_length=1)
    score: int | None = Field(default=None, ge=0, le=100)
    sources: list[str] | None = Field(default=None, min_length=1, max_length=100)
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    channel: Channel | None = None

    @model_validator(mode="after")
    def _fits(self) -> Condition:
        needed = {
            "stage_in": "stages",
            "score_at_least": "score",
            "source_in": "sources",
            "has_tag": "tag",
            "channel_is": "channel",
        }[self.type]
        if getattr(self, needed) is None:
            raise ValueError(f"{self.type} needs {needed}")
        extra = [
            f
            for f in ("stages", "score", "sources", "tag", "channel")
            if f != needed and getattr(self, f) is not None
        ]
        if extra:
            raise ValueError(f"{self.type} takes only {needed}, not {', '.join(extra)}")
        return self


ActionType = Literal[
    "set_stage",
    "assign_round_robin",
    "enroll",
    "unenroll",
    "add_tag",
    "remove_tag",
    "set_field",
    "create_lead",
    "send_webhook",
]

_ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "set_stage": ("stage",),
    "assign_round_robin": ("user_ids",),
    "enroll": ("campaign_id",),
    "unenroll": ("campaign_id",),
    "add_tag": ("tag",),
    "remove_tag": ("tag",),
    "set_field": ("target", "field"),
    "create_lead": (),
    "send_webhook": (),
}
_OPTIONAL = {"set_stage": ("reason",), "set_field": ("value",), "create_lead": ("title",),
             "send_webhook": ("label",)}  # fmt: skip


class Action(InputSchema):
    type: ActionType
    stage: LeadStage | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    user_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=100)
    campaign_id: uuid.UUID | None = None
    tag: str | None = Field(default=None, min_length=1, max_length=100)
    target: Literal["lead", "contact"] | None = None
    field: str | None = Field(default=None, min_length=1, max_length=100)
    value: Any = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    label: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _fits(self) -> Action:
        needed = _ACTION_FIELDS[self.type]
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.type} needs {', '.join(missing)}")
        allowed = {"type", *needed, *_OPTIONAL.get(self.type, ())}
        extra = [f for f in self.model_fields_set if f not in allowed]
        if extra:
            raise ValueError(f"{self.type} does not take {', '.join(sorted(extra))}")
        if self.type == "set_stage" and self.stage == LeadStage.LOST and not self.reason:
            raise ValueError("moving a lead to lost needs a reason")
        if self.type == "set_field":
            schema = LeadUpdate if self.target == "lead" else ContactUpdate
            fields = LEAD_FIELDS if self.target == "lead" else CONTACT_FIELDS
            if self.field not in fields:
                known = ", ".join(fields)
                raise ValueError(f"{self.target} has no settable field {self.field!r}; {known}")
            schema.model_validate({self.field: self.value})  # the value must be valid, too
        return self


class RuleFields(InputSchema):
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    trigger: Trigger
    conditions: list[Condition] = Field(default_factory=list, max_length=20)
    actions: list[Action] = Field(min_length=1, max_length=10)


class RuleCreate(RuleFields):
    pass


class RuleUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    trigger: Trigger | None = None
    conditions: list[Condition] | None = Field(default=None, max_length=20)
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=10)


class Rule(OutputSchema):
    id: uuid.UUID
    name: str
    enabled: bool
    trigger: dict[str, Any]
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class Run(OutputSchema):
    id: uuid.UUID
    rule_id: uuid.UUID
    event_id: uuid.UUID | None
    event_type: str
    outcome: Literal["succeeded", "failed", "loop_stopped"]
    depth: int
    actions_done: int
    detail: str | None
    created_at: datetime
