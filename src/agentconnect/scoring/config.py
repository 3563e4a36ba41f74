"""A company's scoring configuration: weights, thresholds, rules and intent keywords.

Stored as one JSONB document per company; every absent key takes the default below, so a
company that never touched its configuration scores with sensible rules.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cached_property
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from agentconnect.kit.schemas import InputSchema
from agentconnect.models.enums import ScoreType

Weight = Annotated[float, Field(ge=0, le=10)]
Points = Annotated[int, Field(ge=0, le=100)]
Phrase = Annotated[str, StringConstraints(min_length=2, max_length=100)]

DEFAULT_WEIGHTS: dict[ScoreType, float] = {
    ScoreType.AI_INTENT: 0.25,
    ScoreType.ENGAGEMENT: 0.25,
    ScoreType.DEMOGRAPHIC: 0.15,
    ScoreType.WORKFLOW: 0.20,
    ScoreType.MANUAL: 0.15,
    ScoreType.BEHAVIORAL: 0.0,
}


class DemographicRules(InputSchema):
    """Points for what a contact is: company size band, industry, and words in the job title."""

    company_size: dict[str, Points] = Field(
        default_factory=lambda: {
            "1-10": 5, "11-50": 15, "51-200": 25, "201-1000": 35, "1000+": 40,
        }
    )  # fmt: skip
    industry: dict[str, Points] = Field(
        default_factory=lambda: {
            "software": 30, "finance": 25, "healthcare": 20, "insurance": 20, "logistics": 15,
            "retail": 10, "energy": 15,
        }
    )  # fmt: skip
    job_title: dict[str, Points] = Field(
        default_factory=lambda: {
            "ceo": 30, "founder": 30, "owner": 30, "president": 30, "cto": 30, "vp": 25,
            "head": 25, "director": 25, "manager": 15, "lead": 15, "engineer": 5, "analyst": 5,
        }
    )  # fmt: skip
    other_industry: Points = 5

    @cached_property
    def _titles(self) -> dict[str, tuple[int, str] | None]:
        """Job title -> its best rule, found once per title: titles repeat, and a bulk run
        looks up every lead's. (A configuration is parsed per use and never changed after;
        a cached_property lives in the instance, outside the fields and their dump.)"""
        return {}

    def title_rule(self, title: str) -> tuple[int, str] | None:
        """The job title rule worth most among the title's words (the word, on a tie)."""
        titles = self._titles
        if title in titles:
            return titles[title]
        words = set(re.findall(r"[a-z]+", title.lower()))
        best = max(((p, word) for word, p in self.job_title.items() if word in words), default=None)
        titles[title] = best
        return best


class IntentKeywords(InputSchema):
    """Extra phrases per intent, added to the built-in ones (see scoring/intent.py)."""

    budget_confirmed: list[Phrase] = Field(default_factory=list, max_length=100)
    timeline_defined: list[Phrase] = Field(default_factory=list, max_length=100)
    pricing_interest: list[Phrase] = Field(default_factory=list, max_length=100)
    demo_request: list[Phrase] = Field(default_factory=list, max_length=100)
    decision_maker: list[Phrase] = Field(default_factory=list, max_length=100)
    objection_budget: list[Phrase] = Field(default_factory=list, max_length=100)
    objection_timing: list[Phrase] = Field(default_factory=list, max_length=100)
    objection_competitor: list[Phrase] = Field(default_factory=list, max_length=100)
    not_interested: list[Phrase] = Field(default_factory=list, max_length=100)


class ScoringConfig(InputSchema):
    weights: dict[ScoreType, Weight] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    qualify_threshold: Points = 70
    mql_threshold: Points = 75
    disqualify_threshold: Points = 40
    demographic_rules: DemographicRules = Field(default_factory=DemographicRules)
    intent_keywords: IntentKeywords = Field(default_factory=IntentKeywords)
    high_value_min: Annotated[Decimal, Field(ge=0, le=Decimal("999999999999"))] = Decimal(10000)
    engagement_half_life_days: Annotated[float, Field(gt=0, le=3650)] = 30.0
    intent_half_life_days: Annotated[float, Field(gt=0, le=3650)] = 60.0

    @model_validator(mode="after")
    def _coherent(self) -> ScoringConfig:
        if ScoreType.COMBINED in self.weights:
            raise ValueError("weights: combined is the result, it has no weight")
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError("weights: at least one score type needs a weight above 0")
        if self.disqualify_threshold >= self.qualify_threshold:
            raise ValueError("disqualify_threshold must be below qualify_threshold")
        if self.mql_threshold < self.qualify_threshold:
            raise ValueError("mql_threshold must be at least qualify_threshold")
        return self

    def weight(self, score_type: ScoreType) -> float:
        return self.weights.get(score_type, DEFAULT_WEIGHTS.get(score_type, 0.0))

    @cached_property
    def weight_table(self) -> dict[ScoreType, float]:
        """Every score type's weight, defaults filled in, made once per configuration (the
        combiner asks for it once per lead)."""
        return {t: self.weight(t) for t in ScoreType}
