"""Sequence steps: channel rules, token checks, ordering."""

from __future__ import annotations

from typing import Any

import pytest

from tests.campaigns.conftest import CAMPAIGNS, add_step, email_step, new_campaign
from tests.fixtures.world import World


async def steps_of(world: World, campaign_id: str) -> list[dict[str, Any]]:
    response = await world.a.agent.get(f"{CAMPAIGNS}/{campaign_id}/messages")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()
    return items


async def test_step_defaults_and_fields(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    step = await email_step(
        world.a.manager,
        campaign["id"],
        delay_value=2,
        delay_unit="days",
        variants=[
            {"name": "A", "weight": 1, "subject": "Hi {{first_name}}"},
            {"name": "B", "weight": 3, "subject": "Hey {{custom.nickname|friend}}"},
        ],
        send_window={"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]},
    )
    assert step["sequence_order"] == 1
    assert step["message_type"] == "email"
    assert (step["delay_value"], step["delay_unit"]) == (2, "days")
    assert [v["name"] for v in step["variants"]] == ["A", "B"]
    assert step["send_window"] == {"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4]}


@pytest.mark.parametrize(
    ("campaign_type", "payload", "field", "phrase"),
    [
        ("email", {"body": "no subject"}, "subject", "subject"),
        ("email", {"subject": "s", "body": ""}, "body", "body"),
        ("email", {"subject": "Hi {{nickname}}", "body": "b"}, "subject", "{{nickname}}"),
        ("email", {"subject": "s", "body": "{{ company.secret }}"}, "body", "company.secret"),
        ("email", {"subject": "s", "body": "b", "variants": [{"name": "A", "body": "{{x}}"}]},
         "variants.0.body", "{{x}}"),
        ("sms", {"body": "x" * 1601}, "body", "1,600"),
        ("sms", {"body": ""}, "body", "body"),
        ("sms", {"body": "ok", "variants": [{"name": "A", "body": "y" * 1601}]},
         "variants.0.body", "1,600"),
        ("whatsapp", {"body": "w" * 4097}, "body", "4,096"),
        ("voice", {"body": ""}, "body", "script"),
        ("email", {"message_type": "sms", "body": "b"}, "message_type", "email"),
        ("multi_channel", {"body": "b"}, "message_type", "message_type"),
    ],
)  # fmt: skip
async def test_steps_are_checked_for_their_channel(
    world: World, campaign_type: str, payload: dict[str, Any], field: str, phrase: str
) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type=campaign_type)
    response = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/messages", json=payload)
    assert response.status_code == 422, response.text
    body = response.json()
    assert phrase in body["detail"]
    assert field in [".".join(str(p) for p in e["loc"][1:]) for e in body["errors"]]
    assert await steps_of(world, campaign["id"]) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"subject": "s", "body": "b", "delay_value": -1},
        {"subject": "s", "body": "b", "delay_unit": "fortnights"},
        {"subject": "s", "body": "b", "variants": [{"name": "A"}, {"name": "A"}]},
        {"subject": "s", "body": "b", "variants": [{"name": "A", "weight": 0}]},
        {"subject": "s", "body": "b", "send_window": {"start": "09:00", "end": "09:00"}},
        {
            "subject": "s",
            "body": "b",
            "send_window": {"start": "09:00", "end": "10:00", "days": [7]},
        },
        {"subject": "s", "body": "b", "sequence_order": 0},
        {"subject": "s", "body": 42},
    ],
)
async def test_step_field_validation(world: World, payload: dict[str, Any]) -> None:
    campaign = await new_campaign(world.a.manager)
    response = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/messages", json=payload)
    assert response.status_code == 422, response.text


async def test_voice_step_may_rely_on_the_call_flow(world: World) -> None:
    campaign = await new_campaign(
        world.a.manager,
        campaign_type="voice",
        call_flow_config={"closing": "Thanks, {{first_name|friend}}. Goodbye."},
    )
    step = await add_step(world.a.manager, campaign["id"])
    assert step["message_type"] == "voice"


async def test_multi_channel_steps_name_their_channel(world: World) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="multi_channel")
    await email_step(world.a.manager, campaign["id"], message_type="email")
    sms = await add_step(
        world.a.manager, campaign["id"], message_type="sms", body="Hi {{first_name}}"
    )
    assert sms["message_type"] == "sms"


async def test_inserting_a_step_moves_the_later_ones_down(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    for subject in ("one", "two", "three"):
        await email_step(world.a.manager, campaign["id"], subject=subject)
    await email_step(world.a.manager, campaign["id"], subject="one and a half", sequence_order=2)
    await email_step(world.a.manager, campaign["id"], subject="last", sequence_order=99)
    steps = await steps_of(world, campaign["id"])
    assert [(s["sequence_order"], s["subject"]) for s in steps] == [
        (1, "one"), (2, "one and a half"), (3, "two"), (4, "three"), (5, "last"),
    ]  # fmt: skip


async def test_update_and_delete_a_step(world: World) -> None:
    campaign = await new_campaign(world.a.manager)
    step = await email_step(world.a.manager, campaign["id"])
    path = f"{CAMPAIGNS}/{campaign['id']}/messages/{step['id']}"
    updated = await world.a.manager.patch(
        path, json={"subject": "New {{last_name}}", "delay_value": 5}
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["subject"], updated.json()["delay_value"]) == ("New {{last_name}}", 5)
    bad = await world.a.manager.patch(path, json={"subject": ""})
    assert bad.status_code == 422
    assert (await world.a.manager.patch(path, json={"delay_value": None})).status_code == 422
    unknown = await world.a.manager.patch(path, json={"body": "{{favourite_food}}"})
    assert unknown.status_code == 422
    assert "{{favourite_food}}" in unknown.json()["detail"]
    assert (await world.a.manager.delete(path)).status_code == 204
    assert (await world.a.manager.delete(path)).status_code == 404
    assert await steps_of(world, campaign["id"]) == []


async def test_step_of_another_campaign_is_404(world: World) -> None:
    first = await new_campaign(world.a.manager)
    second = await new_campaign(world.a.manager)
    step = await email_step(world.a.manager, first["id"])
    response = await world.a.manager.patch(
        f"{CAMPAIGNS}/{second['id']}/messages/{step['id']}", json={"subject": "x"}
    )
    assert response.status_code == 404


# --- channel options ----------------------------------------------------------------------------

TEMPLATE = {"content_sid": "HX" + "b" * 32, "variables": {"1": "{{first_name|there}}"}}


async def test_a_whatsapp_step_may_be_only_an_approved_template(world: World) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="whatsapp")
    step = await add_step(world.a.manager, campaign["id"], whatsapp_template=TEMPLATE)
    assert step["whatsapp_template"] == TEMPLATE
    assert step["body"] == ""
    listed = (await world.a.manager.get(f"{CAMPAIGNS}/{campaign['id']}/messages")).json()
    assert listed[0]["whatsapp_template"] == TEMPLATE
    # the clone keeps it
    clone = (await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/clone")).json()
    cloned = (await world.a.manager.get(f"{CAMPAIGNS}/{clone['id']}/messages")).json()
    assert cloned[0]["whatsapp_template"] == TEMPLATE
    # and an update may drop it again, once a body says what to send instead
    patched = await world.a.manager.patch(
        f"{CAMPAIGNS}/{campaign['id']}/messages/{step['id']}",
        json={"whatsapp_template": None, "body": "Hello"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["whatsapp_template"] is None


async def test_a_voice_step_keeps_its_voicemail(world: World) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type="voice")
    step = await add_step(
        world.a.manager,
        campaign["id"],
        body="Hi {{first_name|there}}",
        voicemail_message="Sorry we missed you, {{first_name|there}}.",
        voicemail_audio_url="https://cdn.example/voicemail.mp3",
    )
    assert step["voicemail_message"] == "Sorry we missed you, {{first_name|there}}."
    assert step["voicemail_audio_url"] == "https://cdn.example/voicemail.mp3"


@pytest.mark.parametrize(
    ("campaign_type", "fields", "field"),
    [
        ("sms", {"body": "Hi", "whatsapp_template": TEMPLATE}, "whatsapp_template"),
        ("email", {"subject": "s", "body": "b", "voicemail_message": "hi"}, "voicemail_message"),
        ("whatsapp", {"whatsapp_template": {"content_sid": "HX1"}}, "whatsapp_template"),
        (
            "whatsapp",
            {
                "whatsapp_template": {
                    "content_sid": TEMPLATE["content_sid"],
                    "variables": {"1": "{{nope}}"},
                }
            },
            "whatsapp_template",
        ),
        ("voice", {"body": "Hi", "voicemail_message": "{{bogus}}"}, "voicemail_message"),
        ("voice", {"body": "Hi", "voicemail_audio_url": "not a url"}, "voicemail_audio_url"),
        ("whatsapp", {}, "body"),
    ],
)
async def test_channel_options_that_do_not_fit_are_refused(
    world: World, campaign_type: str, fields: dict[str, Any], field: str
) -> None:
    campaign = await new_campaign(world.a.manager, campaign_type=campaign_type)
    response = await world.a.manager.post(f"{CAMPAIGNS}/{campaign['id']}/messages", json=fields)
    assert response.status_code == 422, response.text
    assert field in str(response.json()["errors"][0]["loc"]), response.json()


@pytest.mark.parametrize(
    "flow",
    [
        {"agent": "sales-bot"},
        {"questions": [{"slot": "favourite_colour", "prompt": "Which?"}]},
        {"questions": [{"slot": "budget", "prompt": "a"}, {"slot": "budget", "prompt": "b"}]},
        {"transfer_number": "call Bob"},
        {"greeting": ""},
        {"greeting": "Hi {{nickname}}"},  # tokens follow the same rules as a step's body
        {"questions": [{"slot": "budget", "prompt": "Budget, {{first name}}?"}]},
    ],
)
async def test_a_call_flow_that_the_agent_cannot_follow_is_refused(
    world: World, flow: dict[str, Any]
) -> None:
    response = await world.a.manager.post(
        CAMPAIGNS, json={"name": "Calls", "campaign_type": "voice", "call_flow_config": flow}
    )
    assert response.status_code == 422, response.text
