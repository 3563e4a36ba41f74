"""One lead's scores, combined score and decision, from its facts (no I/O).

The scores come in two parts: the profile (what the contact said and is, and a person's score)
and the activity scores. Bulk qualification computes the profile part while the server is
still tallying the activity log, then the rest.
"""

from __future__ import annotations

import uuid
from typing import NamedTuple

from agentconnect.models import LeadStage, ScoreType
from agentconnect.scoring.combiner import combine
from agentconnect.scoring.config import ScoringConfig
from agentconnect.scoring.facts import LeadFacts, Scored
from agentconnect.scoring.rules import Decision, decide
from agentconnect.scoring.scorers import ai_intent, behavioral, demographic, engagement, workflow

# Members as module constants: looking one up on the enum class costs more, per lead and type.
AI_INTENT, ENGAGEMENT, DEMOGRAPHIC = (
    ScoreType.AI_INTENT,
    ScoreType.ENGAGEMENT,
    ScoreType.DEMOGRAPHIC,
)
BEHAVIORAL, WORKFLOW, MANUAL = ScoreType.BEHAVIORAL, ScoreType.WORKFLOW, ScoreType.MANUAL
MQL = LeadStage.MQL

Scores = dict[ScoreType, Scored]


class Outcome(NamedTuple):
    lead_id: uuid.UUID
    scores: Scores  # in the order of ScoreType, as the API shows them
    combined: Scored | None
    decision: Decision | None
    stage_after: LeadStage


def score_profile(facts: LeadFacts, config: ScoringConfig) -> Scores:
    """The scores that need no activity: AI intent, demographic, workflow, manual."""
    scores: Scores = {}
    if (scored := ai_intent.score(facts)) is not None:
        scores[AI_INTENT] = scored
    if (scored := demographic.score(facts, config.demographic_rules)) is not None:
        scores[DEMOGRAPHIC] = scored
    if (scored := workflow.score(facts)) is not None:
        scores[WORKFLOW] = scored
    if facts.manual is not None:
        scores[MANUAL] = facts.manual
    return scores


def score_activity(facts: LeadFacts) -> Scores:
    """The scores from the activity log: engagement and behavioral."""
    scores: Scores = {}
    if (scored := engagement.score(facts)) is not None:
        scores[ENGAGEMENT] = scored
    if (scored := behavioral.score(facts)) is not None:
        scores[BEHAVIORAL] = scored
    return scores


def conclude(facts: LeadFacts, profile: Scores, activity: Scores, config: ScoringConfig) -> Outcome:
    """Both parts together, combined, and what the rules decide."""
    scores: Scores = {}
    for part, score_type in _ORDER:
        scored = (profile if part else activity).get(score_type)
        if scored is not None:
            scores[score_type] = scored
    combined = combine(scores, config)
    if combined is None:
        return Outcome(facts.lead_id, scores, None, None, facts.stage)
    # only score types that count (weight above 0) are evidence for disqualifying
    weights = config.weight_table
    counted = sum(1 for t in scores if weights[t] > 0)
    decision = decide(combined.score, counted, facts.stage, config)
    stage_after = MQL if decision.promote_to_mql else facts.stage
    return Outcome(facts.lead_id, scores, combined, decision, stage_after)


_PROFILE_TYPES = (AI_INTENT, DEMOGRAPHIC, WORKFLOW, MANUAL)
# (from the profile part?, type) in the order of ScoreType
_ORDER = tuple(
    (t in _PROFILE_TYPES, t) for t in ScoreType if t in (*_PROFILE_TYPES, ENGAGEMENT, BEHAVIORAL)
)
