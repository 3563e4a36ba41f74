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


class CampaignType(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"
    MULTI_CHANNEL = "multi_channel"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class GoalType(StrEnum):
    NONE = "none"
    REPLY = "reply"
    CLICK = "click"
    MEETING_SCHEDULED = "meeting_scheduled"
    FORM_SUBMITTED = "form_submitted"
    DEAL_WON = "deal_won"


class MessageType(StrEnum):
    """The channel of a sequence step."""

    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    VOICE = "voice"


class DelayUnit(StrEnum):
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    GOAL_ACHIEVED = "goal_achieved"
    UNENROLLED = "unenrolled"
    OPTED_OUT = "opted_out"
    FAILED = "failed"


class ActivityType(StrEnum):
    ENROLLED = "enrolled"
    UNENROLLED = "unenrolled"
    MESSAGE_QUEUED = "message_queued"
    MESSAGE_FAILED = "message_failed"
    EMAIL_SENT = "email_sent"
    EMAIL_DELIVERED = "email_delivered"
    EMAIL_OPENED = "email_opened"
    EMAIL_CLICKED = "email_clicked"
    EMAIL_REPLIED = "email_replied"
    EMAIL_BOUNCED = "email_bounced"
    EMAIL_COMPLAINED = "email_complained"
    EMAIL_UNSUBSCRIBED = "email_unsubscribed"
    SMS_SENT = "sms_sent"
    SMS_DELIVERED = "sms_delivered"
    SMS_FAILED = "sms_failed"
    SMS_REPLIED = "sms_replied"
    SMS_OPTED_OUT = "sms_opted_out"
    WHATSAPP_SENT = "whatsapp_sent"
    WHATSAPP_DELIVERED = "whatsapp_delivered"
    WHATSAPP_READ = "whatsapp_read"
    WHATSAPP_REPLIED = "whatsapp_replied"
    WHATSAPP_FAILED = "whatsapp_failed"
    CALL_INITIATED = "call_initiated"
    CALL_ANSWERED = "call_answered"
    CALL_COMPLETED = "call_completed"
    CALL_NO_ANSWER = "call_no_answer"
    CALL_BUSY = "call_busy"
    CALL_FAILED = "call_failed"
    VOICEMAIL_LEFT = "voicemail_left"
    LINK_CLICKED = "link_clicked"
    FORM_SUBMITTED = "form_submitted"
    PAGE_VIEWED = "page_viewed"
    MEETING_SCHEDULED = "meeting_scheduled"
    DEAL_WON = "deal_won"
    DEAL_LOST = "deal_lost"
    GOAL_ACHIEVED = "goal_achieved"
    STEP_SKIPPED = "step_skipped"


class ScoreType(StrEnum):
    AI_INTENT = "ai_intent"
    ENGAGEMENT = "engagement"
    DEMOGRAPHIC = "demographic"
    BEHAVIORAL = "behavioral"
    WORKFLOW = "workflow"
    MANUAL = "manual"
    COMBINED = "combined"


class ConversationChannel(StrEnum):
    CALL = "call"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    CHAT = "chat"
