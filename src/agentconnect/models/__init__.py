"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from agentconnect.models.analytics import (
    AnalyticsCampaignContact,
    AnalyticsCampaignStat,
    AnalyticsStepContact,
    AnalyticsStepStat,
    AnalyticsTimeline,
)
from agentconnect.models.base import Base
from agentconnect.models.campaigns import (
    Campaign,
    CampaignActivity,
    CampaignContact,
    CampaignMessage,
    ConsoleMessage,
)
from agentconnect.models.contacts import Contact
from agentconnect.models.delivery import (
    ChannelSetting,
    Delivery,
    DeliveryStatus,
    InboundEvent,
    Suppression,
    SuppressionReason,
)
from agentconnect.models.enums import (
    OPEN_LEAD_STAGES,
    ActivityType,
    CampaignStatus,
    CampaignType,
    ConversationChannel,
    DelayUnit,
    EnrollmentStatus,
    GoalType,
    LeadStage,
    LifecycleStage,
    MessageType,
    OptInStatus,
    QualificationStatus,
    Role,
    ScoreType,
    StageChangeSource,
)
from agentconnect.models.leads import AssignmentCursor, Lead, LeadStageChange
from agentconnect.models.scoring import Conversation, IntentMatch, LeadScore, ScoringConfig
from agentconnect.models.tenancy import ApiKey, Company, User

__all__ = [
    "OPEN_LEAD_STAGES",
    "ActivityType",
    "AnalyticsCampaignContact",
    "AnalyticsCampaignStat",
    "AnalyticsStepContact",
    "AnalyticsStepStat",
    "AnalyticsTimeline",
    "ApiKey",
    "AssignmentCursor",
    "Base",
    "Campaign",
    "CampaignActivity",
    "CampaignContact",
    "CampaignMessage",
    "CampaignStatus",
    "CampaignType",
    "ChannelSetting",
    "Company",
    "ConsoleMessage",
    "Contact",
    "Conversation",
    "ConversationChannel",
    "DelayUnit",
    "Delivery",
    "DeliveryStatus",
    "EnrollmentStatus",
    "GoalType",
    "InboundEvent",
    "IntentMatch",
    "Lead",
    "LeadScore",
    "LeadStage",
    "LeadStageChange",
    "LifecycleStage",
    "MessageType",
    "OptInStatus",
    "QualificationStatus",
    "Role",
    "ScoreType",
    "ScoringConfig",
    "StageChangeSource",
    "Suppression",
    "SuppressionReason",
    "User",
]
