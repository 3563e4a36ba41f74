"""The combined score: the weighted mean over the score types that have a score."""

from __future__ import annotations

from collections.abc import Mapping

from agentconnect.models.enums import ScoreType
from agentconnect.scoring.config import ScoringConfig
from agentconnect.scoring.facts import Factor, Scored

_NAMES = {t: t.value for t in ScoreType}  # (an enum's .value is a slow descriptor)
_SHORT: dict[float, str] = {}  # weight -> f"{weight:g}": a handful of values, formatted once


def _short(value: float) -> str:
    text = _SHORT.get(value)
    if text is None:
        if len(_SHORT) > 10_000:  # many companies' weights over a long life: start again
            _SHORT.clear()
        text = _SHORT[value] = f"{value:g}"
    return text


def combine(scores: Mapping[ScoreType, Scored], config: ScoringConfig) -> Scored | None:
    weights = config.weight_table
    weighted = []
    total_weight: float = 0
    for score_type, scored in scores.items():
        if score_type == ScoreType.COMBINED:
            continue
        weight = weights[score_type]
        if weight > 0:
            weighted.append((_NAMES[score_type], scored.score, weight))
            total_weight += weight
    if total_weight == 0:
        return None
    weighted.sort()
    of_total = f" / {_short(total_weight)}"
    factors = []
    total: float = 0
    for name, score, weight in weighted:
        points = score * weight / total_weight
        total += points
        factors.append(Factor(name, points, f"{score} x weight {_short(weight)}{of_total}"))
    return Scored(round(total), factors)
