"""What the scorers read about one lead, gathered for many leads at once by the repository.

Bulk qualification builds hundreds of thousands of these per run, so they are tuples and
slotted classes: a frozen dataclass costs three times as much to create.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agentconnect.models.enums import LeadStage, QualificationStatus


class Factor(NamedTuple):
    """One reason for points: a name, the points it gives (negative takes away), and why."""

    name: str
    points: float
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "points": round(self.points, 2), "detail": self.detail}


class Scored(NamedTuple):
    score: int
    factors: list[Factor]


@dataclass(slots=True)
class Tally:
    """Events of one kind: how many, and their weight after decay by age."""

    count: int = 0
    weight: float = 0.0


class IntentEvidence(NamedTuple):
    intent: str
    matches: int
    weight: float  # sum of confidence x decay over the matches
    best_confidence: float
    evidence: str


@dataclass(slots=True)
class LeadFacts:
    lead_id: uuid.UUID
    contact_id: uuid.UUID
    stage: LeadStage
    qualification_data: dict[str, Any]
    company_size: str | None = None
    industry: str | None = None
    job_title: str | None = None
    # activity type -> tally, for the engagement and behavioral scorers
    activities: dict[str, Tally] = field(default_factory=dict)
    messages_received: int = 0  # messages sent to the contact: engagement has a base
    intents: list[IntentEvidence] = field(default_factory=list)
    manual: Scored | None = None
    # what the lead holds now: a lead whose score and status stay the same is not updated
    score: int = 0
    qualification_status: QualificationStatus = QualificationStatus.PENDING
