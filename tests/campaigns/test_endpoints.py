"""Campaigns API: CRUD, steps, lifecycle, roles and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.campaigns.conftest import CAMPAIGNS, add_step, contact, email_step, new_campaign
from tests.fixtures.world import World

# --- campaigns ---------------------------------------------------------------------------------


async def test_create_with_every_field(world: World) -> None:
    body = await new_campaign(
        world.a.manager,
        name="Q1 push",
        description="new year",
        campaign_type="sms",
        goal_type="reply",
        target_criteria={"lifecycle_stages": ["mql"], "tags_all": ["vip"], "min_score": 50},
        schedule_start="2027-01-05T09:00:00Z",
        schedule_end="2027-02-05T09:00:00Z",
        timezone="Europe/Paris",
        send_time_optimization=True,
        quiet_hours={"start": "09:00", "end": "20:00"},
        budget="1500.5",
        cost=20,
        currency="eur",
        call_flow_config={"greeting": "hi"},
    )
    assert body["status"] == "draft"
    assert body["campaign_type"] == "sms"
    assert body["goal_type"] == "reply"
    assert body["target_criteria"] == {
        "lifecycle_stages": ["mql"], "tags_all": ["vip"], "min_score": 50,
    }  # fmt: skip
    assert body["budget"] == "1500.50"
    assert body["cost"] == "20.00"
    assert body["currency"] == "EUR"
    assert body["quiet_hours"] == {"start": "09:00", "end": "20:00"}
    assert body["message_count"] == 0
    assert body["enrollment_counts"] == {}
    assert body["started_at"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"campaign_type": "email"}, "name"),
        ({"name": "x"}, "campaign_type"),
        ({"name": "x", "campaign_type": "fax"}, "campaign_type"),
        ({"name": "", "campaign_type": "email"}, "name"),
        ({"name": "x", "campaign_type": "email", "goal_type": "fame"}, "goal_type"),
        ({"name": "x", "campaign_type": "email", "budget": "-1"}, "budget"),
        ({"name": "x", "campaign_type": "email", "timezone": "Moon/Base"}, "timezone"),
        ({"name": "x", "campaign_type": "email", "quiet_hours": {"start": "25:00"}}, "start"),
        ({"name": "x", "campaign_type": "email", "target_criteria": {"colour": ["red"]}}, "colour"),
        (
            {"name": "x", "campaign_type": "email", "target_criteria": {"min_score": 101}},
            "min_score",
        ),
        ({"name": "x", "campaign_type": "email", "target_criteria": {"lead_stages": ["won"]}}, "0"),
        (
            {"name": "x", "campaign_type": "email", "schedule_start": "2027-01-01T00:00:00"},
            "schedule_start",
        ),
        ({"name": "x", "campaign_type": "email", "surprise": True}, "surprise"),
    ],
)
async def test_create_rejects_bad_input(world: World, payload: dict[str, Any], field: str) -> None:
    response = await world.a.manager.post(CAMPAIGNS, json=payload)
    assert response.status_code == 422, response.text
    locs = [str(p) for e in response.json()["errors"] for p in e["loc"]]
    assert field in locs


@pytest.mark.parametrize(
    "criteria",
    [
        {"min_score": 80, "max_score": 20},
        {"created_after": "2027-01-02T00:00:00Z", "created_before": "2027-01-01T00:00:00Z"},
        {"opt_in_statuses": ["opted_out"]},
    ],
)
async def test_contradictory_criteria_are_422(world: World, criteria: dict[str, Any]) -> None:
    response = await world.a.manager.post(
        CAMPAIGNS, json={"name": "x", "campaign_type": "email", "target_criteria": criteria}
    )
    assert response.status_code == 422


async def test_schedule_end_after_start(world: World) -> None:
    response = await world.a.manager.post(
        CAMPAIGNS,
        json={"name": "x", "campaign_type": "email", "schedule_start": "2027-01-02T00:00:00Z",
              "schedule_end": "2027-01-01T00:00:00Z"},
    )  # fmt: skip
    assert response.status_code == 422


async def test_agents_read_but_do_not_write_campaigns(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    assert (await world.a.agent.get(f"{CAMPAIGNS}/{campaign['id']}")).status_code == 200
    assert (await world.a.agent.get(CAMPAIGNS)).json()["total"] == 1
    denied = [
        await world.a.agent.post(CAMPAIGNS, json={"name": "x", "campaign_type": "email"}),
        await world.a.agent.patch(f"{CAMPAIGNS}/{campaign['id']}", json={"name": "y"}),
        await world.a.agent.delete(f"{CAMPAIGNS}/{campaign['id']}"),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/clone"),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/start"),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/pause"),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/resume"),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/messages", json={}),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": []}),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/enroll-from-criteria"),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/unenroll", json={}),
        await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/test-send", json={}),
    ]
    assert [r.status_code for r in denied] == [403] * len(denied)


async def test_another_companys_campaign_is_404_everywhere(world: World) -> None:
    theirs = await new_campaign(world.b.admin, name="B only")
    step = await email_step(world.b.admin, theirs["id"])
    base = f"{CAMPAIGNS}/{theirs['id']}"
    responses = [
        await world.a.admin.get(base),
        await world.a.admin.patch(base, json={"name": "stolen"}),
        await world.a.admin.delete(base),
        await world.a.admin.post(f"{base}/clone"),
        await world.a.admin.get(f"{base}/summary"),
        await world.a.admin.get(f"{base}/messages"),
        await world.a.admin.post(f"{base}/messages", json={"subject": "s", "body": "b"}),
        await world.a.admin.patch(f"{base}/messages/{step['id']}", json={"body": "x"}),
        await world.a.admin.delete(f"{base}/messages/{step['id']}"),
        await world.a.admin.post(f"{base}/targeting/preview"),
        await world.a.admin.post(f"{base}/enroll", json={"contact_ids": [str(uuid.uuid4())]}),
        await world.a.admin.post(f"{base}/enroll-from-criteria"),
        await world.a.admin.post(f"{base}/unenroll", json={"contact_ids": [str(uuid.uuid4())]}),
        await world.a.admin.get(f"{base}/contacts"),
        await world.a.admin.post(f"{base}/start"),
        await world.a.admin.post(f"{base}/pause"),
        await world.a.admin.post(f"{base}/resume"),
        await world.a.admin.post(
            f"{base}/test-send", json={"message_id": step["id"], "to": "a@x.example"}
        ),
    ]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert (await world.a.admin.get(CAMPAIGNS)).json()["total"] == 0
    still = (await world.b.admin.get(base)).json()
    assert (still["name"], still["status"], still["message_count"]) == ("B only", "draft", 1)


async def test_list_filters_and_views(world: World) -> None:
    email = await new_campaign(world.a.manager, name="Alpha mail", campaign_type="email")
    sms = await new_campaign(world.a.manager, name="Beta text", campaign_type="sms")
    await add_step(world.a.manager, sms["id"], body="hi")
    person = await contact(world.a.admin, first_name="P", phone="+14155550199")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{sms['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    assert (await world.a.manager.post(f"{CAMPAIGNS}/{sms['id']}/start")).status_code == 200
    await new_campaign(world.b.admin, name="Other company", campaign_type="sms")

    def names(response: Any) -> list[str]:
        return [c["name"] for c in response.json()["items"]]

    assert names(await world.a.agent.get(CAMPAIGNS, params={"status": "active"})) == ["Beta text"]
    assert names(await world.a.agent.get(CAMPAIGNS, params={"campaign_type": "email"})) == [
        "Alpha mail"
    ]
    assert names(await world.a.agent.get(CAMPAIGNS, params={"q": "alp"})) == ["Alpha mail"]
    assert names(await world.a.agent.get(CAMPAIGNS, params={"sort": "name"})) == [
        "Alpha mail", "Beta text",
    ]  # fmt: skip
    assert names(await world.a.agent.get(f"{CAMPAIGNS}/active")) == ["Beta text"]
    assert names(await world.a.agent.get(f"{CAMPAIGNS}/by-type/sms")) == ["Beta text"]
    assert (await world.a.agent.get(f"{CAMPAIGNS}/by-type/fax")).status_code == 422
    assert (await world.a.agent.get(CAMPAIGNS, params={"status": "running"})).status_code == 422
    assert email["id"] in [c["id"] for c in (await world.a.agent.get(CAMPAIGNS)).json()["items"]]


async def test_patch_changes_settings(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    response = await world.a.manager.patch(
        f"{CAMPAIGNS}/{campaign['id']}",
        json={"name": "Renamed", "campaign_type": "sms", "target_criteria": {"tags_any": ["a"]}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["campaign_type"]) == ("Renamed", "sms")
    assert body["target_criteria"] == {"tags_any": ["a"]}
    assert (await world.a.manager.patch(
        f"{CAMPAIGNS}/{campaign['id']}", json={"name": None}
    )).status_code == 422  # fmt: skip


async def test_delete_removes_a_draft_and_archives_the_rest(world: World) -> None:
    draft = await new_campaign(world.a.manager)
    assert (await world.a.manager.delete(f"{CAMPAIGNS}/{draft['id']}")).status_code == 204
    assert (await world.a.manager.get(f"{CAMPAIGNS}/{draft['id']}")).status_code == 404

    running = await new_campaign(world.a.manager)
    await email_step(world.a.manager, running["id"])
    person = await contact(world.a.admin, email="r@x.example")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{running['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    await world.a.manager.post(f"{CAMPAIGNS}/{running['id']}/start")
    assert (await world.a.manager.delete(f"{CAMPAIGNS}/{running['id']}")).status_code == 204
    archived = (await world.a.manager.get(f"{CAMPAIGNS}/{running['id']}")).json()
    assert archived["status"] == "archived"
    assert archived["enrollment_counts"] == {"unenrolled": 1}  # nothing more will be sent
    timeline = (await world.a.agent.get(f"/api/v1/contacts/{person['id']}/activities")).json()
    assert timeline["items"][0]["activity_type"] == "unenrolled"
    assert timeline["items"][0]["metadata"] == {"reason": "campaign archived"}
    frozen = await world.a.manager.patch(f"{CAMPAIGNS}/{running['id']}", json={"name": "x"})
    assert frozen.status_code == 409
    assert "archived" in frozen.json()["detail"]
    step_change = await world.a.manager.post(
        f"{CAMPAIGNS}/{running['id']}/messages", json={"subject": "s", "body": "b"}
    )
    assert step_change.status_code == 409


async def test_channel_type_is_fixed_once_started(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"])
    person = await contact(world.a.admin, email="c@x.example")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    response = await world.a.manager.patch(
        f"{CAMPAIGNS}/{campaign['id']}", json={"campaign_type": "sms"}
    )
    assert response.status_code == 409


async def test_clone_copies_settings_and_steps_without_enrollments(world: World) -> None:
    source = await new_campaign(world.a.manager, name="Original", goal_type="click", budget=100)
    await email_step(world.a.manager, source["id"], subject="One")
    await email_step(world.a.manager, source["id"], subject="Two", delay_value=3)
    person = await contact(world.a.admin, email="c@x.example")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{source['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    response = await world.a.manager.post(f"{CAMPAIGNS}/{source['id']}/clone")
    assert response.status_code == 201
    clone = response.json()
    assert clone["id"] != source["id"]
    assert (clone["name"], clone["status"], clone["goal_type"]) == (
        "Copy of Original",
        "draft",
        "click",
    )
    assert clone["budget"] == "100.00"
    assert clone["message_count"] == 2
    assert clone["enrollment_counts"] == {}
    steps = (await world.a.manager.get(f"{CAMPAIGNS}/{clone['id']}/messages")).json()
    assert [(s["sequence_order"], s["subject"], s["delay_value"]) for s in steps] == [
        (1, "One", 0), (2, "Two", 3),
    ]  # fmt: skip


async def test_summary(world: World) -> None:
    campaign = await new_campaign(world.a.manager, budget=500, cost=120)
    await email_step(world.a.manager, campaign["id"])
    person = await contact(world.a.admin, email="s@x.example")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    summary = (await world.a.agent.get(f"{CAMPAIGNS}/{campaign['id']}/summary")).json()
    assert summary["campaign"]["id"] == campaign["id"]
    assert len(summary["steps"]) == 1
    assert summary["enrollment_counts"] == {"active": 1}
    assert summary["metrics"] == {"enrolled": 1}
    assert (summary["total_cost"], summary["budget_remaining"]) == ("120.00", "380.00")


# --- lifecycle ----------------------------------------------------------------------------------


async def test_start_needs_steps_and_an_audience(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    no_steps = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    assert no_steps.status_code == 409
    assert "steps" in no_steps.json()["detail"]
    await email_step(world.a.manager, campaign["id"])
    nobody = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    assert nobody.status_code == 409
    assert "enrolled" in nobody.json()["detail"]
    assert (await world.a.manager.get(f"{CAMPAIGNS}/{campaign['id']}")).json()["status"] == "draft"


async def test_lifecycle_transitions_and_illegal_ones(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"])
    person = await contact(world.a.admin, email="l@x.example")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    base = f"{CAMPAIGNS}/{campaign['id']}"

    paused_draft = await world.a.manager.post(f"{base}/pause")
    assert paused_draft.status_code == 409
    assert "draft" in paused_draft.json()["detail"]
    assert (await world.a.manager.post(f"{base}/resume")).status_code == 409

    started = (await world.a.manager.post(f"{base}/start")).json()
    assert started["status"] == "active"
    assert started["started_at"] is not None
    assert (await world.a.manager.post(f"{base}/start")).status_code == 409
    assert (await world.a.manager.post(f"{base}/resume")).status_code == 409

    paused = (await world.a.manager.post(f"{base}/pause")).json()
    assert paused["status"] == "paused"
    enrollment = (await world.a.manager.get(f"{base}/contacts")).json()["items"][0]
    assert enrollment["status"] == "active"  # keeps its place while paused
    assert (await world.a.manager.post(f"{base}/pause")).status_code == 409
    assert (await world.a.manager.post(f"{base}/resume")).json()["status"] == "active"


async def test_start_enrolls_from_criteria_and_schedules_the_first_step(world: World) -> None:
    campaign = await new_campaign(world.a.manager, target_criteria={"tags_all": ["vip"]})
    await email_step(world.a.manager, campaign["id"], delay_value=1, delay_unit="hours")
    await contact(world.a.admin, email="v@x.example", tags=["vip"])
    started = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    assert started.json()["enrollment_counts"] == {"active": 1}
    enrollment = (await world.a.manager.get(f"{CAMPAIGNS}/{campaign['id']}/contacts")).json()
    item = enrollment["items"][0]
    assert item["next_step_at"] > item["enrolled_at"]


async def test_unenrolling_everyone_completes_an_active_campaign(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"])
    person = await contact(world.a.admin, email="u@x.example")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [person["id"]]}
    )
    await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/unenroll",
        json={"contact_ids": [person["id"], str(uuid.uuid4())]},
    )
    assert response.json()["updated"] == 1
    assert len(response.json()["not_found"]) == 1
    done = (await world.a.manager.get(f"{CAMPAIGNS}/{campaign['id']}")).json()
    assert done["status"] == "completed"
    assert done["completed_at"] is not None
    timeline = (await world.a.agent.get(f"/api/v1/contacts/{person['id']}/activities")).json()
    assert [a["activity_type"] for a in timeline["items"]] == ["unenrolled", "enrolled"]
    assert timeline["items"][0]["metadata"] == {"reason": "unenrolled by a user"}


# --- the activity log (contract endpoint 20) ----------------------------------------------------


async def test_the_activity_log_filters_and_pages(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"])
    people = [(await contact(world.a.admin, email=f"log{n}@x.example"))["id"] for n in range(3)]
    enrolled = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": people}
    )
    assert enrolled.status_code == 200
    clicked = await world.a.admin.post(
        "/api/v1/activities",
        json={"contact_id": people[0], "activity_type": "link_clicked",
              "occurred_at": "2026-11-20T10:00:00Z", "campaign_id": campaign["id"]},
    )  # fmt: skip
    assert clicked.status_code == 201, clicked.text
    log = f"{CAMPAIGNS}/{campaign['id']}/activities"

    everything = (await world.a.agent.get(log)).json()
    assert everything["total"] == 4
    kinds = [item["activity_type"] for item in everything["items"]]
    assert kinds.count("enrolled") == 3
    assert kinds[-1] == "link_clicked"  # newest first: the click happened days before

    only_clicks = (await world.a.agent.get(log, params={"activity_type": "link_clicked"})).json()
    assert [i["contact_id"] for i in only_clicks["items"]] == [people[0]]
    one_contact = (await world.a.agent.get(log, params={"contact_id": people[1]})).json()
    assert one_contact["total"] == 1
    window = await world.a.agent.get(
        log, params={"since": "2026-11-19T00:00:00Z", "until": "2026-11-21T00:00:00Z"}
    )
    assert window.json()["total"] == 1
    paged = (await world.a.agent.get(log, params={"limit": 2, "offset": 2})).json()
    assert len(paged["items"]) == 2
    assert paged["total"] == 4


async def test_the_activity_log_refuses_bad_filters_and_other_companies(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    log = f"{CAMPAIGNS}/{campaign['id']}/activities"
    assert (await world.b.manager.get(log)).status_code == 404
    assert (await world.a.agent.get(log, params={"activity_type": "nope"})).status_code == 422
    assert (await world.a.agent.get(log, params={"since": "yesterday"})).status_code == 422
    assert (
        await world.a.agent.get(log, params={"since": "2026-11-20T00:00:00"})
    ).status_code == 422
    crossed = await world.a.agent.get(
        log, params={"since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}
    )
    assert crossed.status_code == 422
    assert "since must be before until" in crossed.json()["detail"]
