"""Qualification rules: what a combined score means for a lead's status and stage."""

from __future__ import annotations

from typing import NamedTuple

from agentconnect.models.enums import LeadStage, QualificationStatus
from agentconnect.scoring.config import ScoringConfig

# Disqualifying needs at least this many score types: one bad signal is not enough evidence.
MIN_TYPES_TO_DISQUALIFY = 2


class Decision(NamedTuple):
    status: QualificationStatus
    promote_to_mql: bool
    reason: str


def decide(combined: int, types_scored: int, stage: LeadStage, config: ScoringConfig) -> Decision:
    promote = combined >= config.mql_threshold and stage == LeadStage.LEAD
    if combined >= config.qualify_threshold:
        reason = f"combined {combined} >= qualify threshold {config.qualify_threshold}"
        if promote:
            reason += f"; >= MQL threshold {config.mql_threshold}, promoted from lead to mql"
        return Decision(QualificationStatus.QUALIFIED, promote, reason)
    if combined < config.disqualify_threshold and types_scored >= MIN_TYPES_TO_DISQUALIFY:
        return Decision(
            QualificationStatus.DISQUALIFIED,
            False,
            f"combined {combined} < disqualify threshold {config.disqualify_threshold}"
            f" with {types_scored} score types",
        )
    return Decision(QualificationStatus.PENDING, False, f"combined {combined}: not decided yet")
