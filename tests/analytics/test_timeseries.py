"""Time series in the campaign's time zone: local days across a DST change, empty buckets at
zero, hours, conversions, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agentconnect.db import Database
from tests.analytics.conftest import insert_activities
from tests.campaigns.conftest import CAMPAIGNS, contact, new_campaign
from tests.fixtures.world import World


def _range(since: str, until: str, **params: str) -> dict[str, str]:
    return {"since": since, "until": until, **params}


async def test_days_in_new_york_across_the_end_of_summer_time(
    world: World, database: Database
) -> None:
    campaign = await new_campaign(world.a.manager, timezone="America/New_York")
    person = (await contact(world.a.admin, email="ts@x.example"))["id"]

    def sent(at: str) -> dict[str, Any]:
        return {"company_id": str(world.a.id), "campaign_id": campaign["id"],
                "contact_id": person, "activity_type": "email_sent", "occurred_at": at,
                "metadata": {}}  # fmt: skip

    # Summer time ends on Sunday 1 November 2026 at 02:00 (clocks go back to 01:00).
    await insert_activities(
        database,
        [
            sent("2026-10-31T12:00:00Z"),  # Sat 31 Oct 08:00 EDT
            sent("2026-11-01T05:30:00Z"),  # Sun 1 Nov 01:30 EDT (the first 01:30)
            sent("2026-11-01T06:30:00Z"),  # Sun 1 Nov 01:30 EST (the second)
            sent("2026-11-02T04:30:00Z"),  # Sun 1 Nov 23:30 EST: still Sunday there
        ],
    )
    url = f"{CAMPAIGNS}/{campaign['id']}/timeseries"
    response = await world.a.agent.get(
        url, params=_range("2026-10-30T04:00:00Z", "2026-11-03T05:00:00Z", interval="day")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "America/New_York"
    points = [(p["bucket"], p["value"]) for p in body["points"]]
    assert points == [
        ("2026-10-30T04:00:00Z", 0),  # Fri 30 Oct, 00:00 EDT: empty, still listed
        ("2026-10-31T04:00:00Z", 1),
        ("2026-11-01T04:00:00Z", 3),  # Sunday is 25 hours long
        ("2026-11-02T05:00:00Z", 0),  # Monday starts at 00:00 EST
    ]

    hours = await world.a.agent.get(
        url, params=_range("2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", interval="hour")
    )
    assert [p["value"] for p in hours.json()["points"]] == [1, 1]  # both 01:00 hours


async def test_conversions_count_when_they_happened(
    world: World, database: Database, app: Any
) -> None:
    from tests.analytics.test_performance import _sent

    person = (await contact(world.a.admin, email="conv@x.example"))["id"]
    cid = await _sent(world, database, app, [person])
    lead = await world.a.manager.post("/api/v1/leads", json={"contact_id": person, "title": "C"})
    await world.a.manager.put(
        f"/api/v1/leads/{lead.json()['id']}/stage", json={"stage": "customer"}
    )
    now = datetime.now(UTC)
    response = await world.a.agent.get(
        f"{CAMPAIGNS}/{cid}/timeseries", params={"metric": "converted", "interval": "day"}
    )
    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert sum(p["value"] for p in points) == 1
    assert points[-1]["value"] == 1  # today
    assert datetime.fromisoformat(points[-1]["bucket"]) <= now


async def test_bad_series_requests_are_refused(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    url = f"{CAMPAIGNS}/{campaign['id']}/timeseries"
    assert (await world.a.agent.get(url, params={"metric": "revenue"})).status_code == 422
    assert (await world.a.agent.get(url, params={"interval": "minute"})).status_code == 422
    backwards = await world.a.agent.get(
        url, params={"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    )
    assert backwards.status_code == 422
    too_long = await world.a.agent.get(
        url, params=_range("2020-01-01T00:00:00Z", "2026-01-01T00:00:00Z", interval="hour")
    )
    assert too_long.status_code == 422
    assert "at most 5,000 points" in too_long.json()["detail"]
    assert (await world.b.manager.get(url)).status_code == 404
