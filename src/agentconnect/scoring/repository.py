"""SQL of scoring: facts for many leads in a few grouped queries, scores written with COPY."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from hashlib import md5
from json.encoder import encode_basestring
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

TYPE_NAMES = {t: t.value for t in ScoreType}  # (an enum's .value is a slow descriptor)
SENT_TYPES = ("email_sent", "sms_sent", "whatsapp_sent", "call_initiated")
# Activity types with a count and a decayed weight each, in the order of the grouped columns.
TALLIED = (*ENGAGEMENT_TYPES, *BEHAVIORAL_TYPES)
# Memory for the one grouped pass over a whole company's activity log (one hash table entry
# per contact); the server's default of 4 MB makes it spill to disk from a few thousand on.
ALL_LEADS_WORK_MEM = "128MB"

# One score row to store: lead, type, score and factors, reasoning, author.
ScoreRow = tuple[uuid.UUID, ScoreType, Scored, str | None, uuid.UUID | None]
# The same with the score and its factors as JSON text (factors_json), as COPY sends them.
TextRow = tuple[uuid.UUID, ScoreType, int, str, str | None, uuid.UUID | None]


def _decay(column: Any, half_life_days: float) -> Any:
    """0.5 ** (age in days / half-life): 1 for now, 0.5 one half-life ago."""
    age_days = func.greatest(0, func.extract("epoch", func.now() - column)) / 86400.0
    return func.power(0.5, age_days / half_life_days)


def factors_json(factors: Iterable[Factor]) -> str:
    """The factors as JSON in the very text PostgreSQL gives back for the stored jsonb (keys
    ordered name, detail, points; ", " and ": " between items): the values json.dumps of
    [f.as_json() ...] gives, built without the intermediate dicts (bulk qualification writes a
    few million factors per run), and comparable with what is stored (see fingerprint)."""
    return (
        "["
        + ", ".join(  # (a list joins faster than a generator)
            [
                f'{_name_json(name)}{encode_basestring(detail)}, "points": {round(points, 2)!r}}}'
                for name, points, detail in factors
            ]
        )
        + "]"
    )


_NAMES: dict[str, str] = {}  # factor name -> its JSON up to the detail's value


def _name_json(name: str) -> str:
    """Factor names are a few dozen words: their part of the JSON is made once each."""
    text = _NAMES.get(name)
    if text is None:
        if len(_NAMES) > 10_000:
            _NAMES.clear()
        text = _NAMES[name] = f'{{"name": {encode_basestring(name)}, "detail": '
    return text


def fingerprint(score: int, factors_text: str) -> str:
    """What tells a new score row from the newest stored one of its lead and type: the first
    64 bits of md5 over its score and its factors, in hex; the same as migration 0017 computed
    from the rows stored before. Were two texts ever to differ for equal factors, the row
    would only be written again."""
    return md5(f"{score} {factors_text}".encode(), usedforsecurity=False).hexdigest()[:16]


_NULL = "\\N"  # NULL in COPY's text format
_NULLS = f"{_NULL}\t{_NULL}"


def _copy_text(value: str) -> str:
    """A value escaped for COPY's text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _by_contact(facts: Iterable[LeadFacts]) -> dict[uuid.UUID, list[LeadFacts]]:
    by_contact: dict[uuid.UUID, list[LeadFacts]] = {}
    for f in facts:
        by_contact.setdefault(f.contact_id, []).append(f)
    return by_contact


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

    async def facts(
        self, lead_ids: Sequence[uuid.UUID] | None, intent_half_life: float
    ) -> list[LeadFacts]:
        """What the scorers need for these leads (None: every lead of the company), the
        activity log aside (add_activities): three grouped queries, whatever the count. For
        the whole company each is one pass over its table, not one per batch of leads."""
        stmt = select(
            Lead.id,
            Lead.contact_id,
            Lead.stage,
            Lead.qualification_data,
            Contact.company_size,
            Contact.industry,
            Contact.job_title,
            Lead.score,
            Lead.qualification_status,
        ).join(Contact, and_(Contact.id == Lead.contact_id, Contact.company_id == self.company_id))
        stmt = stmt.where(Lead.company_id == self.company_id)
        if lead_ids is not None:
            stmt = stmt.where(Lead.id == func.any(uuid_array(lead_ids)))
        facts = {
            row[0]: LeadFacts(
                row[0], row[1], row[2], row[3] or {}, row[4], row[5], row[6],
                score=row[7], qualification_status=row[8],
            )
            for row in await self.session.execute(stmt)
        }  # fmt: skip
        if not facts:
            return []
        by_contact = _by_contact(facts.values())
        await self._intents(None if lead_ids is None else list(by_contact), by_contact,
                            intent_half_life)  # fmt: skip
        await self._manual(None if lead_ids is None else list(facts), facts)
        return list(facts.values())

    async def add_activities(
        self, facts: Sequence[LeadFacts], every_lead: bool, half_life: float
    ) -> None:
        """Each lead's tallies of its contact's activities (every_lead: the facts are every
        lead of the company, read in one pass over its activity log). One row per contact:
        messages sent to it, and a count and a decayed weight per tallied activity type
        (FILTER columns: a row per contact, not per contact and type)."""
        by_contact = _by_contact(facts)
        activity = CampaignActivity
        decay = _decay(activity.occurred_at, half_life)
        columns = [activity.contact_id, func.count().filter(activity.activity_type.in_(SENT_TYPES))]
        for activity_type in TALLIED:
            of_type = activity.activity_type == activity_type
            columns += [func.count().filter(of_type), func.sum(decay).filter(of_type)]
        # An open that a mail client's privacy proxy prefetched says nothing about the reader.
        prefetched = activity.details["prefetched"].astext == "true"
        real = and_(activity.activity_type == "email_opened", prefetched).is_not(True)
        stmt = (
            select(*columns)
            .where(
                activity.company_id == self.company_id,
                activity.activity_type.in_((*TALLIED, *SENT_TYPES)),
                real,
            )
            .group_by(activity.contact_id)
        )
        rows: Sequence[Any]
        if every_lead:
            rows = await self._with_work_mem(stmt)
        else:
            stmt = stmt.where(activity.contact_id == func.any(uuid_array(list(by_contact))))
            rows = (await self.session.execute(stmt)).all()
        row: Any
        for row in rows:
            activities = {}
            for i, activity_type in enumerate(TALLIED, 1):
                count = row[2 * i]
                if count:
                    activities[activity_type] = Tally(count, float(row[2 * i + 1]))
            sent = row[1]
            for f in by_contact.get(row[0], ()):
                f.messages_received = sent
                f.activities = activities  # read only: leads of one contact may share it

    async def _with_work_mem(self, stmt: Any) -> Sequence[Any]:
        """Run a whole-company aggregate with more memory, then restore the setting."""
        before = await self.session.scalar(text("SELECT current_setting('work_mem')"))
        await self.session.execute(
            text("SELECT set_config('work_mem', :value, true)"), {"value": ALL_LEADS_WORK_MEM}
        )
        try:
            return (await self.session.execute(stmt)).all()
        finally:
            await self.session.execute(
                text("SELECT set_config('work_mem', :value, true)"), {"value": before}
            )

    async def _intents(
        self,
        contacts: list[uuid.UUID] | None,
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
            .where(IntentMatch.company_id == self.company_id)
            .group_by(IntentMatch.contact_id, IntentMatch.intent)
        )
        if contacts is not None:
            stmt = stmt.where(IntentMatch.contact_id == func.any(uuid_array(contacts)))
        for contact_id, intent, count, weight, best, evidence in await self.session.execute(stmt):
            for f in by_contact.get(contact_id, ()):
                f.intents.append(
                    IntentEvidence(intent, count, float(weight), float(best), evidence)
                )

    async def _manual(
        self, lead_ids: list[uuid.UUID] | None, facts: dict[uuid.UUID, LeadFacts]
    ) -> None:
        stmt = (
            select(LeadScore.lead_id, LeadScore.score, LeadScore.factors)
            .where(
                LeadScore.company_id == self.company_id,
                LeadScore.score_type == ScoreType.MANUAL,
            )
            .order_by(LeadScore.lead_id, LeadScore.computed_at.desc())
            .ext(distinct_on(LeadScore.lead_id))
        )
        if lead_ids is not None:
            stmt = stmt.where(LeadScore.lead_id == func.any(uuid_array(lead_ids)))
        for lead_id, score, factors in await self.session.execute(stmt):
            if lead_id in facts:
                facts[lead_id].manual = Scored(score, [Factor(**f) for f in factors])

    async def fingerprints(self, lead_ids: Sequence[uuid.UUID] | None) -> dict[str, dict[str, str]]:
        """Lead (its id as text) -> score type -> fingerprint of its newest stored score (None:
        every lead of the company); the manual score is left out (a person's, never rewritten
        by scoring). One JSON document: parsed in one call, where a row per lead costs more."""
        statement = _FINGERPRINTS.format(leads="" if lead_ids is None else _SOME_LEADS)
        parameters: dict[str, Any] = {"company_id": self.company_id}
        if lead_ids is not None:
            parameters["leads"] = list(lead_ids)
        document = await self.session.scalar(text(statement), parameters)
        return {} if document is None else json.loads(document)

    async def save_fingerprints(self, written: dict[uuid.UUID, dict[str, str]]) -> None:
        """Record the fingerprints of the score rows just written (lead -> type -> print),
        merged into each lead's others. Of two runs scoring a lead at once, the one that began
        later wrote the newer rows (computed_at is the transaction's time): its prints win,
        whichever commits last."""
        if not written:
            return
        # One JSON document for all leads: a parameter the server parses in one go, where
        # arrays of 100,000 ids and texts cost seconds of adaptation on each side.
        document = json.dumps({str(lead): prints for lead, prints in written.items()})
        await self.session.execute(
            text(_SAVE_FINGERPRINTS), {"company_id": self.company_id, "written": document}
        )

    async def store(self, rows: Sequence[ScoreRow]) -> None:
        """Append score rows with one COPY."""
        async with self.score_writer() as write:
            await write(
                [
                    (lead_id, score_type, scored.score, factors_json(scored.factors), reasoning,
                     created_by)
                    for lead_id, score_type, scored, reasoning, created_by in rows
                ]
            )  # fmt: skip

    @asynccontextmanager
    async def score_writer(self) -> AsyncIterator[Callable[[Sequence[TextRow]], Awaitable[None]]]:
        """One COPY into lead_scores kept open while the caller hands it rows batch by batch:
        the server stores one batch while the caller scores the next. Rows carry their factors
        as JSON text already (factors_json)."""
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        # id and computed_at (the transaction's time) are the server's defaults
        statement = (
            "COPY lead_scores (company_id, lead_id, score_type, score, factors, reasoning,"
            " created_by) FROM STDIN"
        )
        company = f"{self.company_id}\t"  # every row's head

        async def write(rows: Sequence[TextRow]) -> None:
            if not rows:
                return
            lines = []
            lead_text, last_lead = "", None
            for lead_id, score_type, score, factors, reasoning, created_by in rows:
                if lead_id != last_lead:
                    lead_text, last_lead = str(lead_id), lead_id
                extra = (
                    _NULLS
                    if reasoning is None and created_by is None
                    else (
                        (_NULL if reasoning is None else _copy_text(reasoning))
                        + "\t"
                        + (_NULL if created_by is None else str(created_by))
                    )
                )
                lines.append(
                    f"{company}{lead_text}\t{TYPE_NAMES[score_type]}\t{score}"
                    f"\t{_copy_text(factors)}\t{extra}\n"
                )
            await copy.write("".join(lines).encode())

        async with driver.cursor() as cursor, cursor.copy(statement) as copy:
            yield write

    async def apply(
        self,
        results: Sequence[tuple[uuid.UUID, int, QualificationStatus]],
        contacts: Sequence[uuid.UUID] | None,
    ) -> list[tuple[uuid.UUID, int | None, str | None, int, str]]:
        """Set these leads' score and status in one UPDATE ... FROM unnest, then make each
        touched contact's lead_score its newest lead's score (contacts None: every contact of
        the company that has a lead). The answer: (lead, old score, old status, score, status)
        of every lead that changed."""
        changed: list[tuple[uuid.UUID, int | None, str | None, int, str]] = []
        if results:
            ids, scores, statuses = zip(*results, strict=True)
            rows = await self.session.execute(
                text(_APPLY),
                {"company_id": self.company_id, "ids": list(ids), "scores": list(scores),
                 "statuses": [s.value for s in statuses]},
            )  # fmt: skip
            changed = [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        if contacts is None:
            await self.session.execute(
                text(_SYNC_CONTACTS.format(contacts="")), {"company_id": self.company_id}
            )
        elif contacts:
            await self.session.execute(
                text(_SYNC_CONTACTS.format(contacts=_SOME_CONTACTS)),
                {"company_id": self.company_id, "contacts": list(contacts)},
            )
        return changed

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


# `o` is the row as it was (the statement's snapshot): the answer says what changed, for the
# events (lead.score_changed, lead.qualified, lead.disqualified).
_APPLY = """
UPDATE leads AS l
SET score = v.score, qualification_status = v.status, updated_at = now()
FROM unnest(CAST(:ids AS uuid[]), CAST(:scores AS smallint[]), CAST(:statuses AS text[]))
     AS v(id, score, status), leads AS o
WHERE l.company_id = :company_id AND l.id = v.id AND o.company_id = :company_id AND o.id = v.id
  AND (l.score IS DISTINCT FROM v.score OR l.qualification_status IS DISTINCT FROM v.status)
RETURNING l.id, o.score, o.qualification_status, l.score, l.qualification_status
"""

# A contact's lead_score is the combined score of its newest lead.
_SYNC_CONTACTS = """
UPDATE contacts AS c
SET lead_score = n.score, updated_at = now()
FROM (
    SELECT DISTINCT ON (contact_id) contact_id, score
    FROM leads
    WHERE company_id = :company_id {contacts}
    ORDER BY contact_id, created_at DESC, id DESC
) AS n
WHERE c.company_id = :company_id AND c.id = n.contact_id AND c.lead_score IS DISTINCT FROM n.score
"""
_SOME_CONTACTS = "AND contact_id = ANY(CAST(:contacts AS uuid[]))"

_FINGERPRINTS = """
SELECT CAST(json_object_agg(lead_id, fingerprints) AS text)
FROM lead_score_fingerprints
WHERE company_id = :company_id {leads}
"""
_SOME_LEADS = "AND lead_id = ANY(CAST(:leads AS uuid[]))"

# `f` is the stored row; of the two sets of prints the later run's win (see save_fingerprints).
_SAVE_FINGERPRINTS = """
INSERT INTO lead_score_fingerprints AS f (company_id, lead_id, fingerprints, scored_at)
SELECT :company_id, CAST(w.key AS uuid), w.value, now()
FROM jsonb_each(CAST(:written AS jsonb)) AS w
ORDER BY w.key  -- one order for every run: two runs never wait on each other in a cycle
ON CONFLICT (company_id, lead_id) DO UPDATE
SET fingerprints = CASE WHEN f.scored_at <= excluded.scored_at
                        THEN f.fingerprints || excluded.fingerprints
                        ELSE excluded.fingerprints || f.fingerprints END,
    scored_at = greatest(f.scored_at, excluded.scored_at)
"""
