"""Properties of targeting over a varied population, for any criteria hypothesis can think of:
no excluded contact is ever targeted, and preview counts exactly what enrollment enrolls."""

from __future__ import annotations

import random
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from agentconnect.models import CampaignContact, Contact, Lead
from tests.campaigns.conftest import CAMPAIGNS, add_step, email_step, new_campaign
from tests.fixtures.world import World

STAGES = ["subscriber", "lead", "mql", "sql", "customer"]
SOURCES = ["web", "referral", "event"]
TAGS = ["a", "b", "c"]
OPT_IN = ["unknown", "pending", "opted_in", "opted_out"]

criteria_strategy = st.fixed_dictionaries(
    {},
    optional={
        "lifecycle_stages": st.lists(st.sampled_from(STAGES), max_size=3, unique=True),
        "lead_stages": st.lists(
            st.sampled_from(["lead", "mql", "sql", "lost"]), max_size=2, unique=True
        ),
        "min_score": st.integers(0, 60),
        "max_score": st.integers(40, 100),
        "lead_sources": st.lists(st.sampled_from(SOURCES), max_size=2, unique=True),
        "tags_all": st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
        "tags_any": st.lists(st.sampled_from(TAGS), max_size=2, unique=True),
        "opt_in_statuses": st.lists(st.sampled_from(OPT_IN[:3]), max_size=2, unique=True),
    },
)


async def _population(session: Any, company_id: uuid.UUID) -> None:
    rng = random.Random(11)
    rows = []
    for i in range(80):
        rows.append(
            {
                "id": uuid.uuid4(),
                "company_id": company_id,
                "first_name": f"P{i}",
                "email": f"p{i}@x.example" if rng.random() < 0.75 else None,
                "phone": f"+1415555{i:04d}" if rng.random() < 0.6 else None,
                "lifecycle_stage": rng.choice(STAGES),
                "lead_source": rng.choice(SOURCES),
                "opt_in_status": rng.choice(OPT_IN),
                "do_not_contact": rng.random() < 0.15,
                "tags": rng.sample(TAGS, rng.randint(0, 3)),
                "custom_fields": {},
                "lead_score": rng.randint(0, 100),
            }
        )
    await session.execute(insert(Contact), rows)
    leads = [
        {"id": uuid.uuid4(), "company_id": company_id, "contact_id": r["id"], "title": "t",
         "stage": rng.choice(["lead", "mql", "sql", "lost"]), "qualification_status": "pending",
         "score": 0, "currency": "USD", "qualification_data": {}}
        for r in rows if rng.random() < 0.5
    ]  # fmt: skip
    await session.execute(insert(Lead), leads)
    await session.commit()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    criteria=criteria_strategy,
    campaign_type=st.sampled_from(["email", "sms"]),
    pre_enrolled=st.integers(0, 15),
)
async def test_targeting_excludes_and_preview_matches_enrollment(
    world: World, session: Any, criteria: dict[str, Any], campaign_type: str, pre_enrolled: int
) -> None:
    if not (
        await session.scalar(select(Contact.id).where(Contact.company_id == world.a.id).limit(1))
    ):
        await _population(session, world.a.id)
    if criteria.get("min_score", 0) > criteria.get("max_score", 100):
        criteria["min_score"], criteria["max_score"] = criteria["max_score"], criteria["min_score"]
    campaign = await new_campaign(world.a.manager, campaign_type=campaign_type)
    if campaign_type == "email":
        await email_step(world.a.manager, campaign["id"])
    else:
        await add_step(world.a.manager, campaign["id"], body="hi")
    # some contacts are enrolled already, by id (skips are fine)
    all_ids = list(
        (await session.scalars(select(Contact.id).where(Contact.company_id == world.a.id))).all()
    )
    chosen = [str(i) for i in random.Random(pre_enrolled).sample(all_ids, pre_enrolled)]
    if chosen:
        await world.a.manager.post(
            f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": chosen}
        )
    enrolled_ids = select(CampaignContact.contact_id).where(
        CampaignContact.campaign_id == uuid.UUID(campaign["id"])
    )
    before = set((await session.scalars(enrolled_ids)).all())

    preview = (await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/targeting/preview",
        json={"target_criteria": criteria, "sample_size": 100},
    )).json()  # fmt: skip
    targeted = {uuid.UUID(c["id"]): c for c in preview["sample"]}
    assert preview["total"] == len(targeted)
    for contact_id, person in targeted.items():
        assert not person["do_not_contact"]
        assert person["opt_in_status"] != "opted_out"
        assert contact_id not in before
        assert person["email" if campaign_type == "email" else "phone"] is not None

    if not any(value not in ([], None) for value in criteria.values()):
        refused = await world.a.manager.post(
            f"{CAMPAIGNS}/{campaign['id']}/enroll-from-criteria", json={"target_criteria": {}}
        )
        assert refused.status_code == 422  # empty criteria would enroll everyone
        return
    enrolled = (await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll-from-criteria", json={"target_criteria": criteria}
    )).json()  # fmt: skip
    assert enrolled["enrolled"] == preview["total"]
    after = set((await session.scalars(enrolled_ids)).all())
    assert after - before == set(targeted)
