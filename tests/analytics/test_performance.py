"""Campaign performance, figure by figure: rates, an A/B step, revenue and ROI under both
attribution models, comparison, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from agentconnect.db import Database
from agentconnect.delivery.engine import Engine
from agentconnect.delivery.scheduler import EngineSettings
from agentconnect.delivery.sender import SenderSettings
from tests.analytics.conftest import insert_activities
from tests.campaigns.conftest import CAMPAIGNS, contact, email_step, new_campaign
from tests.fixtures.world import World


async def _sent(
    world: World, database: Database, app: Any, people: list[str], **campaign: Any
) -> str:
    """A started one-step e-mail campaign (A/B variants) sent to `people`; its id."""
    created = await new_campaign(world.a.manager, **campaign)
    await email_step(
        world.a.manager, created["id"], delay_value=0, delay_unit="minutes",
        variants=[{"name": "A", "subject": "Hi A"}, {"name": "B", "subject": "Hi B"}],
    )  # fmt: skip
    enrolled = await world.a.manager.post(
        f"{CAMPAIGNS}/{created['id']}/enroll", json={"contact_ids": people}
    )
    assert enrolled.status_code == 200
    assert (await world.a.manager.post(f"{CAMPAIGNS}/{created['id']}/start")).status_code == 200
    engine = Engine(
        database,
        EngineSettings(base_url="http://crm.test", secret_key=app.state.secret_key),
        SenderSettings(worker_id="perf", batch_size=100, concurrency=2),
    )
    outcome = await engine.tick(datetime.now(UTC))
    assert outcome.sent.sent == len(people), outcome
    return str(created["id"])


async def test_performance_rates_variants_revenue_and_roi(
    world: World, database: Database, app: Any
) -> None:
    people = [(await contact(world.a.admin, email=f"p{n}@x.example"))["id"] for n in range(4)]
    cid = await _sent(world, database, app, people, cost="100.00")
    [step_row] = (await world.a.agent.get(f"{CAMPAIGNS}/{cid}/messages")).json()
    now = datetime.now(UTC)

    def act(n: int, kind: str) -> dict[str, Any]:
        return {"company_id": str(world.a.id), "campaign_id": cid, "contact_id": people[n],
                "message_id": step_row["id"], "activity_type": kind, "occurred_at": now,
                "metadata": {}}  # fmt: skip

    await insert_activities(
        database,
        [act(0, "email_opened"), act(0, "email_opened"), act(0, "email_clicked"),
         act(1, "email_opened"), act(2, "email_bounced")],
    )  # fmt: skip
    lead = await world.a.manager.post(
        "/api/v1/leads", json={"contact_id": people[0], "title": "P0", "deal_value": "1000.00"}
    )
    assert lead.status_code == 201, lead.text
    won = await world.a.manager.put(
        f"/api/v1/leads/{lead.json()['id']}/stage", json={"stage": "customer"}
    )
    assert won.status_code == 200

    response = await world.a.agent.get(f"{CAMPAIGNS}/{cid}/performance")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totals"] == {
        "enrolled": 4, "sent": 4, "delivered": 3, "opened": 2, "opens_total": 3,
        "clicked": 1, "clicks_total": 1, "replied": 0, "bounced": 1, "unsubscribed": 0,
        "failed": 0,
    }  # fmt: skip
    assert body["rates"] == {
        "delivery_rate": 0.75, "open_rate": 0.6667, "click_rate": 0.3333,
        "click_to_open_rate": 0.5, "reply_rate": 0.0, "bounce_rate": 0.25,
        "unsubscribe_rate": 0.0, "failure_rate": 0.0,
    }  # fmt: skip
    assert body["converted"] == 1
    assert body["conversion_rate"] == 0.25
    assert body["revenue"] == "1000.00"
    assert body["cost"] == "100.00"
    assert body["roi"] == 9.0  # (1000 - 100) / 100
    assert body["cost_per_conversion"] == "100.00"
    assert body["by_channel"]["email"]["email_sent"] == {"events": 4, "contacts": 4}
    [step] = body["by_step"]
    assert step["sequence_order"] == 1
    assert step["totals"]["sent"] == 4
    assert sum(v["totals"]["sent"] for v in step["variants"]) == 4
    assert {v["name"] for v in step["variants"]} <= {"A", "B"}  # each contact has one


async def test_an_ab_step_gets_the_bayesian_verdict(
    world: World, database: Database, app: Any
) -> None:
    """Thirty contacts: both variants are drawn (the chance of one only is 2 in 10^9)."""
    people = [(await contact(world.a.admin, email=f"ab{n}@x.example"))["id"] for n in range(30)]
    cid = await _sent(world, database, app, people)
    [step] = (await world.a.agent.get(f"{CAMPAIGNS}/{cid}/performance")).json()["by_step"]
    assert {v["name"] for v in step["variants"]} == {"A", "B"}
    assert sum(v["totals"]["sent"] for v in step["variants"]) == 30
    assert [v["metric"] for v in step["ab_test"]] == [
        "opened / delivered", "clicked / delivered", "replied / delivered",
    ]  # fmt: skip
    opened = step["ab_test"][0]
    assert opened["method"] == "bayesian_beta_binomial"
    assert opened["prior"] == "Beta(1, 1)"
    assert opened["winner"] is None  # thirty contacts are no evidence
    assert "not enough data" in opened["reason"]
    assert abs(sum(arm["probability_best"] for arm in opened["arms"]) - 1) < 1e-6


async def test_last_touch_and_first_touch_credit_different_campaigns(
    world: World, database: Database, app: Any
) -> None:
    person = (await contact(world.a.admin, email="both@x.example"))["id"]
    first = await _sent(world, database, app, [person], name="First")
    second = await _sent(world, database, app, [person], name="Second")
    lead = await world.a.manager.post(
        "/api/v1/leads", json={"contact_id": person, "title": "Both", "deal_value": "500.00"}
    )
    await world.a.manager.put(
        f"/api/v1/leads/{lead.json()['id']}/stage", json={"stage": "customer"}
    )

    def revenue(campaign: str, model: str) -> Any:
        return world.a.agent.get(
            f"{CAMPAIGNS}/{campaign}/performance", params={"attribution": model}
        )

    assert (await revenue(second, "last_touch")).json()["revenue"] == "500.00"
    assert (await revenue(first, "last_touch")).json()["revenue"] == "0.00"
    assert (await revenue(first, "first_touch")).json()["revenue"] == "500.00"
    assert (await revenue(second, "first_touch")).json()["revenue"] == "0.00"
    compared = await world.a.agent.post(
        f"{CAMPAIGNS}/analytics/compare",
        json={"campaign_ids": [first, second], "attribution": "first_touch"},
    )
    assert compared.status_code == 200, compared.text
    assert [c["revenue"] for c in compared.json()["campaigns"]] == ["500.00", "0.00"]


async def test_zero_sends_and_refusals(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    body = (await world.a.agent.get(f"{CAMPAIGNS}/{campaign['id']}/performance")).json()
    assert body["totals"]["sent"] == 0
    assert set(body["rates"].values()) == {None}
    assert body["roi"] is None  # no cost
    assert body["by_step"] == []
    other = await new_campaign(world.b.manager)
    compared = await world.a.agent.post(
        f"{CAMPAIGNS}/analytics/compare", json={"campaign_ids": [campaign["id"], other["id"]]}
    )
    assert compared.status_code == 404
    too_many = await world.a.agent.post(
        f"{CAMPAIGNS}/analytics/compare", json={"campaign_ids": [campaign["id"]] * 21}
    )
    assert too_many.status_code == 422
    bad_model = await world.a.agent.get(
        f"{CAMPAIGNS}/{campaign['id']}/performance", params={"attribution": "linear"}
    )
    assert bad_model.status_code == 422
    assert (
        await world.b.manager.get(f"{CAMPAIGNS}/{campaign['id']}/performance")
    ).status_code == 404


async def test_each_campaign_has_its_own_attribution_window(
    world: World, database: Database, app: Any
) -> None:
    person = (await contact(world.a.admin, email="late@x.example"))["id"]
    cid = await _sent(world, database, app, [person], attribution_window_days=5)
    async with database.unit_of_work() as session:  # the e-mail went out ten days ago
        await session.execute(
            text(
                "UPDATE deliveries SET sent_at = now() - interval '10 days' WHERE campaign_id = :c"
            ),
            {"c": cid},
        )
    lead = await world.a.manager.post(
        "/api/v1/leads", json={"contact_id": person, "title": "Late", "deal_value": "80.00"}
    )
    won = await world.a.manager.put(
        f"/api/v1/leads/{lead.json()['id']}/stage", json={"stage": "customer"}
    )
    assert won.status_code == 200
    url = f"{CAMPAIGNS}/{cid}/performance"

    five_days = (await world.a.agent.get(url)).json()
    assert (five_days["converted"], five_days["attribution_window_days"]) == (0, 5)

    patched = await world.a.manager.patch(
        f"{CAMPAIGNS}/{cid}", json={"attribution_window_days": 30}
    )
    assert patched.status_code == 200, patched.text
    thirty_days = (await world.a.agent.get(url)).json()
    assert (thirty_days["converted"], thirty_days["revenue"]) == (1, "80.00")
    refused = await world.a.manager.patch(f"{CAMPAIGNS}/{cid}", json={"attribution_window_days": 0})
    assert refused.status_code == 422


async def test_the_median_response_time(world: World, database: Database, app: Any) -> None:
    people = [(await contact(world.a.admin, email=f"r{n}@x.example"))["id"] for n in range(3)]
    cid = await _sent(world, database, app, people)
    async with database.unit_of_work() as session:
        sent_at = await session.scalar(
            text("SELECT min(sent_at) FROM deliveries WHERE campaign_id = :c"), {"c": cid}
        )
    assert sent_at is not None

    def reply(n: int, hours: int) -> dict[str, Any]:
        return {"company_id": str(world.a.id), "campaign_id": cid, "contact_id": people[n],
                "activity_type": "email_replied",
                "occurred_at": (sent_at + timedelta(hours=hours)).isoformat(),
                "metadata": {}}  # fmt: skip

    # replies after 1 and 3 hours (the second reply of the first contact does not count)
    await insert_activities(database, [reply(0, 1), reply(0, 5), reply(1, 3)])
    body = (await world.a.agent.get(f"{CAMPAIGNS}/{cid}/performance")).json()
    assert body["totals"]["replied"] == 2
    assert body["response_time_median_seconds"] == 7200.0  # the median of 1 h and 3 h
    # One reply taken back and another written: the same counts, a different median.
    async with database.unit_of_work() as session:
        await session.execute(
            text(
                "DELETE FROM campaign_activities WHERE contact_id = :c"
                " AND activity_type = 'email_replied'"
            ),
            {"c": people[1]},
        )
    await insert_activities(database, [reply(1, 7)])
    again = (await world.a.agent.get(f"{CAMPAIGNS}/{cid}/performance")).json()
    assert (again["totals"]["replied"], again["response_time_median_seconds"]) == (2, 14400.0)


async def test_compare_answers_what_each_campaign_answers_alone(
    world: World, database: Database, app: Any
) -> None:
    """The comparison reads all campaigns at once; each keeps its own window, steps, variants,
    replies and revenue, exactly as its own performance endpoint has them."""
    people = [(await contact(world.a.admin, email=f"c{n}@x.example"))["id"] for n in range(4)]
    short = await _sent(world, database, app, people[:2], attribution_window_days=5)
    long = await _sent(world, database, app, people[2:], cost="50.00")
    async with database.unit_of_work() as session:  # both campaigns wrote ten days ago
        await session.execute(
            text(
                "UPDATE deliveries SET sent_at = now() - interval '10 days'"
                " WHERE campaign_id IN (:s, :l)"
            ),
            {"s": short, "l": long},
        )
    for person in (people[0], people[2]):
        lead = await world.a.manager.post(
            "/api/v1/leads", json={"contact_id": person, "title": "Deal", "deal_value": "70.00"}
        )
        won = await world.a.manager.put(
            f"/api/v1/leads/{lead.json()['id']}/stage", json={"stage": "customer"}
        )
        assert won.status_code == 200
    now = datetime.now(UTC).isoformat()
    await insert_activities(
        database,
        [
            {"company_id": str(world.a.id), "campaign_id": cid, "contact_id": person,
             "activity_type": "email_replied", "occurred_at": now, "metadata": {}}
            for cid, person in ((short, people[1]), (long, people[3]))
        ],
    )  # fmt: skip
    alone = [
        (await world.a.agent.get(f"{CAMPAIGNS}/{cid}/performance")).json() for cid in (long, short)
    ]
    compared = await world.a.agent.post(
        f"{CAMPAIGNS}/analytics/compare", json={"campaign_ids": [long, short, long]}
    )
    assert compared.status_code == 200, compared.text
    assert compared.json()["campaigns"] == alone  # asked order, repeated id once
    # the 30-day campaign gets its conversion, the 5-day one is too late for its own
    assert [(c["converted"], c["revenue"]) for c in alone] == [(1, "70.00"), (0, "0.00")]
    for answer in alone:  # the reply names no step: it gets a row of its own
        assert answer["totals"]["replied"] == 1
        assert [step["step_id"] is None for step in answer["by_step"]] == [False, True]


async def test_compare_keeps_its_answers_when_the_median_cache_is_full(
    world: World, database: Database, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remembered medians are bounded: a comparison whose own medians do not all fit
    still answers each of them (it used to read them back after evicting them)."""
    from agentconnect.analytics import service as analytics

    people = [(await contact(world.a.admin, email=f"m{n}@x.example"))["id"] for n in range(2)]
    first, second = [await _sent(world, database, app, [person]) for person in people]
    await insert_activities(
        database,
        [{"company_id": str(world.a.id), "campaign_id": cid, "contact_id": person,
          "activity_type": "email_replied", "occurred_at": datetime.now(UTC).isoformat(),
          "metadata": {}} for cid, person in ((first, people[0]), (second, people[1]))],
    )  # fmt: skip
    monkeypatch.setattr(analytics, "_MEDIANS", type(analytics._MEDIANS)())
    monkeypatch.setattr(analytics, "_MEDIANS_KEPT", 1)
    for _ in range(2):  # computed, then one remembered and one computed again
        compared = await world.a.agent.post(
            f"{CAMPAIGNS}/analytics/compare", json={"campaign_ids": [first, second]}
        )
        assert compared.status_code == 200, compared.text
        assert [c["campaign_id"] for c in compared.json()["campaigns"]] == [first, second]
    assert len(analytics._MEDIANS) == 1
