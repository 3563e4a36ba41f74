"""Behaviour: page views, form submissions, content clicks and meetings booked."""

from __future__ import annotations

from agentconnect.scoring.facts import Factor, LeadFacts, Scored

RULES = [
    ("page_viewed", 3.0, 30.0, "page views"),
    ("form_submitted", 20.0, 40.0, "forms submitted"),
    ("link_clicked", 5.0, 20.0, "content clicks"),
    ("meeting_scheduled", 30.0, 30.0, "meetings booked"),
]
BEHAVIORAL_TYPES = tuple(rule[0] for rule in RULES)


def score(facts: LeadFacts) -> Scored | None:
    factors = []
    for activity, per_event, cap, label in RULES:
        tally = facts.activities.get(activity)
        if tally is None or tally.count == 0:
            continue
        points = min(cap, per_event * tally.weight)
        detail = (
            f"{tally.count} {label}, {tally.weight:.2f} after decay,"
            f" x{per_event:g} capped at {cap:g}"
        )
        factors.append(Factor(label, points, detail))
    if not factors:
        return None
    return Scored(round(min(100.0, sum(f.points for f in factors))), factors)
