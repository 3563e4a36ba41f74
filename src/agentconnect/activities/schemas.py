"""Wire shape of the activity log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from agentconnect.kit.schemas import OutputSchema
from agentconnect.models.enums import ActivityType


class Activity(OutputSchema):
    id: uuid.UUID
    activity_type: ActivityType
    occurred_at: datetime
    contact_id: uuid.UUID
    campaign_id: uuid.UUID | None
    lead_id: uuid.UUID | None
    message_id: uuid.UUID | None
    variant: str | None
    external_id: str | None
    metadata: dict[str, Any] = Field(validation_alias="details")
