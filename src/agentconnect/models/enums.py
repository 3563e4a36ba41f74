"""Every enum of the API contract, with its wire values."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"

    @property
    def rank(self) -> int:
        return {"agent": 1, "manager": 2, "admin": 3}[self.value]


class LifecycleStage(StrEnum):
    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    EVANGELIST = "evangelist"
    OTHER = "other"


class OptInStatus(StrEnum):
    UNKNOWN = "unknown"
    PENDING = "pending"
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


class LeadStage(StrEnum):
    LEAD = "lead"
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    LOST = "lost"

    @property
    def is_closed(self) -> bool:
        return self in (LeadStage.CUSTOMER, LeadStage.LOST)


OPEN_LEAD_STAGES = (LeadStage.LEAD, LeadStage.MQL, LeadStage.SQL, LeadStage.OPPORTUNITY)


class QualificationStatus(StrEnum):
    PENDING = "pending"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"


class StageChangeSource(StrEnum):
    MANUAL = "manual"
    BULK = "bulk"
    SCORING = "scoring"
    AUTOMATION = "automation"
