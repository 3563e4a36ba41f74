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
# The rules with the constant parts of each factor's text made once, not once per lead.
_RULES = [
    (activity, per_event, cap, label, f" {label}, ",
     f" after decay, x{per_event:g} capped at {cap:g}")
    for activity, per_event, cap, label in RULES
]  # fmt: skip


def score(facts: LeadFacts) -> Scored | None:
    activities = facts.activities
    factors = []
    total = 0.0
    for activity, per_event, cap, label, between, after in _RULES:
        tally = activities.get(activity)
        if tally is None or tally.count == 0:
            continue
        points = min(cap, per_event * tally.weight)
        total += points
        factors.append(Factor(label, points, f"{tally.count}{between}{tally.weight:.2f}{after}"))
    if not factors:
        return None
    return Scored(round(min(100.0, total)), factors)
