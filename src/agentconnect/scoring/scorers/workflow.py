"""Workflow: how far qualification got — questions answered and the BANT answers."""

from __future__ import annotations

from agentconnect.scoring.facts import Factor, LeadFacts, Scored

ANSWERS = [
    ("budget_confirmed", 15, "budget confirmed"),
    ("timeline_defined", 15, "timeline defined"),
    ("decision_maker", 20, "talking to the decision maker"),
]
KEYS = ("questions_total", "questions_answered", *(key for key, _, _ in ANSWERS))


def score(facts: LeadFacts) -> Scored | None:
    data = facts.qualification_data
    if not data or not any(data.get(key) is not None for key in KEYS):
        return None
    factors = []
    total: float = 0
    questions, answered = data.get("questions_total") or 0, data.get("questions_answered") or 0
    if questions > 0:
        points = 50 * (min(answered, questions) / questions)
        total += points
        factors.append(Factor("questions", points, f"{answered} of {questions} answered, x50"))
    for key, points, label in ANSWERS:
        if data.get(key) is True:
            total += points
            factors.append(Factor(key, points, label))
    return Scored(round(min(100.0, total)), factors)
