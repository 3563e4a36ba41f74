"""Each scorer, the combiner and the rules, on plain facts (no database)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from agentconnect.models import LeadStage, QualificationStatus, ScoreType
from agentconnect.scoring.combiner import combine
from agentconnect.scoring.config import DemographicRules, ScoringConfig
from agentconnect.scoring.facts import Factor, IntentEvidence, LeadFacts, Scored, Tally
from agentconnect.scoring.rules import decide
from agentconnect.scoring.scorers import ai_intent, behavioral, demographic, engagement, workflow


def facts(**fields: Any) -> LeadFacts:
    fields.setdefault("qualification_data", {})
    return LeadFacts(uuid.uuid4(), uuid.uuid4(), LeadStage.LEAD, **fields)


def test_engagement_needs_some_contact_and_caps_each_kind() -> None:
    assert engagement.score(facts()) is None
    silent = engagement.score(facts(messages_received=3))
    assert silent is not None
    assert silent.score == 0
    busy = engagement.score(
        facts(activities={"email_opened": Tally(20, 20.0), "email_clicked": Tally(9, 9.0),
                          "email_replied": Tally(3, 3.0), "call_completed": Tally(2, 2.0)})
    )  # fmt: skip
    assert busy is not None
    assert busy.score == 100  # 30 + 30 + 25 + 15, every kind at its cap
    assert [f.points for f in busy.factors] == [30, 30, 25, 15]


def test_engagement_decay_counts_old_events_less() -> None:
    fresh = engagement.score(facts(activities={"email_clicked": Tally(2, 2.0)}))
    old = engagement.score(facts(activities={"email_clicked": Tally(2, 0.5)}))
    assert fresh is not None
    assert old is not None
    assert (fresh.score, old.score) == (20, 5)


def test_behavioral_scores_only_what_happened() -> None:
    assert behavioral.score(facts()) is None
    result = behavioral.score(
        facts(activities={"page_viewed": Tally(50, 50.0), "form_submitted": Tally(1, 1.0)})
    )
    assert result is not None
    assert result.score == 50  # page views capped at 30, one form 20


def test_workflow_boundaries() -> None:
    assert workflow.score(facts()) is None
    half = workflow.score(facts(qualification_data={"questions_total": 4, "questions_answered": 2}))
    assert half is not None
    assert half.score == 25
    full = workflow.score(
        facts(qualification_data={
            "questions_total": 2, "questions_answered": 2, "budget_confirmed": True,
            "timeline_defined": True, "decision_maker": True,
        })
    )  # fmt: skip
    assert full is not None
    assert full.score == 100
    no_answers = workflow.score(facts(qualification_data={"budget_confirmed": False}))
    assert no_answers is not None
    assert no_answers.score == 0


def test_demographic_prefers_qualification_answers() -> None:
    rules = DemographicRules()
    assert demographic.score(facts(), rules) is None
    result = demographic.score(
        facts(company_size="1-10", industry="Software", job_title="Chief Executive",
              qualification_data={"company_size": "1000+"}),
        rules,
    )  # fmt: skip
    assert result is not None
    assert [f.name for f in result.factors] == ["company_size", "industry", "job_title"]
    assert result.score == 40 + 30 + 0
    vp = demographic.score(facts(job_title="VP of Sales", industry="mining"), rules)
    assert vp is not None
    assert vp.score == 25 + 5


def test_ai_intent_weighs_confidence_and_caps_repeats() -> None:
    assert ai_intent.score(facts()) is None
    keen = ai_intent.score(
        facts(intents=[IntentEvidence("budget_confirmed", 1, 0.9, 0.9, "we have budget")])
    )
    assert keen is not None
    assert keen.score == round(50 + 25 * 0.9)
    repeated = ai_intent.score(facts(intents=[IntentEvidence("demo_request", 5, 4.5, 0.9, "demo")]))
    assert repeated is not None
    assert repeated.score == round(50 + 18 * 1.5)
    gone = ai_intent.score(facts(intents=[IntentEvidence("not_interested", 2, 1.9, 0.95, "stop")]))
    assert gone is not None
    assert gone.score == 0  # bounded below


def test_combiner_is_a_weighted_mean_over_present_types() -> None:
    config = ScoringConfig()
    scores = {ScoreType.ENGAGEMENT: Scored(80, []), ScoreType.WORKFLOW: Scored(40, []),
              ScoreType.BEHAVIORAL: Scored(100, [])}  # fmt: skip
    combined = combine(scores, config)
    assert combined is not None
    # behavioral weighs 0 by default: (80 * 0.25 + 40 * 0.20) / 0.45
    assert combined.score == round((80 * 0.25 + 40 * 0.20) / 0.45)
    assert combine({}, config) is None
    assert combine({ScoreType.BEHAVIORAL: Scored(90, [])}, config) is None


@pytest.mark.parametrize(
    ("combined", "types", "stage", "status", "promote"),
    [
        (70, 1, LeadStage.LEAD, QualificationStatus.QUALIFIED, False),
        (69, 3, LeadStage.LEAD, QualificationStatus.PENDING, False),
        (75, 1, LeadStage.LEAD, QualificationStatus.QUALIFIED, True),
        (75, 1, LeadStage.SQL, QualificationStatus.QUALIFIED, False),
        (74, 2, LeadStage.LEAD, QualificationStatus.QUALIFIED, False),
        (39, 2, LeadStage.LEAD, QualificationStatus.DISQUALIFIED, False),
        (39, 1, LeadStage.LEAD, QualificationStatus.PENDING, False),
        (40, 5, LeadStage.LEAD, QualificationStatus.PENDING, False),
    ],
)
def test_rules_at_each_threshold(
    combined: int, types: int, stage: LeadStage, status: QualificationStatus, promote: bool
) -> None:
    decision = decide(combined, types, stage, ScoringConfig())
    assert (decision.status, decision.promote_to_mql) == (status, promote)


@pytest.mark.parametrize(
    "config",
    [
        {"weights": {"engagement": -1}},
        {"weights": {"combined": 1}},
        {
            "weights": {
                "engagement": 0,
                "ai_intent": 0,
                "demographic": 0,
                "workflow": 0,
                "manual": 0,
            }
        },
        {"qualify_threshold": 50, "disqualify_threshold": 60},
        {"qualify_threshold": 80, "mql_threshold": 70},
        {"qualify_threshold": 101},
        {"surprise": 1},
    ],
)
def test_nonsense_configs_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ScoringConfig.model_validate(config)


def test_factor_json() -> None:
    assert Factor("x", 1.234, "why").as_json() == {"name": "x", "points": 1.23, "detail": "why"}
