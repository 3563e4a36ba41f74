"""CSV import through the API: upserts, per-row errors, encodings and limits."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.models import Event, WebhookEndpoint
from tests.fixtures.world import World

IMPORT = "/api/v1/contacts/import"


async def upload(
    client: httpx.AsyncClient, content: bytes | str, name: str = "c.csv"
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return await client.post(IMPORT, files={"file": (name, data, "text/csv")})


async def all_contacts(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/v1/contacts", params={"limit": 500})
    return {c["email"] or c["phone"]: c for c in response.json()["items"]}


async def test_import_creates_contacts_with_every_field(world: World) -> None:
    csv = (
        "First_Name,last_name,email,phone,company_name,job_title,industry,company_size,timezone,"
        "lifecycle_stage,lead_source,opt_in_status,do_not_contact,tags,custom.plan,"
        "last_contacted_at,notes\n"
        "Ann,Lee,ANN@x.example,(415) 555-0101,Acme,CTO,software,51-200,Europe/Berlin,MQL,"
        "webinar,opted_in,no,vip;enterprise,pro,2026-01-02T03:04:05Z,likes demos\n"
    )
    response = await upload(world.a.manager, csv)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "created": 1,
        "updated": 0,
        "errors": [],
        "error_count": 0,
        "ignored_columns": [],
    }
    ann = (await all_contacts(world.a.admin))["ann@x.example"]
    assert ann["phone"] == "+14155550101"
    assert ann["lifecycle_stage"] == "mql"
    assert ann["opt_in_status"] == "opted_in"
    assert ann["do_not_contact"] is False
    assert ann["tags"] == ["vip", "enterprise"]
    assert ann["custom_fields"] == {"plan": "pro"}
    assert ann["timezone"] == "Europe/Berlin"
    assert ann["last_contacted_at"] == "2026-01-02T03:04:05Z"
    assert ann["notes"] == "likes demos"


async def test_import_updates_by_email_then_phone_and_keeps_empty_cells(world: World) -> None:
    by_email = (
        await world.a.admin.post(
            "/api/v1/contacts",
            json={
                "email": "e@x.example",
                "first_name": "Old",
                "job_title": "CEO",
                "custom_fields": {"a": "1"},
            },
        )
    ).json()
    by_phone = (
        await world.a.admin.post(
            "/api/v1/contacts", json={"phone": "+14155550102", "first_name": "Phoney"}
        )
    ).json()
    csv = (
        "email,phone,first_name,job_title,custom.b\n"
        "e@x.example,,New,,2\n"
        "p@x.example,+1 415 555 0102,,Buyer,\n"
        "fresh@x.example,,Fresh,,\n"
    )
    response = await upload(world.a.admin, csv)
    assert response.json()["created"] == 1
    assert response.json()["updated"] == 2
    contacts = await all_contacts(world.a.admin)
    updated_email = contacts["e@x.example"]
    assert updated_email["id"] == by_email["id"]
    assert updated_email["first_name"] == "New"
    assert updated_email["job_title"] == "CEO"  # an empty cell leaves the value alone
    assert updated_email["custom_fields"] == {"a": "1", "b": "2"}
    updated_phone = contacts["p@x.example"]
    assert updated_phone["id"] == by_phone["id"]
    assert updated_phone["first_name"] == "Phoney"
    assert updated_phone["job_title"] == "Buyer"
    assert "fresh@x.example" in contacts


async def test_bad_rows_are_reported_and_good_rows_still_land(world: World) -> None:
    csv = (
        "email,first_name,lifecycle_stage,phone,timezone\n"
        "good1@x.example,A,lead,,\n"
        "not-an-email,B,lead,,\n"
        "good2@x.example,C,prospect,,\n"
        "good3@x.example,D,lead,12,\n"
        "good4@x.example,E,lead,,Nowhere/City\n"
        "good5@x.example,F,lead,,,extra-cell\n"
        "\n"
        "good6@x.example,G,customer,,UTC\n"
    )
    response = await upload(world.a.admin, csv)
    body = response.json()
    assert body["created"] == 2
    assert [e["row"] for e in body["errors"]] == [3, 4, 5, 6, 7]
    assert "email" in body["errors"][0]["msg"]
    assert "lifecycle_stage" in body["errors"][1]["msg"]
    assert "phone" in body["errors"][2]["msg"]
    assert "timezone" in body["errors"][3]["msg"]
    assert "cells" in body["errors"][4]["msg"]
    assert set(await all_contacts(world.a.admin)) == {"good1@x.example", "good6@x.example"}


async def test_phone_owned_by_another_contact_is_a_row_error(world: World) -> None:
    await world.a.admin.post(
        "/api/v1/contacts", json={"email": "owner@x.example", "phone": "+14155550103"}
    )
    csv = "email,phone\nother@x.example,+14155550103\nfine@x.example,+14155550104\n"
    body = (await upload(world.a.admin, csv)).json()
    assert body["created"] == 1
    assert body["errors"] == [
        {"row": 2, "msg": "phone +14155550103 already belongs to another contact"}
    ]


async def test_repeated_email_in_one_file_updates_the_row_created_earlier(world: World) -> None:
    csv = "email,first_name,job_title\nsame@x.example,First,CEO\nsame@x.example,Second,\n"
    body = (await upload(world.a.admin, csv)).json()
    assert (body["created"], body["updated"], body["errors"]) == (1, 1, [])
    contact = (await all_contacts(world.a.admin))["same@x.example"]
    assert (contact["first_name"], contact["job_title"]) == ("Second", "CEO")


async def test_import_never_touches_another_company(world: World) -> None:
    theirs = (
        await world.b.admin.post(
            "/api/v1/contacts", json={"email": "shared@x.example", "first_name": "B's"}
        )
    ).json()
    body = (await upload(world.a.admin, "email,first_name\nshared@x.example,A's\n")).json()
    assert body["created"] == 1
    still = (await world.b.admin.get(f"/api/v1/contacts/{theirs['id']}")).json()
    assert still["first_name"] == "B's"


async def test_unknown_columns_are_listed_and_custom_columns_kept(world: World) -> None:
    csv = "email,favourite_colour,custom.shoe size\nz@x.example,green,42\n"
    body = (await upload(world.a.admin, csv)).json()
    assert body["ignored_columns"] == ["favourite_colour"]
    contact = (await all_contacts(world.a.admin))["z@x.example"]
    assert contact["custom_fields"] == {"shoe size": "42"}


async def test_invalid_utf8_row_is_reported_not_fatal(world: World) -> None:
    content = b"email,first_name\nok@x.example,Ok\nbad@x.example,Jos\xe9\nok2@x.example,Ok2\n"
    body = (await upload(world.a.admin, content)).json()
    assert body["created"] == 2
    assert body["errors"][0]["row"] == 3
    assert "UTF-8" in body["errors"][0]["msg"]


async def test_utf16_and_bom_files_are_read(world: World) -> None:
    text = "email,first_name\nu16@x.example,Zoë\n"
    body = (await upload(world.a.admin, text.encode("utf-16"))).json()
    assert body["created"] == 1
    body = (await upload(world.a.admin, b"\xef\xbb\xbf" + b"email\nbom@x.example\n")).json()
    assert body["created"] == 1
    contacts = await all_contacts(world.a.admin)
    assert contacts["u16@x.example"]["first_name"] == "Zoë"


async def test_file_level_problems_are_422_with_a_clear_message(world: World) -> None:
    cases = {
        b"": "empty",
        b"\n\n": "empty",
        b"colour,size\nred,1\n": "no contact columns",
        b"email,Email\na@x.example,b@x.example\n": "twice",
        b"email,custom.k\x00ey\nx@x.example,v\n": "NUL",
        b"\xff\xfe\xfd\xfc\x00\x01binary": "",
    }
    for content, phrase in cases.items():
        response = await upload(world.a.admin, content)
        assert response.status_code == 422, (content, response.text)
        assert phrase in response.json()["detail"]


async def test_header_only_creates_nothing(world: World) -> None:
    body = (await upload(world.a.admin, "email,first_name\n")).json()
    assert body == {
        "created": 0,
        "updated": 0,
        "errors": [],
        "error_count": 0,
        "ignored_columns": [],
    }


async def test_missing_file_field_or_json_body_is_422(world: World) -> None:
    assert (await world.a.admin.post(IMPORT, data={"x": "1"})).status_code == 422
    assert (await world.a.admin.post(IMPORT, json={"file": "a,b"})).status_code == 422


async def test_oversized_upload_is_413(world: World) -> None:
    # the test settings cap imports at 2 MiB
    big = "email,notes\n" + "".join(f"u{i}@x.example,{'n' * 100}\n" for i in range(25_000))
    response = await upload(world.a.admin, big)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await all_contacts(world.a.admin)) == {}


async def test_import_needs_authentication_and_a_manager(world: World) -> None:
    response = await upload(world.anonymous, "email\na@x.example\n")
    assert response.status_code == 401
    response = await upload(world.a.agent, "email\na@x.example\n")
    assert response.status_code == 403
    assert (await all_contacts(world.a.admin)) == {}


async def test_rows_without_identity_or_with_nul_are_refused(world: World) -> None:
    csv = "first_name,email,job_title\n,,CTO\nAl\x00ice,a@x.example,\nBob,b@x.example,\n"
    body = (await upload(world.a.admin, csv)).json()
    assert body["created"] == 1
    assert [(e["row"], e["msg"]) for e in body["errors"]] == [
        (2, "needs at least one of: email, phone, first_name, last_name"),
        (3, "contains a NUL character"),
    ]


async def test_row_numbers_are_file_lines_even_with_multiline_cells(world: World) -> None:
    csv = 'email,notes\nok@x.example,"line one\nline two\nline three"\nbad,\n'
    body = (await upload(world.a.admin, csv)).json()
    assert body["created"] == 1
    assert body["errors"][0]["row"] == 5


async def test_error_count_goes_beyond_the_listed_errors(world: World) -> None:
    csv = "email\n" + "".join(f"bad{i}\n" for i in range(1_200))
    body = (await upload(world.a.admin, csv)).json()
    assert len(body["errors"]) == 1_000
    assert body["error_count"] == 1_200


async def test_imported_contacts_are_announced_only_to_a_company_that_listens(
    world: World, session: AsyncSession
) -> None:
    session.add(
        WebhookEndpoint(
            company_id=world.a.id,
            url="https://hooks.example/contacts",
            event_types=["contact.created"],
            enabled=True,
            secret_ciphertext=b"not used: nothing is delivered in this test",
        )
    )
    await session.commit()
    existing = await upload(world.a.manager, "email\nold@x.example\n")
    assert existing.json()["created"] == 1
    csv = "email,first_name\nold@x.example,Old\nnew1@x.example,Ann\nnew2@x.example,Bob\n"
    imported = await upload(world.a.manager, csv)
    assert (imported.json()["created"], imported.json()["updated"]) == (2, 1)
    await upload(world.b.manager, csv)  # company b listens to nothing

    rows = (
        await session.execute(
            select(Event.company_id, Event.event_type, Event.contact_id).order_by(Event.seq)
        )
    ).all()
    assert {row.company_id for row in rows} == {world.a.id}
    assert {row.event_type for row in rows} == {"contact.created"}
    emails = {c["email"]: c["id"] for c in (await all_contacts(world.a.manager)).values()}
    assert [str(row.contact_id) for row in rows] == [
        emails["old@x.example"],
        emails["new1@x.example"],
        emails["new2@x.example"],
    ]
