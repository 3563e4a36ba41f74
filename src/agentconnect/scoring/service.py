"""Scoring leads: run every scorer, store the scores, and let the rules qualify and promote.

Single and bulk qualification are the same code: facts for a batch of leads (or for the whole
company) come from a few grouped queries, the scorers are plain functions, scores are written
with COPY and leads and contacts are updated with one statement each.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.leads import service as leads
from agentconnect.models import QualificationStatus, ScoreType
from agentconnect.scoring.assessment import (
    MANUAL,
    Outcome,
    Scores,
    conclude,
    score_activity,
    score_profile,
)
from agentconnect.scoring.config import ScoringConfig
from agentconnect.scoring.facts import Factor, LeadFacts, Scored
from agentconnect.scoring.repository import (
    TYPE_NAMES,
    ScoringRepository,
    TextRow,
    factors_json,
    fingerprint,
)
from agentconnect.webhooks import events

COMBINED = ScoreType.COMBINED

BATCH = 5_000  # leads whose facts are fetched together, for a list of leads
CHUNK = 2_000  # leads scored between two writes to the open COPY (or two looks at the server)


async def load_config(session: AsyncSession, company_id: uuid.UUID) -> ScoringConfig:
    stored = await ScoringRepository(session, company_id).config()
    return ScoringConfig.model_validate(stored)


async def qualify_leads(
    session: AsyncSession, company_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]
) -> list[Outcome]:
    """Score, store and apply the rules for these leads (any number; batched internally)."""
    config = await load_config(session, company_id)
    repo = ScoringRepository(session, company_id)
    outcomes: list[Outcome] = []
    for start in range(0, len(lead_ids), BATCH):
        await _qualify(session, repo, config, lead_ids[start : start + BATCH], outcomes.extend)
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
        summary.rows_written = await _qualify(session, repo, config, None, summary.add)
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
    lead_ids: Sequence[uuid.UUID] | None,
    keep: Callable[[list[Outcome]], object],
) -> int:
    """Score these leads (None: every lead of the company) and store what changed; then one
    UPDATE for the leads, one for their contacts, and the promotions. `keep` receives each
    chunk's outcomes; the answer is the number of score rows written.

    The server's pass over the activity log is the longest read: the profile scores (and
    whether they changed) are worked out while it runs. Then each chunk's activity scores,
    combined scores and decisions, and its new score rows go to one open COPY, which the
    server stores while the next chunk is scored."""
    facts = await repo.facts(lead_ids, config.intent_half_life_days)
    if not facts:
        return 0
    changes = _Changes(await repo.fingerprints(lead_ids))
    tallying = asyncio.ensure_future(
        repo.add_activities(facts, lead_ids is None, config.engagement_half_life_days)
    )
    try:
        profiles, early_rows = await _score_profiles(facts, config, changes)
    finally:
        await tallying  # (also when scoring failed: the session is not left mid-statement)
    results: list[tuple[uuid.UUID, int, QualificationStatus]] = []
    promote: list[uuid.UUID] = []
    async with repo.score_writer() as write:
        for chunk, start in enumerate(range(0, len(facts), CHUNK)):
            rows, early_rows[chunk] = early_rows[chunk], []
            outcomes = []
            for f, profile in zip(
                facts[start : start + CHUNK], profiles[start : start + CHUNK], strict=True
            ):
                activity = score_activity(f)
                for score_type, scored in activity.items():
                    changes.add(rows, f.lead_id, score_type, scored)
                outcome = conclude(f, profile, activity, config)
                combined, decision = outcome.combined, outcome.decision
                if combined is not None and decision is not None:
                    why = Factor("rules", 0, decision.reason)
                    with_rules = Scored(combined.score, [*combined.factors, why])
                    changes.add(rows, f.lead_id, COMBINED, with_rules)
                    if (combined.score, decision.status) != (f.score, f.qualification_status):
                        results.append((f.lead_id, combined.score, decision.status))
                    if decision.promote_to_mql:
                        promote.append(f.lead_id)
                outcomes.append(outcome)
            await write(rows)
            keep(outcomes)
    await repo.save_fingerprints(changes.prints)
    contacts = None if lead_ids is None else list({f.contact_id for f in facts})
    await events.emit_scoring_events(session, repo.company_id, await repo.apply(results, contacts))
    if promote:
        await leads.promote_by_scoring(session, repo.company_id, promote)
    return changes.written


async def _score_profiles(
    facts: Sequence[LeadFacts], config: ScoringConfig, changes: _Changes
) -> tuple[list[Scores], list[list[TextRow]]]:
    """Every lead's profile scores, and a chunk's worth of changed score rows per chunk. The
    loop yields after each chunk, so the statement running meanwhile gets its answer read."""
    profiles: list[Scores] = []
    rows_by_chunk: list[list[TextRow]] = []
    for start in range(0, len(facts), CHUNK):
        rows: list[TextRow] = []
        for f in facts[start : start + CHUNK]:
            profile = score_profile(f, config)
            for score_type, scored in profile.items():
                if score_type is not MANUAL:  # a person's score, kept as given
                    changes.add(rows, f.lead_id, score_type, scored)
            profiles.append(profile)
        rows_by_chunk.append(rows)
        await asyncio.sleep(0)
    return profiles, rows_by_chunk


class _Changes:
    """Which computed scores differ from the newest stored ones (by fingerprint): those get a
    row, and their fingerprints are kept to be stored with them."""

    def __init__(self, stored: dict[str, dict[str, str]]) -> None:
        self.stored = stored  # lead (as text) -> type -> fingerprint
        self.prints: dict[uuid.UUID, dict[str, str]] = {}  # of the rows written
        self.written = 0
        self._lead: uuid.UUID | None = None
        self._before: dict[str, str] = {}

    def add(
        self, rows: list[TextRow], lead_id: uuid.UUID, score_type: ScoreType, scored: Scored
    ) -> None:
        """Add the row unless the newest stored row of this lead and type says the same."""
        if lead_id != self._lead:  # a lead's types come one after another
            self._lead, self._before = lead_id, self.stored.get(str(lead_id), _NOTHING)
        factors = factors_json(scored.factors)
        name = TYPE_NAMES[score_type]
        print_ = fingerprint(scored.score, factors)
        if self._before.get(name) != print_:
            rows.append((lead_id, score_type, scored.score, factors, None, None))
            self.prints.setdefault(lead_id, {})[name] = print_
            self.written += 1


_NOTHING: dict[str, str] = {}


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
