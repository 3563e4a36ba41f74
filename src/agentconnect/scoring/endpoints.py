"""Scoring endpoints: qualify, manual scores, score breakdowns and the configuration."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from agentconnect.deps import AdminDep, ManagerDep, PrincipalDep, SessionDep
from agentconnect.kit.pagination import Page, PageDep
from agentconnect.models import QualificationStatus, ScoreType
from agentconnect.scoring import schemas, service
from agentconnect.scoring.assessment import Outcome
from agentconnect.scoring.config import ScoringConfig
from agentconnect.scoring.facts import Scored

router = APIRouter(prefix="/api/v1", tags=["scoring"])


def _detail(scored: Scored) -> schemas.ScoreDetail:
    return schemas.ScoreDetail(score=scored.score, factors=[f.as_json() for f in scored.factors])


def _qualification(outcome: Outcome, config: ScoringConfig) -> schemas.Qualification:
    return schemas.Qualification(
        lead_id=outcome.lead_id,
        scores={t: _detail(s) for t, s in outcome.scores.items()},
        combined=_detail(outcome.combined) if outcome.combined else None,
        weights={t: config.weight(t) for t in ScoreType if t != ScoreType.COMBINED},
        qualification_status=outcome.decision.status if outcome.decision else None,
        stage=outcome.stage_after,
        reason=outcome.decision.reason if outcome.decision else "no score type has data yet",
    )


@router.post("/leads/{lead_id}/qualify", response_model=schemas.Qualification)
async def qualify(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID
) -> schemas.Qualification:
    """Run every scorer now, store the scores, apply the qualification rules; answer the
    breakdown, the status and the stage after."""
    outcome = await service.qualify_one(session, principal, lead_id)
    return _qualification(outcome, await service.get_config(session, principal))


@router.post("/leads/bulk-qualify", response_model=schemas.BulkQualifyResult)
async def bulk_qualify(
    session: SessionDep, principal: ManagerDep, body: schemas.BulkQualifyRequest
) -> schemas.BulkQualifyResult:
    """Score many leads (`lead_ids`, at most 10,000) or every lead (`all: true`) set-based."""
    not_found: list[uuid.UUID] = []
    if body.all:
        summary = await service.qualify_all(session, principal.company_id)
    else:
        ids = list(dict.fromkeys(body.lead_ids or []))
        outcomes = await service.qualify_leads(session, principal.company_id, ids)
        found = {o.lead_id for o in outcomes}
        not_found = [i for i in ids if i not in found]
        summary = service.Summary()
        summary.add(outcomes)
    return schemas.BulkQualifyResult(
        scored=summary.scored,
        qualified=summary.statuses[QualificationStatus.QUALIFIED],
        disqualified=summary.statuses[QualificationStatus.DISQUALIFIED],
        pending=summary.statuses[QualificationStatus.PENDING],
        promoted=summary.promoted,
        not_found=not_found,
    )


@router.post("/leads/{lead_id}/scores/manual", response_model=schemas.Qualification)
async def manual_score(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID, body: schemas.ManualScore
) -> schemas.Qualification:
    """A sales rep's own score (0-100) with the reasoning behind it; the lead is scored again."""
    outcome = await service.set_manual_score(
        session, principal, lead_id, body.score, body.reasoning
    )
    return _qualification(outcome, await service.get_config(session, principal))


@router.get("/leads/{lead_id}/scores", response_model=schemas.LeadScores)
async def lead_scores(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID
) -> schemas.LeadScores:
    """The newest score of each type with its factors, the weights, and the combined score."""
    newest, config = await service.scores_of(session, principal, lead_id)
    by_type = {row.score_type: schemas.StoredScore.model_validate(row) for row in newest}
    combined = by_type.get(ScoreType.COMBINED)
    return schemas.LeadScores(
        lead_id=lead_id,
        scores=by_type,
        weights={t: config.weight(t) for t in ScoreType if t != ScoreType.COMBINED},
        combined=combined.score if combined else None,
    )


@router.get("/leads/{lead_id}/scores/history", response_model=Page[schemas.StoredScore])
async def score_history(
    session: SessionDep, principal: PrincipalDep, lead_id: uuid.UUID, page: PageDep
) -> Page[schemas.StoredScore]:
    """Every score row of the lead, newest first."""
    rows, total = await service.score_history(session, principal, lead_id, page.limit, page.offset)
    items = [schemas.StoredScore.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/scoring/config", response_model=ScoringConfig)
async def get_scoring_config(session: SessionDep, principal: AdminDep) -> ScoringConfig:
    """Weights, thresholds, demographic rules, intent keywords, with defaults filled in."""
    return await service.get_config(session, principal)


@router.put("/scoring/config", response_model=ScoringConfig)
async def put_scoring_config(
    session: SessionDep, principal: AdminDep, body: ScoringConfig
) -> ScoringConfig:
    """Replace the configuration; keys left out take their defaults. Negative weights or
    thresholds out of order are a 422."""
    return await service.put_config(session, principal, body)
