"""Wire shapes of scores, qualification results and the scoring configuration."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from agentconnect.kit.schemas import InputSchema, OutputSchema
from agentconnect.models.enums import LeadStage, QualificationStatus, ScoreType


class ScoreDetail(BaseModel):
    score: int
    factors: list[dict[str, Any]] = Field(description="name, points and why, for every point")


class Qualification(BaseModel):
    lead_id: uuid.UUID
    scores: dict[ScoreType, ScoreDetail]
    combined: ScoreDetail | None
    weights: dict[ScoreType, float]
    qualification_status: QualificationStatus | None
    stage: LeadStage
    reason: str | None


class ManualScore(InputSchema):
    score: Annotated[int, Field(ge=0, le=100)]
    reasoning: Annotated[str, StringConstraints(min_length=3, max_length=2000)]


class BulkQualifyRequest(InputSchema):
    lead_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=10_000)
    all: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> BulkQualifyRequest:
        if bool(self.lead_ids) == self.all:
            raise ValueError("give either lead_ids or all: true")
        return self


class BulkQualifyResult(BaseModel):
    scored: int
    qualified: int
    disqualified: int
    pending: int
    promoted: int = Field(description="moved from lead to mql by this run")
    not_found: list[uuid.UUID]


class StoredScore(OutputSchema):
    id: uuid.UUID
    lead_id: uuid.UUID
    score_type: ScoreType
    score: int
    factors: list[dict[str, Any]]
    reasoning: str | None
    created_by: uuid.UUID | None
    computed_at: datetime


class LeadScores(BaseModel):
    lead_id: uuid.UUID
    scores: dict[ScoreType, StoredScore] = Field(description="the newest score of each type")
    weights: dict[ScoreType, float]
    combined: int | None
