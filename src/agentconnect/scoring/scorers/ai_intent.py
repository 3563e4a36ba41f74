"""AI intent: what the contact said in conversations, strongest and newest counting most."""

from __future__ import annotations

from agentconnect.scoring.facts import Factor, LeadFacts, Scored

BASE = 50.0
# Points for one fully confident, fresh match; several matches of one intent add up to the cap.
INTENT_POINTS = {
    "budget_confirmed": 25.0,
    "timeline_defined": 15.0,
    "pricing_interest": 12.0,
    "demo_request": 18.0,
    "decision_maker": 15.0,
    "objection_budget": -20.0,
    "objection_timing": -15.0,
    "objection_competitor": -20.0,
    "not_interested": -45.0,
}
MAX_PER_INTENT = 1.5  # a repeated intent counts at most one and a half times


def score(facts: LeadFacts) -> Scored | None:
    if not facts.intents:
        return None
    factors = [Factor("baseline", BASE, "neutral starting point for a contact who talked to us")]
    for evidence in sorted(facts.intents, key=lambda e: e.intent):
        per_match = INTENT_POINTS.get(evidence.intent)
        if per_match is None:
            continue
        points = per_match * min(MAX_PER_INTENT, evidence.weight)
        detail = (
            f"{evidence.matches}x {evidence.intent}"
            f" (best confidence {evidence.best_confidence:.2f},"
            f' weight {evidence.weight:.2f} after decay): "{evidence.evidence[:120]}"'
        )
        factors.append(Factor(evidence.intent, points, detail))
    total = sum(f.points for f in factors)
    return Scored(round(max(0.0, min(100.0, total))), factors)
