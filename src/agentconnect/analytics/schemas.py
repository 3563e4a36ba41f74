"""Wire shapes of the campaign analytics endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
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
        "after a message of the campaign, the last it received (last touch)"
    )


AttributionModel = Literal["last_touch", "first_touch"]


class Totals(BaseModel):
    """Distinct contacts, except `*_total` (every open or click)."""

    enrolled: int | None = None
    sent: int
    delivered: int
    opened: int
    opens_total: int
    clicked: int
    clicks_total: int
    replied: int
    bounced: int
    unsubscribed: int
    failed: int


class Rates(BaseModel):
    delivery_rate: float | None = Field(description="delivered / sent")
    open_rate: float | None = Field(description="opened / delivered")
    click_rate: float | None = Field(description="clicked / delivered")
    click_to_open_rate: float | None = Field(description="clicked / opened")
    reply_rate: float | None = Field(description="replied / delivered")
    bounce_rate: float | None = Field(description="bounced / sent")
    unsubscribe_rate: float | None = Field(description="unsubscribed / delivered")
    failure_rate: float | None = Field(description="failed / sent")


class ArmOut(BaseModel):
    name: str
    successes: int
    trials: int
    rate: float | None
    probability_best: float | None
    credible_interval: tuple[float, float] | None


class AbVerdict(BaseModel):
    metric: str
    method: str
    prior: str
    winner: str | None
    reason: str
    threshold: float
    min_trials: int
    arms: list[ArmOut]


class VariantFigures(BaseModel):
    name: str
    totals: Totals
    rates: Rates


class StepFigures(BaseModel):
    step_id: uuid.UUID | None = Field(description="null: activities of a step since removed")
    sequence_order: int | None
    message_type: str | None
    totals: Totals
    rates: Rates
    variants: list[VariantFigures]
    ab_test: list[AbVerdict] = Field(
        description="with two or more variants: per metric (opened, clicked, replied over "
        "delivered), each variant's probability of being best and a winner when the evidence "
        "is enough"
    )


class Performance(BaseModel):
    campaign_id: uuid.UUID
    totals: Totals
    converted: int
    conversion_rate: float | None = Field(description="converted / enrolled")
    rates: Rates
    revenue: str = Field(description="deal value of the attributed conversions (decimal)")
    cost: str
    currency: str
    roi: float | None = Field(description="(revenue - cost) / cost; null when cost is zero")
    cost_per_conversion: str | None
    response_time_median_seconds: float | None = Field(
        description="median over the contacts who replied: from the campaign's first message to "
        "them to their first reply; null without replies"
    )
    attribution_model: AttributionModel
    attribution_window_days: int
    by_channel: dict[str, dict[str, dict[str, int]]] = Field(
        description="per channel, per activity type: events and distinct contacts"
    )
    by_step: list[StepFigures]


class CompareRequest(BaseModel):
    model_config = {"extra": "forbid"}

    campaign_ids: list[uuid.UUID] = Field(min_length=1, max_length=20)
    attribution: AttributionModel = "last_touch"


class Comparison(BaseModel):
    campaigns: list[Performance]


SeriesMetric = Literal["sent", "delivered", "opened", "clicked", "replied", "converted"]
SeriesInterval = Literal["hour", "day", "week"]


class SeriesPoint(BaseModel):
    bucket: datetime = Field(description="the start of the hour, day or week, in the zone")
    value: int


class TimeSeries(BaseModel):
    campaign_id: uuid.UUID
    metric: SeriesMetric
    interval: SeriesInterval
    timezone: str
    points: list[SeriesPoint]
