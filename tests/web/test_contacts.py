"""The contacts table, the CSV import and a contact's page."""

from __future__ import annotations

from tests.fixtures.world import World
from tests.leads.conftest import new_contact, new_lead
from tests.web.conftest import SignIn

CSV = (
    "first_name,last_name,email,phone,tags,shoe_size\n"
    "Grace,Hopper,grace@navy.example,,navy;pioneer,9\n"
    "Bad,Mail,not-an-email,,,\n"
    "Alan,Turing,alan@bletchley.example,+44 20 7946 0958,,10\n"
    "Dup,Phone,dup@x.example,+44 20 7946 0958,,\n"
)


async def test_the_table_searches_filters_and_pages(world: World, signed_in: SignIn) -> None:
    for i in range(30):
        await new_contact(
            world.a.manager, first_name=f"Person{i:02d}", email=f"p{i}@acme.example",
            lifecycle_stage="customer" if i % 3 == 0 else "lead",
        )  # fmt: skip
    await new_contact(world.b.manager, first_name="Hidden", email="hidden@b.example")
    client = await signed_in("agent@company-a.example")
    first = await client.get("/app/contacts")
    assert first.status_code == 200
    assert 'data-total="30"' in first.text
    assert "Hidden" not in first.text
    assert first.text.count("/app/contacts/") >= 25
    assert 'rel="next"' in first.text
    second = await client.get("/app/contacts", params={"offset": "25"})
    assert second.text.count('href="/app/contacts/') == 5
    found = await client.get(
        "/app/contacts", params={"q": "person07"}, headers={"HX-Request": "true"}
    )
    assert found.text.lstrip().startswith('<div id="contacts-table"')
    assert "Person07" in found.text
    assert "Person08" not in found.text
    customers = await client.get("/app/contacts", params={"lifecycle_stage": "customer"})
    assert 'data-total="10"' in customers.text
    bad = await client.get("/app/contacts", params={"lifecycle_stage": "royalty"})
    assert bad.status_code == 422
    assert "lifecycle_stage" in bad.text
    nul = await client.get("/app/contacts", params={"q": "a\x00b"})
    assert nul.status_code == 422


async def test_import_reports_every_refused_row_and_keeps_the_good_ones(
    world: World, signed_in: SignIn
) -> None:
    client = await signed_in("manager@company-a.example")
    form = await client.get("/app/contacts/import")
    assert 'type="file"' in form.text
    assert "<progress" in form.text
    response = await client.post(
        "/app/contacts/import",
        files={"file": ("people.csv", CSV.encode(), "text/csv")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    html = response.text
    assert "<strong data-created>2</strong>" in html
    assert "<strong data-errors>2</strong>" in html
    assert "shoe_size" in html  # ignored column named
    assert 'id="import-errors"' in html
    assert '<td class="num">3</td>' in html  # the bad e-mail's line
    listed = (await world.a.manager.get("/api/v1/contacts", params={"q": "grace"})).json()
    assert listed["items"][0]["tags"] == ["navy", "pioneer"]
    empty = await client.post("/app/contacts/import", files={"file": ("e.csv", b"", "text/csv")})
    assert empty.status_code == 422
    assert "empty" in empty.text


async def test_agents_cannot_import(world: World, signed_in: SignIn) -> None:
    client = await signed_in("agent@company-a.example")
    assert "managers and admins" in (await client.get("/app/contacts/import")).text
    refused = await client.post(
        "/app/contacts/import", files={"file": ("people.csv", CSV.encode(), "text/csv")}
    )
    assert refused.status_code == 403
    assert (await world.a.manager.get("/api/v1/contacts")).json()["total"] == 0


async def test_a_contact_page_shows_details_consent_leads_and_timeline(
    world: World, signed_in: SignIn
) -> None:
    contact = await new_contact(
        world.a.manager, first_name="Opal", email="opal@x.example", opt_in_status="opted_in",
        tags=["vip"], custom_fields={"plan": "gold"},
    )  # fmt: skip
    lead = await new_lead(world.a.manager, contact_id=contact["id"], title="Opal's upgrade")
    event = await world.a.manager.post(
        "/api/v1/activities",
        json={"contact_id": contact["id"], "activity_type": "page_viewed",
              "occurred_at": "2026-01-02T03:04:05Z"},
    )  # fmt: skip
    assert event.status_code == 201, event.text
    theirs = await new_contact(world.b.manager, first_name="Secret")
    client = await signed_in("agent@company-a.example")
    html = (await client.get(f"/app/contacts/{contact['id']}")).text
    assert "opal@x.example" in html
    assert "opted in" in html
    assert "gold" in html
    assert lead["id"] in html
    assert "page viewed" in html
    missing = await client.get(f"/app/contacts/{theirs['id']}")
    assert missing.status_code == 404
    assert "Secret" not in missing.text
