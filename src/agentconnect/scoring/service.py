"""Scoring leads: run every scorer, store the scores, and let the rules qualify and promote.

Single and bulk qualification are the same code: facts for a batch of leads (or for the whole
company) come from a few grouped queries, the scorers are plain functions, scores are written
with COPY and leads and contacts are updated with one statement each.
"""

from __future__ import annotations

import gc
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.leads import service as leads
from agentconnect.models import LeadStage, QualificationStatus, ScoreType
from agentconnect.scoring.combiner import combine
from agentconnect.scoring.config import ScoringConfig
from agentconnect.scoring.facts import Factor, LeadFacts, Scored
from agentconnect.scoring.repository import (
    TYPE_NAMES,
    ScoringRepository,
    TextRow,
    factors_json,
    fingerprint,
)
from agentconnect.scoring.rules import Decision, decide
from agentconnect.scoring.scorers import ai_intent, behavioral, demographic, engagement, workflow
from agentconnect.webhooks import events

BATCH = 5_000  # leads whose facts are fetched together, for a list of leads
CHUNK = 2_000  # leads scored between two writes to the open COPY


class Outcome(NamedTuple):
    lead_id: uuid.UUID
    scores: dict[ScoreType, Scored]
    combined: Scored | None
    decision: Decision | None
    stage_after: LeadStage


async def load_config(session: AsyncSession, company_id: uuid.UUID) -> ScoringConfig:
    stored = await ScoringRepository(session, company_id).config()
    return ScoringConfig.model_validate(stored)


def score_lead(facts: LeadFacts, config: ScoringConfig) -> dict[ScoreType, Scored]:
    candidates = (
        (ScoreType.AI_INTENT, ai_intent.score(facts)),
        (ScoreType.ENGAGEMENT, engagement.score(facts)),
        (ScoreType.DEMOGRAPHIC, demographic.score(facts, config.demographic_rules)),
        (ScoreType.BEHAVIORAL, behavioral.score(facts)),
        (ScoreType.WORKFLOW, workflow.score(facts)),
        (ScoreType.MANUAL, facts.manual),
    )
    return {t: s for t, s in candidates if s is not None}


def assess(facts: LeadFacts, config: ScoringConfig) -> Outcome:
    """Every score of one lead, the combined score and what the rules decide (no I/O)."""
    scores = score_lead(facts, config)
    combined = combine(scores, config)
    if combined is None:
        return Outcome(facts.lead_id, scores, None, None, facts.stage)
    # only score types that count (weight above 0) are evidence for disqualifying
    weights = config.weight_table
    counted = sum(1 for t in scores if weights[t] > 0)
    decision = decide(combined.score, counted, facts.stage, config)
    stage_after = LeadStage.MQL if decision.promote_to_mql else facts.stage
    return Outcome(facts.lead_id, scores, combined, decision, stage_after)


async def qualify_leads(
    session: AsyncSession, company_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]
) -> list[Outcome]:
    """Score, store and apply the rules for these leads (any number; batched internally)."""
    config = await load_config(session, company_id)
    repo = ScoringRepository(session, company_id)
    outcomes: list[Outcome] = []
    for start in range(0, len(lead_ids), BATCH):
        facts = await repo.facts(
            lead_ids[start : start + BATCH],
            config.engagement_half_life_days,
            config.intent_half_life_days,
        )
        await _qualify(session, repo, config, facts, outcomes.extend, all_leads=False)
    return outcomes


@dataclass
class Summary:
    """Counts of a bulk run; outcomes themselves are dropped batch by batch."""

    scored: int = 0
    statuses: Counter[QualificationStatus] = field(default_factory=Counter)
    promoted: int = 0
    score_rows: int = 0  # scores computed (the manual one aside)
    rows_written: int = 0  # of those, the ones that differ from the newest stored row

    def add(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self.scored += 1
            self.score_rows += len(outcome.scores) - (ScoreType.MANUAL in outcome.scores)
            if outcome.decision is not None:
                self.statuses[outcome.decision.status] += 1
                self.promoted += outcome.decision.promote_to_mql
                self.score_rows += 1  # the combined score


async def qualify_all(session: AsyncSession, company_id: uuid.UUID) -> Summary:
    """Every lead of the company: facts in one pass over each table (not one per batch of
    leads), scored a chunk at a time into one open COPY. Only counts are kept: holding every
    outcome would grow with the company (and cost garbage collection)."""
    config = await load_config(session, company_id)
    repo = ScoringRepository(session, company_id)
    summary = Summary()
    with _cyclic_collector_paused():
        facts = await repo.facts(
            None, config.engagement_half_life_days, config.intent_half_life_days
        )
        summary.rows_written = await _qualify(
            session, repo, config, facts, summary.add, all_leads=True
        )
    return summary


@contextmanager
def _cyclic_collector_paused() -> Iterator[None]:
    """A run over a whole company holds a million long-lived objects (the facts) while making
    millions of short-lived ones, none of them in a reference cycle (reference counting frees
    them): the cyclic garbage collector would scan the long-lived ones again and again (a
    third of the run's time, measured). It is paused for the run and resumed after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def _qualify(
    session: AsyncSession,
    repo: ScoringRepository,
    config: ScoringConfig,
    facts: list[LeadFacts],
    keep: Callable[[list[Outcome]], object],
    *,
    all_leads: bool,
) -> int:
    """Score these leads a chunk at a time, each chunk's new score rows written to one COPY
    while the next chunk is scored; then one UPDATE for the leads, one for their contacts, and
    the promotions. A score row is written only when it differs (score or factors) from the
    newest stored one of its lead and type. `keep` receives each chunk's outcomes; the answer
    is the number of score rows written."""
    if not facts:
        return 0
    stored = await repo.fingerprints(None if all_leads else [f.lead_id for f in facts])
    results: list[tuple[uuid.UUID, int, QualificationStatus]] = []
    promote: list[uuid.UUID] = []
    nothing: dict[str, str] = {}
    written = 0
    async with repo.score_writer() as write:
        for start in range(0, len(facts), CHUNK):
            rows: list[TextRow] = []
            outcomes = [assess(f, config) for f in facts[start : start + CHUNK]]
            for lead_id, scores, combined, decision, _ in outcomes:
                before = stored.get(lead_id, nothing)
                for score_type, scored in scores.items():
                    if score_type != ScoreType.MANUAL:  # a person's score, kept as given
                        _changed(rows, before, lead_id, score_type, scored)
                if combined is not None and decision is not None:
                    why = Factor("rules", 0, decision.reason)
                    with_rules = Scored(combined.score, [*combined.factors, why])
                    _changed(rows, before, lead_id, ScoreType.COMBINED, with_rules)
                    results.append((lead_id, combined.score, decision.status))
                    if decision.promote_to_mql:
                        promote.append(lead_id)
            await write(rows)
            written += len(rows)
            keep(outcomes)
    contacts = None if all_leads else list({f.contact_id for f in facts})
    await events.emit_scoring_events(session, repo.company_id, await repo.apply(results, contacts))
    if promote:
        await leads.promote_by_scoring(session, repo.company_id, promote)
    return written


def _changed(
    rows: list[TextRow],
    stored: dict[str, str],
    lead_id: uuid.UUID,
    score_type: ScoreType,
    scored: Scored,
) -> None:
    """Add the row unless the newest stored row of this lead and type says the same."""
    factors = factors_json(scored.factors)
    if stored.get(TYPE_NAMES[score_type]) != fingerprint(scored.score, factors):
        rows.append((lead_id, score_type, scored.score, factors, None, None))


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
