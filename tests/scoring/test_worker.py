"""The debounced rescoring job, run by a real procrastinate worker against the test database."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from agentconnect import worker
from agentconnect.config import Settings
from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead


async def test_interactions_queue_one_job_per_contact_and_the_worker_scores(
    world: World, session: Any, settings: Settings
) -> None:
    contact = await new_contact(world.a.admin, email="w@x.example", job_title="CEO")
    lead = await new_lead(world.a.admin, contact_id=contact["id"])
    for n in range(3):  # a burst of interactions
        response = await world.a.agent.post(
            "/api/v1/activities",
            json={"contact_id": contact["id"], "activity_type": "page_viewed",
                  "occurred_at": "2026-11-20T10:00:00Z", "external_id": f"v{n}"},
        )  # fmt: skip
        assert response.status_code == 201
    jobs = (
        await session.execute(text("SELECT id FROM procrastinate_jobs WHERE status = 'todo'"))
    ).all()
    assert len(jobs) == 1  # debounced: one waiting job however many interactions
    await session.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
    await session.commit()

    database = worker.configure(settings)
    try:
        await worker.run(wait=False, install_signal_handlers=False)
    finally:
        await database.dispose()
    done = (await session.execute(text("SELECT status FROM procrastinate_jobs"))).scalars().all()
    assert list(done) == ["succeeded"]
    scores = (await world.a.agent.get(f"{LEADS}/{lead['id']}/scores")).json()
    assert set(scores["scores"]) >= {"demographic", "combined"}
    assert uuid.UUID(scores["lead_id"]) == uuid.UUID(lead["id"])


async def test_changed_qualification_answers_queue_a_rescore(world: World, session: Any) -> None:
    lead = await new_lead(world.a.admin)
    await world.a.admin.patch(f"{LEADS}/{lead['id']}", json={"title": "no answers changed"})
    assert (await session.execute(text("SELECT count(*) FROM procrastinate_jobs"))).scalar() == 0
    await world.a.admin.patch(
        f"{LEADS}/{lead['id']}", json={"qualification_data": {"budget_confirmed": True}}
    )
    locks = (await session.execute(text("SELECT queueing_lock FROM procrastinate_jobs"))).scalars()
    assert list(locks) == [f"rescore:{world.a.id}:{lead['contact_id']}"]
