"""Targeting preview, enrollment by id and by criteria, unenrollment, and test-send."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.campaigns.conftest import CAMPAIGNS, add_step, contact, email_step, new_campaign
from tests.fixtures.world import World


@pytest.fixture
async def people(world: World) -> dict[str, str]:
    made = {
        "vip": await contact(world.a.admin, first_name="Vip", email="vip@x.example", tags=["vip"],
                             lifecycle_stage="mql", lead_source="webinar"),
        "both": await contact(world.a.admin, first_name="Both", email="both@x.example",
                              phone="+14155550150", tags=["vip", "enterprise"]),
        "phone_only": await contact(world.a.admin, first_name="Phone", phone="+14155550151",
                                    tags=["vip"]),
        "dnc": await contact(world.a.admin, first_name="Dnc", email="dnc@x.example", tags=["vip"],
                             do_not_contact=True),
        "opted_out": await contact(world.a.admin, first_name="Out", email="out@x.example",
                                   tags=["vip"], opt_in_status="opted_out"),
        "plain": await contact(world.a.admin, first_name="Plain", email="plain@x.example"),
    }  # fmt: skip
    await contact(world.b.admin, first_name="Theirs", email="vip@x.example", tags=["vip"])
    return {name: body["id"] for name, body in made.items()}


async def test_preview_counts_and_samples_without_enrolling(
    world: World, people: dict[str, str]
) -> None:
    campaign = await new_campaign(world.a.manager, target_criteria={"tags_any": ["vip"]})
    response = await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/targeting/preview")
    body = response.json()
    # phone_only has no e-mail, dnc and opted_out are never targeted
    assert body["total"] == 2
    assert {c["id"] for c in body["sample"]} == {people["vip"], people["both"]}
    override = await world.a.agent.post(
        f"{CAMPAIGNS}/{campaign['id']}/targeting/preview",
        json={"target_criteria": {"tags_all": ["vip", "enterprise"]}, "sample_size": 0},
    )
    assert override.json() == {"total": 1, "sample": []}
    counts = (await world.a.agent.get(f"{CAMPAIGNS}/{campaign['id']}")).json()["enrollment_counts"]
    assert counts == {}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"lifecycle_stages": ["mql"]}, {"vip"}),
        ({"lead_sources": ["webinar"]}, {"vip"}),
        ({"tags_all": ["vip"]}, {"vip", "both"}),
        ({"tags_any": ["enterprise", "nothing"]}, {"both"}),
        ({"opt_in_statuses": ["unknown"]}, {"vip", "both", "plain"}),
        ({"min_score": 1}, set()),
        ({"max_score": 0}, {"vip", "both", "plain"}),
        ({"created_before": "2000-01-01T00:00:00Z"}, set()),
        ({}, {"vip", "both", "plain"}),
    ],
)
async def test_criteria(
    world: World, people: dict[str, str], criteria: dict[str, Any], expected: set[str]
) -> None:
    campaign = await new_campaign(world.a.manager)
    response = await world.a.agent.post(
        f"{CAMPAIGNS}/{campaign['id']}/targeting/preview",
        json={"target_criteria": criteria, "sample_size": 100},
    )
    found = {
        name for name, id_ in people.items() if id_ in {c["id"] for c in response.json()["sample"]}
    }
    assert found == expected


async def test_lead_stage_criteria(world: World, people: dict[str, str]) -> None:
    await world.a.admin.post("/api/v1/leads", json={"contact_id": people["plain"], "stage": "sql"})
    campaign = await new_campaign(world.a.manager)
    response = await world.a.agent.post(
        f"{CAMPAIGNS}/{campaign['id']}/targeting/preview",
        json={"target_criteria": {"lead_stages": ["sql", "opportunity"]}},
    )
    assert [c["id"] for c in response.json()["sample"]] == [people["plain"]]


async def test_sms_campaigns_target_phones(world: World, people: dict[str, str]) -> None:
    campaign = await new_campaign(
        world.a.manager, campaign_type="sms", target_criteria={"tags_any": ["vip"]}
    )
    response = await world.a.agent.post(f"{CAMPAIGNS}/{campaign['id']}/targeting/preview")
    assert {c["id"] for c in response.json()["sample"]} == {people["both"], people["phone_only"]}


async def test_enroll_by_id_reports_each_skip(world: World, people: dict[str, str]) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"])
    theirs_id = (await world.b.admin.get("/api/v1/contacts")).json()["items"][0]["id"]
    missing = str(uuid.uuid4())
    ids = [people["vip"], people["dnc"], people["opted_out"], people["phone_only"], theirs_id,
           missing, people["vip"]]  # fmt: skip
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": ids}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["enrolled"] == 1
    reasons = {s["contact_id"]: s["reason"] for s in body["skipped"]}
    assert reasons == {
        people["dnc"]: "do_not_contact",
        people["opted_out"]: "opted_out",
        people["phone_only"]: "no_address",
        theirs_id: "not_found",
        missing: "not_found",
    }
    again = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [people["vip"]]}
    )
    assert again.json() == {
        "enrolled": 0, "skipped": [{"contact_id": people["vip"], "reason": "already_enrolled"}]
    }  # fmt: skip
    theirs = (await world.b.admin.get(f"/api/v1/contacts/{theirs_id}/activities")).json()
    assert theirs["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contact_ids": []},
        {"contact_ids": ["x"]},
        {"contact_ids": [str(uuid.uuid4())] * 10_001},
    ],
)
async def test_enroll_validation(world: World, body: dict[str, Any]) -> None:
    campaign = await new_campaign(world.a.manager)
    assert (
        await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/enroll", json=body)
    ).status_code == 422


async def test_enroll_from_criteria_counts(world: World, people: dict[str, str]) -> None:
    campaign = await new_campaign(world.a.manager, target_criteria={"tags_any": ["vip"]})
    await email_step(world.a.manager, campaign["id"], delay_value=30, delay_unit="minutes")
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [people["vip"]]}
    )
    response = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/enroll-from-criteria")
    # matched: vip, both, phone_only, dnc, opted_out; enrolled now: both (vip already was)
    assert response.json() == {"enrolled": 1, "skipped": 4}
    override = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll-from-criteria",
        json={"target_criteria": {"lifecycle_stages": ["lead"]}},
    )
    assert override.json()["enrolled"] == 1  # plain; vip and both are enrolled already
    listed = (
        await world.a.agent.get(
            f"{CAMPAIGNS}/{campaign['id']}/contacts", params={"status": "active"}
        )
    ).json()
    assert listed["total"] == 3
    assert {e["current_step"] for e in listed["items"]} == {1}
    timeline = (await world.a.agent.get(f"/api/v1/contacts/{people['both']}/activities")).json()
    assert timeline["items"][0]["campaign_id"] == campaign["id"]


async def test_enrollment_refused_in_frozen_campaigns(world: World, people: dict[str, str]) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"])
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [people["vip"]]}
    )
    await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/start")
    await world.a.manager.delete(f"{CAMPAIGNS}/{campaign['id']}")
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll", json={"contact_ids": [people["both"]]}
    )
    assert response.status_code == 409


async def test_enrollment_list_filters_by_status(world: World, people: dict[str, str]) -> None:
    campaign = await new_campaign(world.a.manager)
    await email_step(world.a.manager, campaign["id"])
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/enroll",
        json={"contact_ids": [people["vip"], people["both"]]},
    )
    await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/unenroll", json={"contact_ids": [people["vip"]]}
    )
    gone = (
        await world.a.agent.get(
            f"{CAMPAIGNS}/{campaign['id']}/contacts", params={"status": "unenrolled"}
        )
    ).json()
    assert [e["contact"]["id"] for e in gone["items"]] == [people["vip"]]
    assert gone["items"][0]["exited_at"] is not None
    bad = await world.a.agent.get(
        f"{CAMPAIGNS}/{campaign['id']}/contacts", params={"status": "gone"}
    )
    assert bad.status_code == 422


# --- test-send ----------------------------------------------------------------------------------


async def test_test_send_renders_for_a_contact_and_records_nothing_else(
    world: World, people: dict[str, str]
) -> None:
    await world.a.admin.patch("/api/v1/company", json={"name": "Northwind"})
    campaign = await new_campaign(world.a.manager)
    step = await email_step(
        world.a.manager, campaign["id"], subject="{{first_name}} at {{company.name}}",
        body="<p>Hi {{first_name}}, {{custom.missing|no plan}}</p>",
    )  # fmt: skip
    await world.a.admin.patch(f"/api/v1/contacts/{people['vip']}", json={"first_name": "<b>Vi</b>"})
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "Tester@X.example", "contact_id": people["vip"]},
    )
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["to"] == "tester@x.example"
    assert sent["subject"] == "<b>Vi</b> at Northwind"
    assert sent["html_body"] == "<p>Hi &lt;b&gt;Vi&lt;/b&gt;, no plan</p>"
    assert sent["body"] == "Hi <b>Vi</b>, no plan"
    assert sent["provider"] == "console"
    outbox = (await world.a.manager.get("/api/v1/channels/console/messages")).json()
    assert outbox["total"] == 1
    assert outbox["items"][0]["html_body"] == sent["html_body"]
    details = (await world.a.agent.get(f"{CAMPAIGNS}/{campaign['id']}")).json()
    assert details["enrollment_counts"] == {}
    assert (await world.a.agent.get(f"/api/v1/contacts/{people['vip']}/activities")).json()[
        "total"
    ] == 0


async def test_test_send_with_sample_data_and_variants(world: World) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="sms")
    step = await add_step(
        world.a.manager, campaign["id"], body="Hi {{first_name}}",
        variants=[{"name": "B", "body": "Hey {{first_name}} from {{company_name}}"}],
    )  # fmt: skip
    plain = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "(415) 555-0123"},
    )
    assert (plain.json()["to"], plain.json()["body"]) == ("+14155550123", "Hi Alex")
    variant = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "+14155550123", "variant": "B"},
    )
    assert variant.json()["body"] == "Hey Alex from Sample Corp"
    unknown = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "+14155550123", "variant": "Z"},
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("campaign_type", "to"),
    [("email", "+14155550123"), ("sms", "someone@x.example"), ("sms", "12")],
)
async def test_test_send_checks_the_address_for_the_channel(
    world: World, campaign_type: str, to: str
) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type=campaign_type)
    step = await (email_step if campaign_type == "email" else add_step)(
        world.a.manager, campaign["id"], **({} if campaign_type == "email" else {"body": "hi"})
    )
    response = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send", json={"message_id": step["id"], "to": to}
    )
    assert response.status_code == 422
    assert "to" in response.json()["detail"]


async def test_test_send_with_foreign_contact_or_step_is_404(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    step = await email_step(world.a.manager, campaign["id"])
    theirs = await contact(world.b.admin, email="t@x.example")
    foreign_contact = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": step["id"], "to": "a@x.example", "contact_id": theirs["id"]},
    )
    assert foreign_contact.status_code == 404
    missing_step = await world.a.manager.post(
        f"{CAMPAIGNS}/{campaign['id']}/test-send",
        json={"message_id": str(uuid.uuid4()), "to": "a@x.example"},
    )
    assert missing_step.status_code == 404
