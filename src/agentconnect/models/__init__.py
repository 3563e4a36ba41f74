"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from agentconnect.models.base import Base
from agentconnect.models.contacts import Contact
from agentconnect.models.enums import (
    OPEN_LEAD_STAGES,
    LeadStage,
    LifecycleStage,
    OptInStatus,
    QualificationStatus,
    Role,
    StageChangeSource,
)
from agentconnect.models.leads import AssignmentCursor, Lead, LeadStageChange
from agentconnect.models.tenancy import ApiKey, Company, User

__all__ = [
    "OPEN_LEAD_STAGES",
    "ApiKey",
    "AssignmentCursor",
    "Base",
    "Company",
    "Contact",
    "Lead",
    "LeadStage",
    "LeadStageChange",
    "LifecycleStage",
    "OptInStatus",
    "QualificationStatus",
    "Role",
    "StageChangeSource",
    "User",
]
