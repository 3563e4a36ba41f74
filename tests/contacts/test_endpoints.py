"""Contacts API: CRUD, filters, sorting, pagination, roles and tenant isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.world import World

BASE = "/api/v1/contacts"


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(BASE, json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(response: httpx.Response) -> list[str]:
    return [item["id"] for item in response.json()["items"]]


# --- create ------------------------------------------------------------------------------------


async def test_create_normalises_email_and_phone(world: World) -> None:
    body = await create(
        world.a.agent,
        first_name="Ada",
        last_name="Lovelace",
        email="  Ada@Example.COM ",
        phone="(415) 555-0100",
        timezone="Europe/London",
        tags=["vip", " vip ", "enterprise"],
        custom_fields={"plan": "pro"},
    )
    assert body["email"] == "ada@example.com"
    assert body["phone"] == "+14155550100"
    assert body["tags"] == ["vip", "enterprise"]
    assert body["custom_fields"] == {"plan": "pro"}
    assert body["lifecycle_stage"] == "lead"
    assert body["opt_in_status"] == "unknown"
    assert body["do_not_contact"] is False
    assert body["lead_score"] == 0
    uuid.UUID(body["id"])
    assert body["created_at"].endswith("Z")


async def test_create_then_get_returns_the_same_contact(world: World) -> None:
    created = await create(world.a.admin, email="x@example.com", lifecycle_stage="mql")
    response = await world.a.agent.get(f"{BASE}/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"first_name": "A", "phone": "12"}, "phone"),
        ({"first_name": "A", "phone": "call me maybe"}, "phone"),
        ({"first_name": "A", "timezone": "Mars/Olympus"}, "timezone"),
        ({"first_name": "A", "lifecycle_stage": "prospect"}, "lifecycle_stage"),
        ({"first_name": "A", "opt_in_status": "maybe"}, "opt_in_status"),
        ({"first_name": "A", "tags": "vip"}, "tags"),
        ({"first_name": "A", "tags": [1, 2]}, "tags"),
        ({"first_name": "A", "custom_fields": ["x"]}, "custom_fields"),
        ({"first_name": "A", "do_not_contact": "perhaps"}, "do_not_contact"),
        ({"first_name": "A" * 101}, "first_name"),
        ({"first_name": "A", "last_contacted_at": "2026-01-01T10:00:00"}, "last_contacted_at"),
        ({"first_name": "A", "lead_score": 90}, "lead_score"),
        ({"first_name": "A", "favourite_colour": "green"}, "favourite_colour"),
        ({"first_name": "A", "tags": ["a;b"]}, "tags"),
        ({"first_name": "A", "phone": "+1 415 555 0100 ext. 12"}, "phone"),
        ({"first_name": "A", "custom_fields": {"a": [[[[[[[[[[[1]]]]]]]]]]]}}, "custom_fields"),
    ],
)
async def test_create_rejects_bad_fields(world: World, payload: dict[str, Any], field: str) -> None:
    response = await world.a.admin.post(BASE, json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert any(field in [str(p) for p in error["loc"]] for error in body["errors"]), body


async def test_nul_characters_are_422_not_500(world: World) -> None:
    response = await world.a.admin.post(BASE, json={"first_name": "Nul\u0000Byte"})
    assert response.status_code == 422
    assert "first_name" in response.json()["detail"]
    response = await world.a.admin.post(
        BASE, json={"first_name": "A", "custom_fields": {"k": "\u0000"}}
    )
    assert response.status_code == 422
    for params in ({"q": "a\x00b"}, {"tag": "\x00"}, {"lead_source": "x\x00"}):
        response = await world.a.admin.get(BASE, params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"]


async def test_patch_cannot_strip_every_identifying_field(world: World) -> None:
    contact = await create(world.a.admin, first_name="Only", email="only@example.com")
    response = await world.a.admin.patch(
        f"{BASE}/{contact['id']}", json={"first_name": None, "email": None}
    )
    assert response.status_code == 422
    assert (await world.a.admin.get(f"{BASE}/{contact['id']}")).json()[
        "email"
    ] == "only@example.com"


async def test_create_needs_some_identity(world: World) -> None:
    response = await world.a.admin.post(BASE, json={"company_name": "Acme"})
    assert response.status_code == 422
    assert "at least one of" in response.json()["detail"]


async def test_create_rejects_non_object_body(world: World) -> None:
    for content in (b"[]", b"null", b"{not json", b""):
        response = await world.a.admin.post(
            BASE, content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, content


async def test_create_rejects_too_many_tags(world: World) -> None:
    response = await world.a.admin.post(
        BASE, json={"first_name": "A", "tags": [f"t{i}" for i in range(51)]}
    )
    assert response.status_code == 422
    assert "at most 50 tags" in response.text


async def test_duplicate_email_or_phone_is_409_within_a_company(world: World) -> None:
    await create(world.a.admin, email="dup@example.com", phone="+14155550111")
    same_email = await world.a.admin.post(BASE, json={"email": "DUP@example.com"})
    assert same_email.status_code == 409
    assert "e-mail" in same_email.json()["detail"]
    same_phone = await world.a.admin.post(BASE, json={"first_name": "Z", "phone": "415-555-0111"})
    assert same_phone.status_code == 409
    assert "phone" in same_phone.json()["detail"]


async def test_same_email_may_exist_in_two_companies(world: World) -> None:
    await create(world.a.admin, email="shared@example.com")
    await create(world.b.admin, email="shared@example.com")


async def test_unauthenticated_requests_get_401(world: World) -> None:
    for method, path in [("GET", BASE), ("POST", BASE), ("GET", f"{BASE}/{uuid.uuid4()}")]:
        response = await world.anonymous.request(method, path, json={})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    bad = await world.anonymous.get(BASE, headers={"Authorization": "Bearer ac_nope"})
    assert bad.status_code == 401


# --- read, update, delete ---------------------------------------------------------------------


async def test_another_companys_contact_is_404_everywhere(world: World) -> None:
    theirs = await create(world.b.admin, email="secret@b.example", first_name="B")
    path = f"{BASE}/{theirs['id']}"
    assert (await world.a.admin.get(path)).status_code == 404
    assert (await world.a.admin.patch(path, json={"first_name": "Hacked"})).status_code == 404
    assert (await world.a.admin.delete(path)).status_code == 404
    listed = await world.a.admin.get(BASE, params={"q": "secret"})
    assert listed.json()["total"] == 0
    still = await world.b.admin.get(path)
    assert still.json()["first_name"] == "B"


async def test_unknown_and_malformed_ids(world: World) -> None:
    assert (await world.a.admin.get(f"{BASE}/{uuid.uuid4()}")).status_code == 404
    malformed = await world.a.admin.get(f"{BASE}/not-a-uuid")
    assert malformed.status_code == 422


async def test_patch_changes_only_given_fields(world: World) -> None:
    contact = await create(world.a.admin, email="p@example.com", first_name="Pat", tags=["a"])
    response = await world.a.agent.patch(
        f"{BASE}/{contact['id']}", json={"last_name": "Lee", "tags": ["b", "c"], "phone": None}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["first_name"] == "Pat"
    assert body["last_name"] == "Lee"
    assert body["tags"] == ["b", "c"]
    assert body["email"] == "p@example.com"
    assert body["updated_at"] >= contact["updated_at"]


async def test_patch_refuses_null_for_required_fields(world: World) -> None:
    contact = await create(world.a.admin, email="n@example.com")
    response = await world.a.admin.patch(f"{BASE}/{contact['id']}", json={"tags": None})
    assert response.status_code == 422
    assert "tags" in response.json()["detail"]


async def test_patch_to_a_taken_email_is_409(world: World) -> None:
    await create(world.a.admin, email="one@example.com")
    two = await create(world.a.admin, email="two@example.com")
    response = await world.a.admin.patch(f"{BASE}/{two['id']}", json={"email": "one@example.com"})
    assert response.status_code == 409
    unchanged = await world.a.admin.get(f"{BASE}/{two['id']}")
    assert unchanged.json()["email"] == "two@example.com"


async def test_delete_removes_the_contact(world: World) -> None:
    contact = await create(world.a.admin, email="gone@example.com")
    refused = await world.a.agent.delete(f"{BASE}/{contact['id']}")
    assert refused.status_code == 403  # agents would take other agents' leads with it
    response = await world.a.manager.delete(f"{BASE}/{contact['id']}")
    assert response.status_code == 204
    assert (await world.a.admin.get(f"{BASE}/{contact['id']}")).status_code == 404


# --- list: filters, sorting, pagination --------------------------------------------------------


@pytest.fixture
async def sample(world: World) -> dict[str, str]:
    """Five contacts of company A with distinct fields, and one of company B."""
    made = {
        "ann": await create(
            world.a.admin,
            first_name="Ann",
            email="ann@acme.example",
            company_name="Acme",
            lifecycle_stage="mql",
            lead_source="webinar",
            tags=["vip", "enterprise"],
            opt_in_status="opted_in",
        ),
        "bob": await create(
            world.a.admin,
            first_name="Bob",
            email="bob@globex.example",
            company_name="Globex",
            lifecycle_stage="customer",
            lead_source="referral",
            tags=["vip"],
        ),
        "cat": await create(
            world.a.admin,
            first_name="Cat",
            email="cat@initech.example",
            lifecycle_stage="lead",
            lead_source="webinar",
            tags=["smb"],
            do_not_contact=True,
            opt_in_status="opted_out",
        ),
        "dan": await create(world.a.admin, first_name="Dan", last_name="Acme-Smith"),
        "eve": await create(world.a.admin, first_name="Eve", email="eve_1%@x.example"),
    }
    await create(world.b.admin, first_name="Ann", email="ann@acme.example", tags=["vip"])
    return {name: body["id"] for name, body in made.items()}


async def _set_scores(session, scores: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from agentconnect.models import Contact

    for contact_id, score in scores.items():
        await session.execute(
            update(Contact).where(Contact.id == uuid.UUID(contact_id)).values(lead_score=score)
        )
    await session.commit()


async def test_list_is_paginated_and_scoped(world: World, sample: dict[str, str]) -> None:
    response = await world.a.agent.get(BASE, params={"limit": 2, "offset": 1})
    body = response.json()
    assert response.status_code == 200
    assert body["total"] == 5
    assert body["limit"] == 2
    assert body["offset"] == 1
    assert len(body["items"]) == 2
    everything = await world.a.agent.get(BASE, params={"limit": 500})
    assert set(ids(everything)) == set(sample.values())


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "acme"}, {"ann", "dan"}),
        ({"q": "GLOBEX"}, {"bob"}),
        ({"q": "_1%"}, {"eve"}),
        ({"q": "%"}, {"eve"}),
        ({"lifecycle_stage": "mql"}, {"ann"}),
        ({"lifecycle_stage": ["mql", "customer"]}, {"ann", "bob"}),
        ({"lead_source": "webinar"}, {"ann", "cat"}),
        ({"tag": "vip"}, {"ann", "bob"}),
        ({"tag": ["vip", "enterprise"]}, {"ann"}),
        ({"tag": ["vip", "smb"]}, set()),
        ({"opt_in_status": "opted_out"}, {"cat"}),
        ({"do_not_contact": "true"}, {"cat"}),
        ({"do_not_contact": "false", "lead_source": "webinar"}, {"ann"}),
    ],
)
async def test_list_filters(
    world: World, sample: dict[str, str], params: dict[str, Any], expected: set[str]
) -> None:
    response = await world.a.agent.get(BASE, params=params)
    assert response.status_code == 200, response.text
    names = {name for name, id_ in sample.items() if id_ in ids(response)}
    assert names == expected
    assert response.json()["total"] == len(expected)


async def test_score_filters_and_sort(world: World, sample: dict[str, str], session) -> None:  # type: ignore[no-untyped-def]
    await _set_scores(session, {sample["ann"]: 90, sample["bob"]: 50, sample["cat"]: 10})
    response = await world.a.agent.get(
        BASE, params={"min_score": 20, "max_score": 95, "sort": "-lead_score"}
    )
    assert ids(response) == [sample["ann"], sample["bob"]]
    ascending = await world.a.agent.get(BASE, params={"sort": "lead_score,first_name"})
    assert ids(ascending)[-1] == sample["ann"]


async def test_sort_by_name_both_ways(world: World, sample: dict[str, str]) -> None:
    up = await world.a.agent.get(BASE, params={"sort": "first_name"})
    down = await world.a.agent.get(BASE, params={"sort": "-first_name"})
    assert ids(up) == [sample[n] for n in ("ann", "bob", "cat", "dan", "eve")]
    assert ids(down) == list(reversed(ids(up)))


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "password"},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"limit": "ten"},
        {"min_score": 101},
        {"lifecycle_stage": "prospect"},
        {"opt_in_status": "yes"},
        {"do_not_contact": "perhaps"},
    ],
)
async def test_list_rejects_bad_parameters(world: World, params: dict[str, Any]) -> None:
    response = await world.a.agent.get(BASE, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
