"""The kanban and the lead page, against the API's own answers."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fixtures.world import World
from tests.leads.conftest import LEADS, new_contact, new_lead
from tests.web.conftest import SignIn


async def _board(world: World) -> dict[str, dict[str, str]]:
    contact = await new_contact(world.a.manager, first_name="Ada", company_name="Analytical")
    big = await new_lead(world.a.manager, contact_id=contact["id"], title="Big deal",
                         deal_value="5000.00", stage="sql")  # fmt: skip
    small = await new_lead(world.a.manager, title="Small deal", deal_value="250.00")
    won = await new_lead(world.a.manager, title="Won deal", deal_value="900.00", stage="customer")
    return {"big": big, "small": small, "won": won}


async def test_the_board_shows_columns_with_counts_values_and_cards(
    world: World, signed_in: SignIn
) -> None:
    await _board(world)
    other = await new_lead(world.b.manager, title="Company B secret")
    client = await signed_in("agent@company-a.example")
    html = (await client.get("/app/pipeline")).text
    for stage in ("lead", "mql", "sql", "opportunity", "customer", "lost"):
        assert f'data-stage="{stage}"' in html
    assert "Big deal" in html
    assert "Small deal" in html
    assert "Won deal" in html
    assert "5,000" in html
    assert "900" in html
    assert other["title"] not in html  # tenancy
    # the API's kanban agrees on counts and values
    api = (await world.a.agent.get(f"{LEADS}/by-stage")).json()
    for column in api["columns"]:
        if column["count"]:
            assert f'id="col-{column["stage"]}"' in html


async def test_board_filters_by_value_score_and_assignee(world: World, signed_in: SignIn) -> None:
    leads = await _board(world)
    client = await signed_in("manager@company-a.example")
    html = (await client.get("/app/pipeline", params={"min_value": "1000"})).text
    assert "Big deal" in html
    assert "Small deal" not in html
    assert "Won deal" not in html
    html = (await client.get("/app/pipeline", params={"assignee": "me"})).text
    assert "Big deal" not in html  # the manager's leads are unassigned
    # htmx asks for the board only
    partial = await client.get(
        "/app/pipeline",
        params={"assignee": "none", "max_value": "300"},
        headers={"HX-Request": "true"},
    )
    assert partial.text.lstrip().startswith('<div id="board"')
    assert "Small deal" in partial.text
    assert "Big deal" not in partial.text
    bad = await client.get("/app/pipeline", params={"min_score": "lots"})
    assert bad.status_code == 422
    assert "min_score" in bad.text
    assert leads


async def test_moving_a_card_changes_the_stage_through_the_leads_service(
    world: World, signed_in: SignIn
) -> None:
    leads = await _board(world)
    client = await signed_in("manager@company-a.example")
    lead_id = leads["small"]["id"]
    moved = await client.post(
        f"/app/leads/{lead_id}/stage", data={"stage": "opportunity"},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert moved.json()["stage"] == "opportunity"
    api = (await world.a.manager.get(f"{LEADS}/{lead_id}")).json()
    assert api["stage"] == "opportunity"
    assert api["previous_stage"] == "lead"
    history = (await world.a.manager.get(f"{LEADS}/{lead_id}/stage-history")).json()
    assert history["items"][0]["to_stage"] == "opportunity"

    # lost needs a reason: the script is told to ask for one
    refused = await client.post(
        f"/app/leads/{lead_id}/stage",
        data={"stage": "lost"},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 422
    assert refused.json()["needs_reason"] is True
    # reopening a customer needs one too (the service's 409)
    won = leads["won"]["id"]
    reopen = await client.post(
        f"/app/leads/{won}/stage", data={"stage": "sql"}, headers={"Accept": "application/json"}
    )
    assert reopen.status_code == 409
    assert reopen.json()["needs_reason"] is True
    lost = await client.post(
        f"/app/leads/{lead_id}/stage",
        data={"stage": "lost", "reason": "went quiet", "back": "pipeline"},
    )
    assert lost.status_code == 303
    assert lost.headers["location"] == "/app/pipeline?notice=stage"
    api = (await world.a.manager.get(f"{LEADS}/{lead_id}")).json()
    assert api["stage"] == "lost"
    assert api["lost_reason"] in (None, "went quiet")


async def test_an_agent_moves_only_its_own_leads(world: World, signed_in: SignIn) -> None:
    leads = await _board(world)
    mine = await new_lead(world.a.agent, title="Agent's own")
    client = await signed_in("agent@company-a.example")
    html = (await client.get("/app/pipeline")).text
    own_card = html.split(f'data-lead-id="{mine["id"]}"')[1][:200]
    assert 'draggable="true"' in own_card
    refused = await client.post(f"/app/leads/{leads['small']['id']}/stage", data={"stage": "mql"})
    assert refused.status_code == 403
    assert "assigned to it" in refused.text
    ok = await client.post(f"/app/leads/{mine['id']}/stage", data={"stage": "mql"})
    assert ok.status_code == 303


async def test_another_companys_lead_is_a_404_page(world: World, signed_in: SignIn) -> None:
    theirs = await new_lead(world.b.manager, title="Company B secret")
    client = await signed_in("admin@company-a.example")
    for method, path in (
        ("GET", f"/app/leads/{theirs['id']}"),
        ("POST", f"/app/leads/{theirs['id']}/stage"),
        ("POST", f"/app/leads/{theirs['id']}/qualify"),
        ("GET", "/app/leads/not-a-uuid"),
    ):
        response = await client.request(method, path, data={"stage": "mql"})
        assert response.status_code == 404, (path, response.text)
        assert "text/html" in response.headers["content-type"]
        assert "Company B secret" not in response.text
    unchanged = (await world.b.manager.get(f"{LEADS}/{theirs['id']}")).json()
    assert unchanged["stage"] == "lead"


async def test_the_lead_page_shows_scores_answers_history_and_conversations(
    world: World, signed_in: SignIn
) -> None:
    contact = await new_contact(world.a.manager, first_name="Rita", email="rita@bigco.example",
                                job_title="VP Operations", company_size="201-1000")  # fmt: skip
    lead = await new_lead(
        world.a.manager, contact_id=contact["id"], title="Rita's rollout",
        qualification_data={
            "budget_confirmed": True, "questions_total": 4, "questions_answered": 3,
        },
    )  # fmt: skip
    talk = await world.a.manager.post(
        "/api/v1/conversations",
        json={
            "contact_id": contact["id"], "channel": "call",
            "started_at": datetime.now(UTC).isoformat(),
            "messages": [
                {"role": "contact", "text": "We have budget approved, can we start next month?"}
            ],
        },
    )  # fmt: skip
    assert talk.status_code == 201, talk.text
    client = await signed_in("manager@company-a.example")
    qualified = await client.post(f"/app/leads/{lead['id']}/qualify")
    assert qualified.status_code == 303
    scored = await client.post(
        f"/app/leads/{lead['id']}/manual-score", data={"score": "80", "reasoning": "great call"}
    )
    assert scored.status_code == 303
    page = await client.get(f"/app/leads/{lead['id']}?notice=manual")
    assert page.status_code == 200
    html = page.text
    assert "Rita&#39;s rollout" in html or "Rita's rollout" in html
    assert "Manual score saved" in html
    assert 'id="score-chart"' in html
    assert 'id="score-data"' in html
    scores = (await world.a.manager.get(f"{LEADS}/{lead['id']}/scores")).json()
    assert scores["scores"]["manual"]["score"] == 80
    assert "great call" in html
    for factor in scores["scores"]["demographic"]["factors"]:
        assert factor["name"] in html
    assert "budget confirmed" in html  # qualification answers
    assert "rita@bigco.example" in html
    intents = talk.json()["intent_matches"]
    assert intents
    assert intents[0]["intent"].replace("_", " ") in html
    assert "Stage history" in html

    bad = await client.post(
        f"/app/leads/{lead['id']}/manual-score", data={"score": "101", "reasoning": "x"}
    )
    assert bad.status_code == 422
    assert "score" in bad.text


async def test_assigning_is_for_managers(world: World, signed_in: SignIn) -> None:
    lead = await new_lead(world.a.manager, title="To share")
    agent_id = str(next(a.user.id for r, a in world.a.actors.items() if r.value == "agent"))
    manager = await signed_in("manager@company-a.example")
    done = await manager.post(f"/app/leads/{lead['id']}/assign", data={"user_id": agent_id})
    assert done.status_code == 303
    assert (await world.a.manager.get(f"{LEADS}/{lead['id']}")).json()["assigned_to"] == agent_id
    agent = await signed_in("agent@company-a.example")
    page = (await agent.get(f"/app/leads/{lead['id']}")).text
    assert 'action="/app/leads/' + lead["id"] + '/assign"' not in page
    refused = await agent.post(f"/app/leads/{lead['id']}/assign", data={"user_id": ""})
    assert refused.status_code == 403
    theirs = str(world.b.actors[next(iter(world.b.actors))].user.id)
    cross = await manager.post(f"/app/leads/{lead['id']}/assign", data={"user_id": theirs})
    assert cross.status_code == 404


async def test_the_pipeline_page_shows_the_api_statistics(world: World, signed_in: SignIn) -> None:
    await _board(world)
    client = await signed_in("agent@company-a.example")
    html = (await client.get("/app/pipeline")).text
    stats = (await world.a.agent.get(f"{LEADS}/stats")).json()
    assert stats["open_leads"] == 2
    block = html.split('id="pipeline-stats"')[1].split("</div>\n</div>")[0]
    assert "<strong>2</strong>" in block  # open leads
    assert "<strong>5,250</strong>" in block  # open pipeline value
    assert "<strong>900</strong>" in block  # won


async def test_editing_a_lead_and_its_answers_merges_them(world: World, signed_in: SignIn) -> None:
    lead = await new_lead(
        world.a.manager, title="Edit me", qualification_data={"decision_maker": True}
    )
    client = await signed_in("manager@company-a.example")
    saved = await client.post(
        f"/app/leads/{lead['id']}/details",
        data={
            "title": "Edited", "deal_value": "1234.50", "expected_close_date": "2027-01-31",
            "budget_confirmed": "yes", "timeline_defined": "no", "decision_maker": "",
            "questions_total": "4", "questions_answered": "2",
        },
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    api = (await world.a.manager.get(f"{LEADS}/{lead['id']}")).json()
    assert api["title"] == "Edited"
    assert api["deal_value"] == "1234.50"
    assert api["expected_close_date"] == "2027-01-31"
    assert api["qualification_data"] == {
        "decision_maker": True, "budget_confirmed": True, "timeline_defined": False,
        "questions_total": 4, "questions_answered": 2,
    }  # fmt: skip
    bad = await client.post(
        f"/app/leads/{lead['id']}/details", data={"questions_total": "1", "questions_answered": "3"}
    )
    assert bad.status_code == 422
    bad_date = await client.post(
        f"/app/leads/{lead['id']}/details", data={"expected_close_date": "soon"}
    )
    assert bad_date.status_code == 422
    agent = await signed_in("agent@company-a.example")
    refused = await agent.post(f"/app/leads/{lead['id']}/details", data={"title": "Mine"})
    assert refused.status_code == 403


async def test_opening_a_lead_from_a_contact(world: World, signed_in: SignIn) -> None:
    person = await new_contact(world.a.manager, first_name="Nia", company_name="Nia Corp")
    agent = await signed_in("agent@company-a.example")
    opened = await agent.post(
        f"/app/contacts/{person['id']}/leads", data={"title": "", "deal_value": "99"}
    )
    assert opened.status_code == 303, opened.text
    lead_id = opened.headers["location"].split("/leads/")[1].split("?")[0]
    api = (await world.a.manager.get(f"{LEADS}/{lead_id}")).json()
    assert api["contact_id"] == person["id"]
    assert api["title"] == "Nia Corp"
    agent_id = str(next(a.user.id for r, a in world.a.actors.items() if r.value == "agent"))
    assert api["assigned_to"] == agent_id  # an agent's lead is its own, as in the API
    theirs = await new_contact(world.b.manager, first_name="Other")
    assert (await agent.post(f"/app/contacts/{theirs['id']}/leads")).status_code == 404
