"""Bulk qualification: the whole-company path, score rows written only when they change, and
factors written as the very JSON text the database gives back."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text

from agentconnect.db import Database
from agentconnect.models import CampaignActivity, LeadScore
from agentconnect.scoring.facts import Factor
from agentconnect.scoring.repository import ScoringRepository, factors_json, fingerprint
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead

TRICKY = [
    Factor("baseline", 50.0, "neutral starting point"),
    Factor("budget_confirmed", 24.3612, '1x "we" \\ a\ttab\nline é 中 \x01 \u2028'),
    Factor("job_title", 25, "'vp' in job title 'VP Operations'"),
    Factor("rules", 0, "combined 47: not decided yet"),
    Factor("not_interested", -42.625, "stop"),
    Factor("tiny", 0.004, "rounds to nothing"),
    Factor("third", 1 / 3, "a third"),
]


def test_factors_json_says_what_as_json_says() -> None:
    assert json.loads(factors_json(TRICKY)) == [f.as_json() for f in TRICKY]
    assert factors_json([]) == "[]"


async def test_factors_text_and_fingerprint_match_what_postgresql_gives_back(
    session: Any,
) -> None:
    factors = factors_json(TRICKY)
    stored, print_ = (
        await session.execute(
            text("SELECT CAST(:f AS jsonb)::text, left(md5('55 ' || CAST(:f AS jsonb)::text), 16)"),
            {"f": factors},
        )
    ).one()
    assert stored == factors
    assert print_ == fingerprint(55, factors)


async def _rows(session: Any, lead_id: str) -> dict[str, int]:
    result = await session.execute(
        select(LeadScore.score_type, func.count())
        .where(LeadScore.lead_id == uuid.UUID(lead_id))
        .group_by(LeadScore.score_type)
    )
    await session.commit()
    return {t.value: n for t, n in result.all()}


async def test_rescoring_writes_only_the_scores_that_changed(world: World, session: Any) -> None:
    contact = await new_contact(
        world.a.admin, email="same@x.example", job_title="CTO", industry="software"
    )
    lead = await new_lead(
        world.a.admin,
        contact_id=contact["id"],
        qualification_data={"questions_total": 2, "questions_answered": 1},
    )
    first = (await world.a.admin.post(f"{LEADS}/{lead['id']}/qualify")).json()
    assert await _rows(session, lead["id"]) == {"demographic": 1, "workflow": 1, "combined": 1}
    again = (await world.a.admin.post(f"{LEADS}/{lead['id']}/qualify")).json()
    assert again == first  # the same answer, and no new row
    assert await _rows(session, lead["id"]) == {"demographic": 1, "workflow": 1, "combined": 1}

    # an e-mail sent: engagement appears (0, no response), and the combined score changes
    await session.execute(
        insert(CampaignActivity),
        [{"id": uuid.uuid4(), "company_id": world.a.id, "contact_id": uuid.UUID(contact["id"]),
          "activity_type": "email_sent", "occurred_at": datetime.now(UTC) - timedelta(hours=1),
          "details": {}}],
    )  # fmt: skip
    await session.commit()
    third = (await world.a.admin.post(f"{LEADS}/{lead['id']}/qualify")).json()
    assert third["scores"]["engagement"]["score"] == 0
    assert await _rows(session, lead["id"]) == {
        "demographic": 1, "workflow": 1, "engagement": 1, "combined": 2,
    }  # fmt: skip
    explained = (await world.a.admin.get(f"{LEADS}/{lead['id']}/scores")).json()
    for score_type, detail in third["scores"].items():
        assert explained["scores"][score_type]["score"] == detail["score"]
        assert explained["scores"][score_type]["factors"] == detail["factors"]
    assert explained["combined"] == third["combined"]["score"]


async def test_bulk_all_scores_as_single_qualify_does(world: World, session: Any) -> None:
    leads = []
    for n, types in enumerate(
        [["email_sent", "email_opened", "email_clicked"], ["page_viewed", "form_submitted"], []]
    ):
        contact = await new_contact(
            world.a.admin, email=f"bulk{n}@x.example", company_size="51-200",
            job_title="Head of Sales" if n else None,
        )  # fmt: skip
        leads.append(
            await new_lead(
                world.a.admin,
                contact_id=contact["id"],
                qualification_data={"budget_confirmed": True} if n == 1 else {},
            )
        )
        now = datetime.now(UTC)
        if types:
            await session.execute(
                insert(CampaignActivity),
                [{"id": uuid.uuid4(), "company_id": world.a.id,
                  "contact_id": uuid.UUID(contact["id"]), "activity_type": t,
                  "occurred_at": now - timedelta(days=i), "details": {}}
                 for i, t in enumerate(types)],
            )  # fmt: skip
    # a prefetched open does not count
    await session.execute(
        insert(CampaignActivity),
        [{"id": uuid.uuid4(), "company_id": world.a.id,
          "contact_id": uuid.UUID(leads[0]["contact_id"]), "activity_type": "email_opened",
          "occurred_at": datetime.now(UTC), "details": {"prefetched": True}}],
    )  # fmt: skip
    await session.commit()
    await new_lead(world.b.admin)  # another company's lead is not scored

    bulk = await world.a.manager.post(f"{LEADS}/bulk-qualify", json={"all": True})
    assert bulk.status_code == 200, bulk.text
    assert bulk.json()["scored"] == 3
    stored = {
        lead["id"]: (await world.a.admin.get(f"{LEADS}/{lead['id']}/scores")).json()
        for lead in leads
    }
    assert stored[leads[0]["id"]]["scores"]["engagement"]["factors"][0]["detail"].startswith(
        "1 opens, "
    )
    for lead in leads:
        single = (await world.a.admin.post(f"{LEADS}/{lead['id']}/qualify")).json()
        scores = stored[lead["id"]]["scores"]
        assert set(scores) - {"combined"} == set(single["scores"])
        for score_type, detail in single["scores"].items():
            assert scores[score_type]["score"] == detail["score"]
            assert [f["name"] for f in scores[score_type]["factors"]] == [
                f["name"] for f in detail["factors"]
            ]
        assert stored[lead["id"]]["combined"] == single["combined"]["score"]
    contact_score = (await world.a.admin.get(f"/api/v1/contacts/{leads[1]['contact_id']}")).json()
    assert contact_score["lead_score"] == stored[leads[1]["id"]]["combined"]


# What migration 0017 computes from stored rows: the fingerprint of each lead's newest row
# of each type (the manual score aside).
_NEWEST_PRINTS = """
SELECT lead_id::text,
       jsonb_object_agg(score_type, left(md5(score::text || ' ' || factors::text), 16))
FROM (
    SELECT DISTINCT ON (lead_id, score_type) lead_id, score_type, score, factors
    FROM lead_scores
    WHERE company_id = :company_id AND score_type <> 'manual'
    ORDER BY lead_id, score_type, computed_at DESC, id
) AS newest
GROUP BY lead_id
"""


async def test_a_bulk_run_that_changes_nothing_writes_nothing(world: World, session: Any) -> None:
    contact = await new_contact(world.a.admin, email="twice@x.example", job_title="VP Sales")
    lead = await new_lead(world.a.admin, contact_id=contact["id"])
    await new_lead(world.a.admin, qualification_data={"questions_total": 3})
    await session.execute(
        insert(CampaignActivity),
        [{"id": uuid.uuid4(), "company_id": world.a.id, "contact_id": uuid.UUID(contact["id"]),
          "activity_type": t, "occurred_at": datetime.now(UTC) - timedelta(days=400),
          "details": {}} for t in ("email_sent", "email_opened", "page_viewed")],
    )  # fmt: skip
    await session.commit()
    first = await world.a.manager.post(f"{LEADS}/bulk-qualify", json={"all": True})
    assert first.status_code == 200, first.text
    rows = await _rows(session, lead["id"])
    assert rows == {"engagement": 1, "behavioral": 1, "demographic": 1, "combined": 1}
    again = await world.a.manager.post(f"{LEADS}/bulk-qualify", json={"all": True})
    assert again.json() == first.json()
    assert await _rows(session, lead["id"]) == rows
    # what scoring keeps is what the newest stored rows say
    newest = dict((await session.execute(text(_NEWEST_PRINTS), {"company_id": world.a.id})).all())
    await session.commit()
    assert await ScoringRepository(session, world.a.id).fingerprints(None) == newest
    assert len(newest) == 2


async def test_the_later_run_s_fingerprints_win_whichever_commits_last(
    world: World, database: Database, session: Any
) -> None:
    leads = [uuid.UUID((await new_lead(world.a.admin))["id"]) for _ in range(2)]
    for lead_id, newer_commits_first in zip(leads, (True, False), strict=True):
        async with database.sessionmaker() as older, database.sessionmaker() as newer:
            await older.execute(text("SELECT now()"))  # its transaction, and now(), begins first
            await newer.execute(text("SELECT now()"))
            older_prints = {lead_id: {"engagement": "old", "demographic": "fit"}}
            newer_prints = {lead_id: {"engagement": "new"}}
            runs = [(newer, newer_prints), (older, older_prints)]
            for run, prints in runs if newer_commits_first else runs[::-1]:
                await ScoringRepository(run, world.a.id).save_fingerprints(prints)
                await run.commit()
        stored = await ScoringRepository(session, world.a.id).fingerprints([lead_id])
        assert stored == {str(lead_id): {"engagement": "new", "demographic": "fit"}}
