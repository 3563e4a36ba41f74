"""Engagement: opens, clicks, replies and completed calls, newer ones counting more."""

from __future__ import annotations

from agentconnect.scoring.facts import Factor, LeadFacts, Scored

# (activity types, points per event, cap, label)
RULES = [
    (("email_opened",), 5.0, 30.0, "opens"),
    (("email_clicked",), 10.0, 30.0, "clicks"),
    (("email_replied", "sms_replied", "whatsapp_replied"), 25.0, 25.0, "replies"),
    (("call_completed",), 15.0, 15.0, "completed calls"),
]
ENGAGEMENT_TYPES = tuple(t for types, *_ in RULES for t in types)
# The rules with the constant parts of each factor's text made once, not once per lead.
_RULES = [
    (types, per_event, cap, label, f" {label}, ", f" after decay, x{per_event:g} capped at {cap:g}")
    for types, per_event, cap, label in RULES
]


def score(facts: LeadFacts) -> Scored | None:
    activities = facts.activities
    if facts.messages_received == 0 and not any(t in activities for t in ENGAGEMENT_TYPES):
        return None  # never contacted: no evidence either way
    factors = []
    total = 0.0
    for types, per_event, cap, label, between, after in _RULES:
        count, weight = 0, 0.0
        for activity_type in types:
            tally = activities.get(activity_type)
            if tally is not None:
                count += tally.count
                weight += tally.weight
        if count == 0:
            continue
        points = min(cap, per_event * weight)
        total += points
        factors.append(Factor(label, points, f"{count}{between}{weight:.2f}{after}"))
    if not factors:
        factors.append(
            Factor("no engagement", 0, f"{facts.messages_received} messages, no response")
        )
    return Scored(round(min(100.0, total)), factors)
