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


def score(facts: LeadFacts) -> Scored | None:
    if facts.messages_received == 0 and not any(t in facts.activities for t in ENGAGEMENT_TYPES):
        return None  # never contacted: no evidence either way
    factors = []
    for types, per_event, cap, label in RULES:
        count = sum(facts.activities[t].count for t in types if t in facts.activities)
        weight = sum(facts.activities[t].weight for t in types if t in facts.activities)
        if count == 0:
            continue
        points = min(cap, per_event * weight)
        detail = f"{count} {label}, {weight:.2f} after decay, x{per_event:g} capped at {cap:g}"
        factors.append(Factor(label, points, detail))
    if not factors:
        factors.append(
            Factor("no engagement", 0, f"{facts.messages_received} messages, no response")
        )
    return Scored(round(min(100.0, sum(f.points for f in factors))), factors)
