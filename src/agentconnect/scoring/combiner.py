"""The combined score: the weighted mean over the score types that have a score."""

from __future__ import annotations

from collections.abc import Mapping

from agentconnect.models.enums import ScoreType
from agentconnect.scoring.config import ScoringConfig
from agentconnect.scoring.facts import Factor, Scored


def combine(scores: Mapping[ScoreType, Scored], config: ScoringConfig) -> Scored | None:
    weighted = [(t, s, config.weight(t)) for t, s in scores.items() if t != ScoreType.COMBINED]
    weighted = [(t, s, w) for t, s, w in weighted if w > 0]
    total_weight = sum(w for _, _, w in weighted)
    if total_weight == 0:
        return None
    factors = [
        Factor(t.value, s.score * w / total_weight, f"{s.score} x weight {w:g} / {total_weight:g}")
        for t, s, w in sorted(weighted, key=lambda item: item[0].value)
    ]
    return Scored(round(sum(f.points for f in factors)), factors)
