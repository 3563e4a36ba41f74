"""SQL of scoring: facts for many leads in a few grouped queries, scores written with COPY."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on, insert

from agentconnect.kit.sql import uuid_array
from agentconnect.models import (
    CampaignActivity,
    Contact,
    IntentMatch,
    Lead,
    LeadScore,
    QualificationStatus,
    ScoreType,
    ScoringConfig,
)
from agentconnect.scoring.facts import Factor, IntentEvidence, LeadFacts, Scored, Tally
from agentconnect.scoring.scorers.behavioral import BEHAVIORAL_TYPES
from agentconnect.scoring.scorers.engagement import ENGAGEMENT_TYPES
from agentconnect.tenancy.scoping import TenantRepository

SENT_TYPES = ("email_sent", "sms_sent", "whatsapp_sent", "call_initiated")


def _decay(column: Any, half_life_days: float) -> Any:
    """0.5 ** (age in days / half-life): 1 for now, 0.5 one half-life ago."""
    age_days = func.greatest(0, func.extract("epoch", func.now() - column)) / 86400.0
    return func.power(0.5, age_days / half_life_days)


class ScoringRepository(TenantRepository[LeadScore]):
    model = LeadScore

    async def config(self) -> dict[str, Any]:
        stored = await self.session.get(ScoringConfig, self.company_id)
        return dict(stored.config) if stored else {}

    async def save_config(self, config: dict[str, Any]) -> None:
        await self.session.execute(
            insert(ScoringConfig)
            .values(company_id=self.company_id, config=config)
            .on_conflict_do_update(
                index_elements=["company_id"], set_={"config": config, "updated_at": func.now()}
            )
        )

    async def lead_ids_after(self, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        stmt = (
            select(Lead.id).where(Lead.company_id == self.company_id).order_by(Lead.id).limit(limit)
        )
        if after is not None:
            stmt = stmt.where(Lead.id > after)
        return list((await self.session.scalars(stmt)).all())

    async def facts(
        self, lead_ids: Sequence[uuid.UUID], engagement_half_life: float, intent_half_life: float
    ) -> list[LeadFacts]:
        """Everything the scorers need for these leads: four grouped queries, whatever the count."""
        rows = await self.session.execute(
            select(
                Lead.id,
                Lead.contact_id,
                Lead.stage,
                Lead.qualification_data,
                Contact.company_size,
                Contact.industry,
                Contact.job_title,
            )
            .join(
                Contact, and_(Contact.id == Lead.contact_id, Contact.company_id == self.company_id)
            )
            .where(Lead.company_id == self.company_id, Lead.id == func.any(uuid_array(lead_ids)))
        )
        facts = {
            r.id: LeadFacts(
                r.id,
                r.contact_id,
                r.stage,
                dict(r.qualification_data or {}),
                r.company_size,
                r.industry,
                r.job_title,
            )
            for r in rows
        }
        contacts = list({f.contact_id for f in facts.values()})
        by_contact: dict[uuid.UUID, list[LeadFacts]] = {}
        for f in facts.values():
            by_contact.setdefault(f.contact_id, []).append(f)
        if not contacts:
            return []
        await self._activity_tallies(contacts, by_contact, engagement_half_life)
        await self._intents(contacts, by_contact, intent_half_life)
        await self._manual(list(facts), facts)
        return list(facts.values())

    async def _activity_tallies(
        self,
        contacts: list[uuid.UUID],
        by_contact: dict[uuid.UUID, list[LeadFacts]],
        half_life: float,
    ) -> None:
        counted = (*ENGAGEMENT_TYPES, *BEHAVIORAL_TYPES, *SENT_TYPES)
        # An open that a mail client's privacy proxy prefetched says nothing about the reader.
        prefetched = CampaignActivity.details["prefetched"].astext == "true"
        real = and_(CampaignActivity.activity_type == "email_opened", prefetched).is_not(True)
        stmt = (
            select(
                CampaignActivity.contact_id,
                CampaignActivity.activity_type,
                func.count(),
                func.sum(_decay(CampaignActivity.occurred_at, half_life)),
            )
            .where(
                CampaignActivity.company_id == self.company_id,
                CampaignActivity.contact_id == func.any(uuid_array(contacts)),
                CampaignActivity.activity_type.in_(counted),
                real,
            )
            .group_by(CampaignActivity.contact_id, CampaignActivity.activity_type)
        )
        for contact_id, activity_type, count, weight in await self.session.execute(stmt):
            for f in by_contact[contact_id]:
                if activity_type.value in SENT_TYPES:
                    f.messages_received += count
                else:
                    f.activities[activity_type.value] = Tally(count, float(weight))

    async def _intents(
        self,
        contacts: list[uuid.UUID],
        by_contact: dict[uuid.UUID, list[LeadFacts]],
        half_life: float,
    ) -> None:
        newest_evidence = func.array_agg(
            aggregate_order_by(IntentMatch.evidence, IntentMatch.detected_at.desc())
        )[1]
        stmt = (
            select(
                IntentMatch.contact_id,
                IntentMatch.intent,
                func.count(),
                func.sum(IntentMatch.confidence * _decay(IntentMatch.detected_at, half_life)),
                func.max(IntentMatch.confidence),
                newest_evidence,
            )
            .where(
                IntentMatch.company_id == self.company_id,
                IntentMatch.contact_id == func.any(uuid_array(contacts)),
            )
            .group_by(IntentMatch.contact_id, IntentMatch.intent)
        )
        for contact_id, intent, count, weight, best, evidence in await self.session.execute(stmt):
            for f in by_contact[contact_id]:
                f.intents.append(
                    IntentEvidence(intent, count, float(weight), float(best), evidence)
                )

    async def _manual(self, lead_ids: list[uuid.UUID], facts: dict[uuid.UUID, LeadFacts]) -> None:
        stmt = (
            select(LeadScore.lead_id, LeadScore.score, LeadScore.factors)
            .where(
                LeadScore.company_id == self.company_id,
                LeadScore.lead_id == func.any(uuid_array(lead_ids)),
                LeadScore.score_type == ScoreType.MANUAL,
            )
            .order_by(LeadScore.lead_id, LeadScore.computed_at.desc())
            .ext(distinct_on(LeadScore.lead_id))
        )
        for lead_id, score, factors in await self.session.execute(stmt):
            facts[lead_id].manual = Scored(score, [Factor(**f) for f in factors])

    async def store(
        self, rows: Sequence[tuple[uuid.UUID, ScoreType, Scored, str | None, uuid.UUID | None]]
    ) -> None:
        """Append score rows with COPY: bulk qualification writes several per lead."""
        if not rows:
            return
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        statement = (
            "COPY lead_scores (id, company_id, lead_id, score_type, score, factors, reasoning,"
            " created_by, computed_at) FROM STDIN"
        )
        # The transaction's time, fetched before COPY takes over the connection.
        now = (await self.session.execute(text("SELECT now()"))).scalar_one()
        async with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for lead_id, score_type, scored, reasoning, created_by in rows:
                factors = json.dumps([f.as_json() for f in scored.factors])
                await copy.write_row(
                    (uuid.uuid4(), self.company_id, lead_id, score_type.value, scored.score,
                     factors, reasoning, created_by, now)
                )  # fmt: skip

    async def apply(
        self,
        results: Sequence[tuple[uuid.UUID, int, QualificationStatus]],
        contacts: Sequence[uuid.UUID],
    ) -> None:
        """Set every lead's score and status in one UPDATE ... FROM unnest, then make each
        touched contact's lead_score its newest lead's score."""
        if results:
            ids, scores, statuses = zip(*results, strict=True)
            await self.session.execute(
                text(_APPLY),
                {"company_id": self.company_id, "ids": list(ids), "scores": list(scores),
                 "statuses": [s.value for s in statuses]},
            )  # fmt: skip
        if contacts:
            await self.session.execute(
                text(_SYNC_CONTACTS), {"company_id": self.company_id, "contacts": list(contacts)}
            )

    async def newest(self, lead_id: uuid.UUID) -> list[LeadScore]:
        stmt = (
            self.select()
            .where(LeadScore.lead_id == lead_id)
            .order_by(LeadScore.score_type, LeadScore.computed_at.desc(), LeadScore.id)
            .ext(distinct_on(LeadScore.score_type))
        )
        return list((await self.session.scalars(stmt)).all())

    def history(self, lead_id: uuid.UUID) -> Any:
        return (
            self.select()
            .where(LeadScore.lead_id == lead_id)
            .order_by(LeadScore.computed_at.desc(), LeadScore.score_type, LeadScore.id)
        )


_APPLY = """
UPDATE leads AS l
SET score = v.score, qualification_status = v.status, updated_at = now()
FROM unnest(CAST(:ids AS uuid[]), CAST(:scores AS smallint[]), CAST(:statuses AS text[]))
     AS v(id, score, status)
WHERE l.company_id = :company_id AND l.id = v.id
  AND (l.score IS DISTINCT FROM v.score OR l.qualification_status IS DISTINCT FROM v.status)
"""

# A contact's lead_score is the combined score of its newest lead.
_SYNC_CONTACTS = """
UPDATE contacts AS c
SET lead_score = n.score, updated_at = now()
FROM (
    SELECT DISTINCT ON (contact_id) contact_id, score
    FROM leads
    WHERE company_id = :company_id AND contact_id = ANY(CAST(:contacts AS uuid[]))
    ORDER BY contact_id, created_at DESC, id DESC
) AS n
WHERE c.company_id = :company_id AND c.id = n.contact_id AND c.lead_score IS DISTINCT FROM n.score
"""
