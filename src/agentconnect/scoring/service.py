"""Scoring leads: run every scorer, store the scores, and let the rules qualify and promote.

Single and bulk qualification are the same code: facts for a batch of leads come from a few
grouped queries, the scorers are plain functions, scores are written with COPY and leads and
contacts are updated with one statement each.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.leads import service as leads
from agentconnect.models import LeadStage, QualificationStatus, ScoreType
from agentconnect.scoring.combiner import combine
from agentconnect.scoring.config import ScoringConfig
from agentconnect.scoring.facts import Factor, LeadFacts, Scored
from agentconnect.scoring.repository import ScoringRepository
from agentconnect.scoring.rules import Decision, decide
from agentconnect.scoring.scorers import ai_intent, behavioral, demographic, engagement, workflow

BATCH = 5_000


@dataclass(frozen=True)
class Outcome:
    lead_id: uuid.UUID
    scores: dict[ScoreType, Scored]
    combined: Scored | None
    decision: Decision | None
    stage_after: LeadStage


async def load_config(session: AsyncSession, company_id: uuid.UUID) -> ScoringConfig:
    stored = await ScoringRepository(session, company_id).config()
    return ScoringConfig.model_validate(stored)


def score_lead(facts: LeadFacts, config: ScoringConfig) -> dict[ScoreType, Scored]:
    candidates = {
        ScoreType.AI_INTENT: ai_intent.score(facts),
        ScoreType.ENGAGEMENT: engagement.score(facts),
        ScoreType.DEMOGRAPHIC: demographic.score(facts, config.demographic_rules),
        ScoreType.BEHAVIORAL: behavioral.score(facts),
        ScoreType.WORKFLOW: workflow.score(facts),
        ScoreType.MANUAL: facts.manual,
    }
    return {t: s for t, s in candidates.items() if s is not None}


async def qualify_leads(
    session: AsyncSession, company_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]
) -> list[Outcome]:
    """Score, store and apply the rules for these leads (any number; batched internally)."""
    config = await load_config(session, company_id)
    repo = ScoringRepository(session, company_id)
    outcomes: list[Outcome] = []
    for start in range(0, len(lead_ids), BATCH):
        outcomes += await _qualify_batch(session, repo, config, lead_ids[start : start + BATCH])
    return outcomes


@dataclass
class Summary:
    """Counts of a bulk run; outcomes themselves are dropped batch by batch."""

    scored: int = 0
    statuses: Counter[QualificationStatus] = field(default_factory=Counter)
    promoted: int = 0
    score_rows: int = 0

    def add(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self.scored += 1
            self.score_rows += sum(1 for t in outcome.scores if t != ScoreType.MANUAL)
            if outcome.decision is not None:
                self.statuses[outcome.decision.status] += 1
                self.promoted += outcome.decision.promote_to_mql
                self.score_rows += 1  # the combined score


async def qualify_all(session: AsyncSession, company_id: uuid.UUID) -> Summary:
    """Every lead of the company, a batch at a time (keyset over ids). Only counts are kept:
    holding every outcome would grow with the company (and cost garbage collection)."""
    config = await load_config(session, company_id)
    repo = ScoringRepository(session, company_id)
    summary = Summary()
    after = None
    while ids := await repo.lead_ids_after(after, BATCH):
        summary.add(await _qualify_batch(session, repo, config, ids))
        after = ids[-1]
    return summary


async def _qualify_batch(
    session: AsyncSession,
    repo: ScoringRepository,
    config: ScoringConfig,
    lead_ids: Sequence[uuid.UUID],
) -> list[Outcome]:
    facts = await repo.facts(
        lead_ids, config.engagement_half_life_days, config.intent_half_life_days
    )
    rows, results, promote, outcomes = [], [], [], []
    for fact in facts:
        scores = score_lead(fact, config)
        combined = combine(scores, config)
        decision = None
        stage_after = fact.stage
        for score_type, scored in scores.items():
            if score_type != ScoreType.MANUAL:  # the manual score is a person's, kept as given
                rows.append((fact.lead_id, score_type, scored, None, None))
        if combined is not None:
            # only score types that count (weight above 0) are evidence for disqualifying
            counted = sum(1 for t in scores if config.weight(t) > 0)
            decision = decide(combined.score, counted, fact.stage, config)
            why = Factor("rules", 0, decision.reason)
            rows.append(
                (
                    fact.lead_id,
                    ScoreType.COMBINED,
                    Scored(combined.score, [*combined.factors, why]),
                    None,
                    None,
                )
            )
            results.append((fact.lead_id, combined.score, decision.status))
            if decision.promote_to_mql:
                promote.append(fact.lead_id)
                stage_after = LeadStage.MQL
        outcomes.append(Outcome(fact.lead_id, scores, combined, decision, stage_after))
    await repo.store(rows)
    await repo.apply(results, list({f.contact_id for f in facts}))
    if promote:
        await leads.promote_by_scoring(session, repo.company_id, promote)
    return outcomes


async def qualify_one(session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> Outcome:
    lead = await leads.get_lead(session, principal, lead_id)
    leads.ensure_may_modify(principal, lead)  # qualifying can promote the lead
    outcomes = await qualify_leads(session, principal.company_id, [lead.id])
    return outcomes[0]


async def set_manual_score(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, score: int, reasoning: str
) -> Outcome:
    """A person's score counts as its own type, then the lead is scored again with it."""
    lead = await leads.get_lead(session, principal, lead_id)
    leads.ensure_may_modify(principal, lead)
    repo = ScoringRepository(session, principal.company_id)
    factor = Factor("manual", score, reasoning)
    await repo.store(
        [(lead.id, ScoreType.MANUAL, Scored(score, [factor]), reasoning, principal.user_id)]
    )
    return (await qualify_leads(session, principal.company_id, [lead.id]))[0]


async def scores_of(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID
) -> tuple[list, ScoringConfig]:  # type: ignore[type-arg]
    await leads.get_lead(session, principal, lead_id)
    newest = await ScoringRepository(session, principal.company_id).newest(lead_id)
    return newest, await load_config(session, principal.company_id)


async def score_history(
    session: AsyncSession, principal: Principal, lead_id: uuid.UUID, limit: int, offset: int
) -> tuple[list, int]:  # type: ignore[type-arg]
    await leads.get_lead(session, principal, lead_id)
    repo = ScoringRepository(session, principal.company_id)
    return await repo.page(repo.history(lead_id), limit, offset)


async def get_config(session: AsyncSession, principal: Principal) -> ScoringConfig:
    return await load_config(session, principal.company_id)


async def put_config(
    session: AsyncSession, principal: Principal, config: ScoringConfig
) -> ScoringConfig:
    await ScoringRepository(session, principal.company_id).save_config(
        config.model_dump(mode="json")
    )
    return config
