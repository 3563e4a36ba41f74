"""Wire shapes of the campaign analytics endpoints."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

FunnelStageName = Literal[
    "enrolled", "sent", "delivered", "opened", "clicked", "replied", "converted"
]


class FunnelStage(BaseModel):
    stage: FunnelStageName
    contacts: int = Field(description="distinct contacts that reached this stage")
    rate_from_previous: float | None = Field(
        description="contacts / the previous stage's contacts; null when that is zero"
    )
    rate_from_start: float | None = Field(
        description="contacts / enrolled contacts; null when none are enrolled"
    )


class Funnel(BaseModel):
    campaign_id: uuid.UUID
    stages: list[FunnelStage]
    attribution_window_days: int = Field(
        description="converted: the contact's lead reached `customer` within this many days "
        "after the campaign's first message to the contact"
    )
