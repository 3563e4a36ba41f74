"""Tenancy API: sign-in, the caller, users, API keys and company settings.

Black-box tests through HTTP only: every endpoint's success answer, its validation failures,
the roles it refuses, missing or bad credentials, and isolation between companies.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any, Literal

import httpx
import pytest

from agentconnect.auth.tokens import create_access_token
from agentconnect.config import Settings
from agentconnect.models import Role, User
from tests.fixtures.world import PASSWORD, World

API = "/api/v1"
TOKEN = f"{API}/auth/token"
ME = f"{API}/me"
USERS = f"{API}/users"
KEYS = f"{API}/api-keys"
COMPANY = f"{API}/company"

NEW_PASSWORD = "a brand new passphrase"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"

Endpoint = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body
CredentialKind = Literal["api_key", "access_token"]

# Every endpoint behind a bearer token, with a body that would be valid for it.
PROTECTED: list[Endpoint] = [
    ("GET", ME, None),
    ("GET", USERS, None),
    ("POST", USERS, {"email": "x@corp.example", "name": "X", "password": NEW_PASSWORD}),
    ("GET", f"{USERS}/{UNKNOWN_ID}", None),
    ("PATCH", f"{USERS}/{UNKNOWN_ID}", {"name": "X"}),
    ("DELETE", f"{USERS}/{UNKNOWN_ID}", None),
    ("GET", KEYS, None),
    ("POST", KEYS, {"name": "ci"}),
    ("DELETE", f"{KEYS}/{UNKNOWN_ID}", None),
    ("GET", COMPANY, None),
    ("PATCH", COMPANY, {"name": "Renamed"}),
]
ADMIN_ONLY = [endpoint for endpoint in PROTECTED if endpoint[1] != ME]


def endpoint_id(endpoint: Endpoint) -> str:
    method, path, _ = endpoint
    return f"{method} {path.removeprefix(API).replace(UNKNOWN_ID, '{id}')}"


# --- helpers -----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@corp.example"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem answer with the given status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for field in ("type", "title", "detail"):
        assert isinstance(body[field], str)
        assert body[field]
    return body


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    return body


def assert_invalid(response: httpx.Response, field: str | None = None) -> dict[str, Any]:
    """A 422 problem with an `errors` list; when `field` is given, some error's loc names it."""
    body = assert_problem(response, 422)
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["loc"], list)
        assert isinstance(error["msg"], str)
    if field is not None:
        assert any(field in error["loc"] for error in body["errors"]), body["errors"]
    return body


async def request(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    method, path, body = endpoint
    return await client.request(method, path, json=body, headers=headers)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(TOKEN, data={"username": email, "password": password})


async def token_for(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await sign_in(client, email, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def add_user(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """POST /users with sensible defaults; returns the created user."""
    payload = {"email": unique_email(), "name": "New Person", "password": NEW_PASSWORD, **fields}
    response = await client.post(USERS, json=payload)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_key(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(KEYS, json={"name": "ci key", **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def get_user(client: httpx.AsyncClient, user_id: uuid.UUID | str) -> dict[str, Any]:
    response = await client.get(f"{USERS}/{user_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def list_keys(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get(KEYS)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def get_company(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(COMPANY)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def credential(
    world: World, settings: Settings, role: Role, kind: CredentialKind, tenant: str = "a"
) -> str:
    """A bearer credential of the role's user: its API key, or an access token for the user."""
    actor = getattr(world, tenant).actors[role]
    if kind == "api_key":
        key: str = actor.api_key
        return key
    return create_access_token(actor.user.id, settings.resolved_secret_key(), minutes=30)


def user_of(world: World, role: Role) -> User:
    """The user row of company A with that role."""
    return world.a.actors[role].user


def b_admin_id(world: World) -> uuid.UUID:
    return world.b.actors[Role.ADMIN].user.id


def b_agent_id(world: World) -> uuid.UUID:
    return world.b.actors[Role.AGENT].user.id


# --- authentication: every endpoint ------------------------------------------------------------


@pytest.mark.parametrize("endpoint", PROTECTED, ids=endpoint_id)
async def test_endpoint_without_token_is_401(world: World, endpoint: Endpoint) -> None:
    assert_unauthorized(await request(world.anonymous, endpoint))


@pytest.mark.parametrize("endpoint", PROTECTED, ids=endpoint_id)
async def test_endpoint_with_invalid_token_is_401(world: World, endpoint: Endpoint) -> None:
    response = await request(world.anonymous, endpoint, headers=bearer("not-a-real-token"))
    assert_unauthorized(response)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Token ac_whatever",
        "Bearer ac_this-key-was-never-issued",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    ],
)
async def test_malformed_or_unknown_credentials_are_401(world: World, authorization: str) -> None:
    response = await world.anonymous.get(ME, headers={"Authorization": authorization})
    assert_unauthorized(response)


@pytest.mark.parametrize("endpoint", ADMIN_ONLY, ids=endpoint_id)
@pytest.mark.parametrize("kind", ["api_key", "access_token"])
@pytest.mark.parametrize("role", [Role.MANAGER, Role.AGENT])
async def test_admin_endpoint_refuses_non_admin_with_403(
    world: World,
    settings: Settings,
    role: Role,
    kind: CredentialKind,
    endpoint: Endpoint,
) -> None:
    headers = bearer(credential(world, settings, role, kind))
    body = assert_problem(await request(world.anonymous, endpoint, headers=headers), 403)
    assert "admin" in body["detail"]


async def test_refused_request_changes_nothing(world: World) -> None:
    email = unique_email("refused")
    response = await world.a.manager.post(
        USERS, json={"email": email, "name": "Sneaky", "role": "admin", "password": NEW_PASSWORD}
    )
    assert_problem(response, 403)
    listed = (await world.a.admin.get(USERS)).json()
    assert email not in [user["email"] for user in listed["items"]]


async def test_signed_in_manager_is_refused(world: World) -> None:
    token = await token_for(world.anonymous, user_of(world, Role.MANAGER).email)
    response = await world.anonymous.get(USERS, headers=bearer(token))
    assert_problem(response, 403)


# --- POST /auth/token --------------------------------------------------------------------------


async def test_token_answer_has_the_oauth2_fields(world: World) -> None:
    response = await sign_in(world.anonymous, user_of(world, Role.AGENT).email)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 60 * 60  # access_token_minutes defaults to 60
    assert isinstance(body["access_token"], str)
    assert body["access_token"]


async def test_token_works_on_me_and_says_auth_user(world: World) -> None:
    manager = user_of(world, Role.MANAGER)
    token = await token_for(world.anonymous, manager.email)
    response = await world.anonymous.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {
            "id": str(manager.id),
            "email": manager.email,
            "name": manager.name,
            "role": "manager",
        },
        "company": {"id": str(world.a.id), "name": "Company A"},
        "role": "manager",
        "auth": "user",
    }


async def test_admin_token_reaches_admin_endpoints(world: World) -> None:
    token = await token_for(world.anonymous, user_of(world, Role.ADMIN).email)
    response = await world.anonymous.get(USERS, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["total"] == 3


async def test_sign_in_ignores_email_case(world: World) -> None:
    response = await sign_in(world.anonymous, user_of(world, Role.AGENT).email.upper())
    assert response.status_code == 200, response.text


async def test_sign_in_with_wrong_password_is_401(world: World) -> None:
    response = await sign_in(world.anonymous, user_of(world, Role.AGENT).email, "wrong password")
    assert "access_token" not in assert_unauthorized(response)


async def test_sign_in_with_unknown_email_is_401_like_a_wrong_password(world: World) -> None:
    unknown = assert_unauthorized(await sign_in(world.anonymous, "nobody@corp.example"))
    wrong = assert_unauthorized(
        await sign_in(world.anonymous, user_of(world, Role.AGENT).email, "wrong password")
    )
    assert unknown["detail"] == wrong["detail"]  # no hint about which e-mails exist


async def test_sign_in_records_last_login(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    assert (await get_user(world.a.admin, agent.id))["last_login_at"] is None
    await token_for(world.anonymous, agent.email)
    assert (await get_user(world.a.admin, agent.id))["last_login_at"] is not None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "admin@company-a.example"}, "password"),
        ({}, None),
        ({"username": "x" * 321 + "@corp.example", "password": PASSWORD}, "username"),
        ({"username": "admin@company-a.example", "password": "p" * 201}, "password"),
    ],
)
async def test_sign_in_form_validation_is_422(
    world: World, form: dict[str, str], field: str | None
) -> None:
    assert_invalid(await world.anonymous.post(TOKEN, data=form), field)


async def test_sign_in_with_a_nul_byte_in_the_email_is_401(world: World) -> None:
    assert_unauthorized(await sign_in(world.anonymous, "admin\x00@company-a.example"))


async def test_sign_in_with_json_instead_of_a_form_is_422(world: World) -> None:
    response = await world.anonymous.post(
        TOKEN, json={"username": user_of(world, Role.ADMIN).email, "password": PASSWORD}
    )
    assert_invalid(response)


async def test_inactive_user_cannot_sign_in(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    response = await world.a.admin.patch(f"{USERS}/{agent.id}", json={"is_active": False})
    assert response.status_code == 200, response.text
    assert_unauthorized(await sign_in(world.anonymous, agent.email))


async def test_token_of_deactivated_user_stops_working(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    token = await token_for(world.anonymous, agent.email)
    await world.a.admin.patch(f"{USERS}/{agent.id}", json={"is_active": False})
    assert_unauthorized(await world.anonymous.get(ME, headers=bearer(token)))


async def test_reactivated_user_can_sign_in_again(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    await world.a.admin.patch(f"{USERS}/{agent.id}", json={"is_active": False})
    await world.a.admin.patch(f"{USERS}/{agent.id}", json={"is_active": True})
    assert (await sign_in(world.anonymous, agent.email)).status_code == 200


async def test_token_of_deleted_user_stops_working(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    token = await token_for(world.anonymous, agent.email)
    assert (await world.a.admin.delete(f"{USERS}/{agent.id}")).status_code == 204
    assert_unauthorized(await world.anonymous.get(ME, headers=bearer(token)))


async def test_expired_token_is_401(world: World, settings: Settings) -> None:
    token = create_access_token(
        user_of(world, Role.ADMIN).id, settings.resolved_secret_key(), minutes=-1
    )
    assert_unauthorized(await world.anonymous.get(ME, headers=bearer(token)))


async def test_token_signed_with_another_secret_is_401(world: World) -> None:
    token = create_access_token(user_of(world, Role.ADMIN).id, "some-other-secret" * 3, 60)
    assert_unauthorized(await world.anonymous.get(ME, headers=bearer(token)))


async def test_token_reflects_a_role_change_at_once(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    token = await token_for(world.anonymous, agent.email)
    await world.a.admin.patch(f"{USERS}/{agent.id}", json={"role": "manager"})
    me = (await world.anonymous.get(ME, headers=bearer(token))).json()
    assert me["role"] == "manager"
    assert me["user"]["role"] == "manager"


# --- GET /me -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
async def test_me_with_api_key_has_no_user_and_says_auth_api_key(world: World, role: Role) -> None:
    response = await world.anonymous.get(ME, headers=bearer(world.a.actors[role].api_key))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": None,
        "company": {"id": str(world.a.id), "name": "Company A"},
        "role": role.value,
        "auth": "api_key",
    }


@pytest.mark.parametrize("role", list(Role))
async def test_me_with_access_token_names_user_role_and_company(
    world: World, settings: Settings, role: Role
) -> None:
    user = world.b.actors[role].user
    token = credential(world, settings, role, "access_token", tenant="b")
    response = await world.anonymous.get(ME, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {"id": str(user.id), "email": user.email, "name": user.name, "role": role.value},
        "company": {"id": str(world.b.id), "name": "Company B"},
        "role": role.value,
        "auth": "user",
    }


# --- GET /users --------------------------------------------------------------------------------


async def test_list_users_shows_the_company_users(world: World) -> None:
    response = await world.a.admin.get(USERS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 3
    assert body["limit"] == 50
    assert body["offset"] == 0
    by_id = {item["id"]: item for item in body["items"]}
    assert set(by_id) == {str(actor.user.id) for actor in world.a.actors.values()}
    admin = by_id[str(user_of(world, Role.ADMIN).id)]
    assert admin["email"] == "admin@company-a.example"
    assert admin["name"] == "Admin of Company A"
    assert admin["role"] == "admin"
    assert admin["is_active"] is True
    assert admin["last_login_at"] is None
    assert admin["created_at"]
    assert admin["updated_at"]


async def test_list_users_puts_the_newest_last(world: World) -> None:
    created = await add_user(world.a.admin)
    items = (await world.a.admin.get(USERS)).json()["items"]
    assert items[-1]["id"] == created["id"]


async def test_list_users_never_shows_passwords(world: World) -> None:
    for item in (await world.a.admin.get(USERS)).json()["items"]:
        assert not {"password", "password_hash"} & set(item)


async def test_list_users_shows_no_other_company(world: World) -> None:
    emails = [item["email"] for item in (await world.a.admin.get(USERS)).json()["items"]]
    assert all(email.endswith("@company-a.example") for email in emails)


async def test_list_users_pages(world: World) -> None:
    everyone = (await world.a.admin.get(USERS)).json()["items"]
    body = (await world.a.admin.get(USERS, params={"limit": 1, "offset": 1})).json()
    assert body["total"] == 3
    assert (body["limit"], body["offset"]) == (1, 1)
    assert body["items"] == [everyone[1]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_list_users_rejects_bad_paging(
    world: World, params: dict[str, Any], field: str
) -> None:
    assert_invalid(await world.a.admin.get(USERS, params=params), field)


# --- POST /users -------------------------------------------------------------------------------


async def test_create_user_answers_the_new_user(world: World) -> None:
    response = await world.a.admin.post(
        USERS,
        json={
            "email": "  Grace.Hopper@Corp.Example ",
            "name": "Grace Hopper",
            "role": "manager",
            "password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    uuid.UUID(body["id"])
    assert body["email"] == "grace.hopper@corp.example"
    assert body["name"] == "Grace Hopper"
    assert body["role"] == "manager"
    assert body["is_active"] is True
    assert body["last_login_at"] is None
    assert body["created_at"].endswith("Z")
    assert not {"password", "password_hash"} & set(body)


async def test_created_user_is_listed_and_readable(world: World) -> None:
    created = await add_user(world.a.admin)
    assert await get_user(world.a.admin, created["id"]) == created
    listed = (await world.a.admin.get(USERS)).json()
    assert listed["total"] == 4
    assert listed["items"][-1] == created


async def test_created_user_can_sign_in_with_their_password(world: World) -> None:
    created = await add_user(world.a.admin, role="manager")
    token = await token_for(world.anonymous, created["email"], NEW_PASSWORD)
    me = (await world.anonymous.get(ME, headers=bearer(token))).json()
    assert me["user"]["id"] == created["id"]
    assert me["role"] == "manager"
    assert me["company"]["id"] == str(world.a.id)


async def test_create_user_defaults_to_agent(world: World) -> None:
    assert (await add_user(world.a.admin))["role"] == "agent"


def valid_new_user() -> dict[str, Any]:
    return {"email": unique_email(), "name": "N", "password": NEW_PASSWORD}


@pytest.mark.parametrize("field", ["email", "name", "password"])
async def test_create_user_without_a_required_field_is_422(world: World, field: str) -> None:
    payload = valid_new_user()
    del payload[field]
    assert_invalid(await world.a.admin.post(USERS, json=payload), field)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"email": None}, "email"),
        ({"name": None}, "name"),
        ({"password": None}, "password"),
        ({"role": None}, "role"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "someone@"}, "email"),
        ({"email": 42}, "email"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 123}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"password": "short"}, "password"),
        ({"password": " " * 12}, "password"),
        ({"password": "1234567"}, "password"),
        ({"password": 12345678}, "password"),
        ({"role": "owner"}, "role"),
        ({"role": "ADMIN"}, "role"),
        ({"is_admin": True}, "is_admin"),
    ],
    ids=lambda value: str(value) if isinstance(value, str) else None,
)
async def test_create_user_rejects_bad_fields(
    world: World, patch: dict[str, Any], field: str
) -> None:
    response = await world.a.admin.post(USERS, json={**valid_new_user(), **patch})
    assert_invalid(response, field)
    assert (await world.a.admin.get(USERS)).json()["total"] == 3


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'"a string"', b"null", b'{"email": '],
)
async def test_create_user_rejects_a_body_that_is_not_an_object(
    world: World, content: bytes
) -> None:
    response = await world.a.admin.post(
        USERS, content=content, headers={"Content-Type": "application/json"}
    )
    assert_invalid(response)


async def test_create_user_with_a_taken_email_is_409(world: World) -> None:
    response = await world.a.admin.post(
        USERS,
        json={"email": "manager@company-a.example", "name": "Dup", "password": NEW_PASSWORD},
    )
    assert_problem(response, 409)


async def test_create_user_email_clash_ignores_case(world: World) -> None:
    response = await world.a.admin.post(
        USERS,
        json={"email": "MANAGER@Company-A.example", "name": "Dup", "password": NEW_PASSWORD},
    )
    assert_problem(response, 409)


async def test_create_user_with_another_companys_email_is_409(world: World) -> None:
    response = await world.a.admin.post(
        USERS,
        json={"email": "agent@company-b.example", "name": "Dup", "password": NEW_PASSWORD},
    )
    assert_problem(response, 409)
    assert (await world.a.admin.get(USERS)).json()["total"] == 3


# --- GET /users/{id} ---------------------------------------------------------------------------


async def test_get_user_answers_the_user(world: World) -> None:
    manager = user_of(world, Role.MANAGER)
    body = await get_user(world.a.admin, manager.id)
    assert body["id"] == str(manager.id)
    assert body["email"] == "manager@company-a.example"
    assert body["name"] == "Manager of Company A"
    assert body["role"] == "manager"
    assert body["is_active"] is True
    assert not {"password", "password_hash"} & set(body)


async def test_get_unknown_user_is_404(world: World) -> None:
    assert_problem(await world.a.admin.get(f"{USERS}/{uuid.uuid4()}"), 404)


async def test_get_user_of_another_company_is_404(world: World) -> None:
    assert_problem(await world.a.admin.get(f"{USERS}/{b_agent_id(world)}"), 404)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000z"])
async def test_get_user_with_a_malformed_id_is_422(world: World, bad_id: str) -> None:
    assert_invalid(await world.a.admin.get(f"{USERS}/{bad_id}"), "user_id")


# --- PATCH /users/{id} -------------------------------------------------------------------------


async def test_update_user_changes_the_given_fields(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    response = await world.a.admin.patch(
        f"{USERS}/{agent.id}",
        json={"name": "Renamed Agent", "email": "Renamed@Corp.Example", "role": "manager"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(agent.id)
    assert body["name"] == "Renamed Agent"
    assert body["email"] == "renamed@corp.example"
    assert body["role"] == "manager"
    assert body["is_active"] is True
    assert await get_user(world.a.admin, agent.id) == body


async def test_update_user_leaves_other_fields_alone(world: World) -> None:
    manager = user_of(world, Role.MANAGER)
    before = await get_user(world.a.admin, manager.id)
    response = await world.a.admin.patch(f"{USERS}/{manager.id}", json={"name": "Only Name"})
    after = response.json()
    assert after["name"] == "Only Name"
    for field in ("email", "role", "is_active", "created_at"):
        assert after[field] == before[field]


async def test_update_user_with_an_empty_body_changes_nothing(world: World) -> None:
    manager = user_of(world, Role.MANAGER)
    before = await get_user(world.a.admin, manager.id)
    response = await world.a.admin.patch(f"{USERS}/{manager.id}", json={})
    assert response.status_code == 200, response.text
    assert {k: v for k, v in response.json().items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


async def test_update_user_password_replaces_the_old_one(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    response = await world.a.admin.patch(f"{USERS}/{agent.id}", json={"password": NEW_PASSWORD})
    assert response.status_code == 200, response.text
    assert_unauthorized(await sign_in(world.anonymous, agent.email, PASSWORD))
    assert (await sign_in(world.anonymous, agent.email, NEW_PASSWORD)).status_code == 200


async def test_changing_a_password_ends_sessions_signed_in_before(world: World) -> None:
    agent = world.a.actors[Role.AGENT]
    assert (await world.a.agent.get("/api/v1/me")).status_code == 200
    await world.a.admin.patch(f"{USERS}/{agent.user.id}", json={"password": NEW_PASSWORD})
    refused = await world.a.agent.get("/api/v1/me")
    assert_unauthorized(refused)
    assert "password changed" in refused.json()["detail"]
    fresh = await token_for(world.anonymous, agent.user.email, NEW_PASSWORD)
    me = await world.anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"})
    assert me.status_code == 200


async def test_passwords_keep_their_spaces(world: World) -> None:
    spaced = "  spaced out pass  "
    agent = user_of(world, Role.AGENT)
    await world.a.admin.patch(f"{USERS}/{agent.id}", json={"password": spaced})
    assert (await sign_in(world.anonymous, agent.email, spaced)).status_code == 200
    assert_unauthorized(await sign_in(world.anonymous, agent.email, spaced.strip()))


async def test_signing_in_is_not_an_update_of_the_user(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    before = (await world.a.admin.get(f"{USERS}/{agent.id}")).json()
    assert (await sign_in(world.anonymous, agent.email, PASSWORD)).status_code == 200
    after = (await world.a.admin.get(f"{USERS}/{agent.id}")).json()
    assert after["updated_at"] == before["updated_at"]
    assert after["last_login_at"] is not None


async def test_update_user_new_email_is_the_new_login(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    await world.a.admin.patch(f"{USERS}/{agent.id}", json={"email": "moved@corp.example"})
    assert_unauthorized(await sign_in(world.anonymous, agent.email))
    assert (await sign_in(world.anonymous, "moved@corp.example")).status_code == 200


async def test_update_user_may_keep_their_own_email(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    response = await world.a.admin.patch(f"{USERS}/{agent.id}", json={"email": agent.email.upper()})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == agent.email


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"name": ""}, "name"),
        ({"name": ["a"]}, "name"),
        ({"password": "short"}, "password"),
        ({"role": "owner"}, "role"),
        ({"role": 3}, "role"),
        ({"is_active": "maybe"}, "is_active"),
        ({"is_active": [True]}, "is_active"),
        ({"password_hash": "x"}, "password_hash"),
        ({"company_id": UNKNOWN_ID}, "company_id"),
        ({"name": None}, "name"),
        ({"email": None}, "email"),
        ({"role": None}, "role"),
        ({"is_active": None}, "is_active"),
    ],
    ids=lambda value: str(value) if isinstance(value, str) else None,
)
async def test_update_user_rejects_bad_fields(
    world: World, payload: dict[str, Any], field: str
) -> None:
    agent = user_of(world, Role.AGENT)
    before = await get_user(world.a.admin, agent.id)
    assert_invalid(await world.a.admin.patch(f"{USERS}/{agent.id}", json=payload), field)
    assert await get_user(world.a.admin, agent.id) == before


async def test_update_user_to_a_taken_email_is_409(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    response = await world.a.admin.patch(
        f"{USERS}/{agent.id}", json={"email": "manager@company-a.example"}
    )
    assert_problem(response, 409)
    assert (await get_user(world.a.admin, agent.id))["email"] == agent.email


async def test_update_user_to_another_companys_email_is_409(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    response = await world.a.admin.patch(
        f"{USERS}/{agent.id}", json={"email": "Admin@Company-B.example"}
    )
    assert_problem(response, 409)


async def test_update_unknown_user_is_404(world: World) -> None:
    assert_problem(await world.a.admin.patch(f"{USERS}/{uuid.uuid4()}", json={"name": "X"}), 404)


async def test_update_user_of_another_company_is_404_and_changes_nothing(world: World) -> None:
    target = b_agent_id(world)
    before = await get_user(world.b.admin, target)
    response = await world.a.admin.patch(
        f"{USERS}/{target}", json={"name": "Hijacked", "role": "admin", "is_active": False}
    )
    assert_problem(response, 404)
    assert await get_user(world.b.admin, target) == before


async def test_update_user_with_a_malformed_id_is_422(world: World) -> None:
    assert_invalid(await world.a.admin.patch(f"{USERS}/nope", json={"name": "X"}), "user_id")


async def test_last_admin_cannot_be_demoted(world: World) -> None:
    admin = user_of(world, Role.ADMIN)
    response = await world.a.admin.patch(f"{USERS}/{admin.id}", json={"role": "manager"})
    assert_problem(response, 409)
    assert (await get_user(world.a.admin, admin.id))["role"] == "admin"


async def test_last_admin_cannot_be_deactivated(world: World) -> None:
    admin = user_of(world, Role.ADMIN)
    response = await world.a.admin.patch(f"{USERS}/{admin.id}", json={"is_active": False})
    assert_problem(response, 409)
    assert (await get_user(world.a.admin, admin.id))["is_active"] is True


async def test_last_admin_cannot_demote_themself(world: World) -> None:
    admin = user_of(world, Role.ADMIN)
    token = await token_for(world.anonymous, admin.email)
    response = await world.anonymous.patch(
        f"{USERS}/{admin.id}", json={"role": "agent"}, headers=bearer(token)
    )
    assert_problem(response, 409)


async def test_an_admin_can_be_demoted_while_another_remains(world: World) -> None:
    await add_user(world.a.admin, role="admin")
    admin = user_of(world, Role.ADMIN)
    response = await world.a.admin.patch(f"{USERS}/{admin.id}", json={"role": "manager"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "manager"


async def test_inactive_admin_can_be_demoted_beside_the_last_active_one(world: World) -> None:
    second = await add_user(world.a.admin, role="admin")
    response = await world.a.admin.patch(f"{USERS}/{second['id']}", json={"is_active": False})
    assert response.status_code == 200, response.text
    response = await world.a.admin.patch(f"{USERS}/{second['id']}", json={"role": "agent"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "agent"


async def test_last_admin_rule_counts_only_the_callers_company(world: World) -> None:
    # Company B has its own admin; that does not make A's admin demotable.
    admin = user_of(world, Role.ADMIN)
    response = await world.a.admin.patch(f"{USERS}/{admin.id}", json={"role": "agent"})
    assert_problem(response, 409)


# --- DELETE /users/{id} ------------------------------------------------------------------------


async def test_delete_user_removes_them(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    response = await world.a.admin.delete(f"{USERS}/{agent.id}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await world.a.admin.get(f"{USERS}/{agent.id}"), 404)
    assert (await world.a.admin.get(USERS)).json()["total"] == 2


async def test_deleted_user_cannot_sign_in(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    await world.a.admin.delete(f"{USERS}/{agent.id}")
    assert_unauthorized(await sign_in(world.anonymous, agent.email))


async def test_deleting_a_user_keeps_the_api_keys_they_created(world: World) -> None:
    # The agent key of the world was created by the agent user.
    await world.a.admin.delete(f"{USERS}/{user_of(world, Role.AGENT).id}")
    agent_key = world.a.actors[Role.AGENT].api_key
    assert (await world.anonymous.get(ME, headers=bearer(agent_key))).status_code == 200


async def test_deleted_users_email_can_be_reused(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    await world.a.admin.delete(f"{USERS}/{agent.id}")
    assert (await add_user(world.a.admin, email=agent.email))["email"] == agent.email


async def test_admin_cannot_delete_themself(world: World) -> None:
    await add_user(world.a.admin, role="admin")  # so the last-admin rule is not what refuses
    admin = user_of(world, Role.ADMIN)
    token = await token_for(world.anonymous, admin.email)
    response = await world.anonymous.delete(f"{USERS}/{admin.id}", headers=bearer(token))
    body = assert_problem(response, 409)
    assert "yourself" in body["detail"]
    assert (await get_user(world.a.admin, admin.id))["is_active"] is True


async def test_last_admin_cannot_be_deleted(world: World) -> None:
    admin = user_of(world, Role.ADMIN)
    body = assert_problem(await world.a.admin.delete(f"{USERS}/{admin.id}"), 409)
    assert "last" in body["detail"]
    await get_user(world.a.admin, admin.id)


async def test_an_admin_can_be_deleted_while_another_remains(world: World) -> None:
    second = await add_user(world.a.admin, role="admin")
    assert (await world.a.admin.delete(f"{USERS}/{second['id']}")).status_code == 204
    admin = user_of(world, Role.ADMIN)
    assert (await world.a.admin.delete(f"{USERS}/{admin.id}")).status_code == 409


async def test_delete_unknown_user_is_404(world: World) -> None:
    assert_problem(await world.a.admin.delete(f"{USERS}/{uuid.uuid4()}"), 404)


async def test_delete_user_twice_is_404_the_second_time(world: World) -> None:
    agent = user_of(world, Role.AGENT)
    assert (await world.a.admin.delete(f"{USERS}/{agent.id}")).status_code == 204
    assert_problem(await world.a.admin.delete(f"{USERS}/{agent.id}"), 404)


async def test_delete_user_of_another_company_is_404_and_keeps_them(world: World) -> None:
    for target in (b_agent_id(world), b_admin_id(world)):
        assert_problem(await world.a.admin.delete(f"{USERS}/{target}"), 404)
        await get_user(world.b.admin, target)
    assert (await world.b.admin.get(USERS)).json()["total"] == 3


async def test_delete_user_with_a_malformed_id_is_422(world: World) -> None:
    assert_invalid(await world.a.admin.delete(f"{USERS}/not-a-uuid"), "user_id")


# --- GET /api-keys -----------------------------------------------------------------------------


async def test_list_api_keys_shows_prefix_but_never_the_secret(world: World) -> None:
    response = await world.a.admin.get(KEYS)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 3
    assert (body["limit"], body["offset"]) == (50, 0)
    by_name = {item["name"]: item for item in body["items"]}
    assert set(by_name) == {"admin key", "manager key", "agent key"}
    for role in Role:
        item = by_name[f"{role.value} key"]
        secret = world.a.actors[role].api_key
        assert item["role"] == role.value
        assert item["prefix"] == secret[:10]
        assert item["revoked_at"] is None
        uuid.UUID(item["id"])
        assert not {"key", "key_hash"} & set(item)
        assert secret not in response.text


async def test_list_api_keys_shows_no_other_company(world: World) -> None:
    a_ids = {item["id"] for item in await list_keys(world.a.admin)}
    b_ids = {item["id"] for item in await list_keys(world.b.admin)}
    assert len(a_ids) == len(b_ids) == 3
    assert not a_ids & b_ids


async def test_list_api_keys_newest_first(world: World) -> None:
    created = await add_key(world.a.admin, name="newest")
    assert (await list_keys(world.a.admin))[0]["id"] == created["id"]


async def test_list_api_keys_pages(world: World) -> None:
    body = (await world.a.admin.get(KEYS, params={"limit": 2, "offset": 2})).json()
    assert body["total"] == 3
    assert len(body["items"]) == 1


async def test_list_api_keys_rejects_bad_paging(world: World) -> None:
    assert_invalid(await world.a.admin.get(KEYS, params={"limit": 1000}), "limit")


async def test_api_key_use_is_recorded(world: World) -> None:
    manager_key = world.a.actors[Role.MANAGER].api_key
    assert (await world.anonymous.get(ME, headers=bearer(manager_key))).status_code == 200
    item = next(i for i in await list_keys(world.a.admin) if i["name"] == "manager key")
    assert item["last_used_at"] is not None


# --- POST /api-keys ----------------------------------------------------------------------------


async def test_create_api_key_shows_the_secret_once(world: World) -> None:
    response = await world.a.admin.post(KEYS, json={"name": "CI pipeline", "role": "manager"})
    assert response.status_code == 201, response.text
    created = response.json()
    uuid.UUID(created["id"])
    assert created["name"] == "CI pipeline"
    assert created["role"] == "manager"
    assert created["key"].startswith("ac_")
    assert created["prefix"] == created["key"][:10]
    assert created["revoked_at"] is None
    assert created["last_used_at"] is None
    assert created["created_at"]

    listed = await world.a.admin.get(KEYS)
    item = next(i for i in listed.json()["items"] if i["id"] == created["id"])
    assert item["prefix"] == created["prefix"]
    assert "key" not in item
    assert created["key"] not in listed.text


async def test_created_api_key_authenticates_with_its_role(world: World) -> None:
    created = await add_key(world.a.admin, role="agent")
    response = await world.anonymous.get(ME, headers=bearer(created["key"]))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": None,
        "company": {"id": str(world.a.id), "name": "Company A"},
        "role": "agent",
        "auth": "api_key",
    }


async def test_api_key_with_a_lower_role_is_refused_admin_endpoints(world: World) -> None:
    created = await add_key(world.a.admin, role="manager")
    assert_problem(await world.anonymous.get(USERS, headers=bearer(created["key"])), 403)


async def test_create_api_key_defaults_to_admin(world: World) -> None:
    created = await add_key(world.a.admin)
    assert created["role"] == "admin"
    response = await world.anonymous.get(USERS, headers=bearer(created["key"]))
    assert response.status_code == 200


async def test_each_api_key_is_different(world: World) -> None:
    first, second = await add_key(world.a.admin), await add_key(world.a.admin)
    assert first["key"] != second["key"]
    assert first["id"] != second["id"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"role": "admin"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
        ({"name": None}, "name"),
        ({"name": 7}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"name": "ci", "role": "root"}, "role"),
        ({"name": "ci", "role": None}, "role"),
        ({"name": "ci", "key": "ac_chosen-by-me"}, "key"),
        ({"name": "ci", "expires": "never"}, "expires"),
    ],
    ids=lambda value: str(value) if isinstance(value, str) else None,
)
async def test_create_api_key_rejects_bad_fields(
    world: World, payload: dict[str, Any], field: str
) -> None:
    assert_invalid(await world.a.admin.post(KEYS, json=payload), field)
    assert len(await list_keys(world.a.admin)) == 3


async def test_create_api_key_rejects_a_body_that_is_not_json(world: World) -> None:
    response = await world.a.admin.post(
        KEYS, content=b"name=ci", headers={"Content-Type": "application/json"}
    )
    assert_invalid(response)


# --- DELETE /api-keys/{id} ---------------------------------------------------------------------


async def test_revoked_api_key_gets_401(world: World) -> None:
    created = await add_key(world.a.admin)
    assert (await world.anonymous.get(ME, headers=bearer(created["key"]))).status_code == 200
    response = await world.a.admin.delete(f"{KEYS}/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_unauthorized(await world.anonymous.get(ME, headers=bearer(created["key"])))


async def test_revoked_api_key_stays_listed_with_its_revocation_time(world: World) -> None:
    created = await add_key(world.a.admin)
    await world.a.admin.delete(f"{KEYS}/{created['id']}")
    item = next(i for i in await list_keys(world.a.admin) if i["id"] == created["id"])
    assert item["revoked_at"] is not None


async def test_revoking_twice_is_harmless(world: World) -> None:
    created = await add_key(world.a.admin)
    assert (await world.a.admin.delete(f"{KEYS}/{created['id']}")).status_code == 204
    first = next(i for i in await list_keys(world.a.admin) if i["id"] == created["id"])
    assert (await world.a.admin.delete(f"{KEYS}/{created['id']}")).status_code == 204
    second = next(i for i in await list_keys(world.a.admin) if i["id"] == created["id"])
    assert second["revoked_at"] == first["revoked_at"]


async def test_an_admin_key_can_revoke_itself(world: World) -> None:
    key_id = next(i["id"] for i in await list_keys(world.a.admin) if i["name"] == "admin key")
    assert (await world.a.admin.delete(f"{KEYS}/{key_id}")).status_code == 204
    assert_unauthorized(await world.a.admin.get(ME))


async def test_revoke_unknown_api_key_is_404(world: World) -> None:
    assert_problem(await world.a.admin.delete(f"{KEYS}/{uuid.uuid4()}"), 404)


async def test_revoke_api_key_of_another_company_is_404_and_it_keeps_working(
    world: World,
) -> None:
    b_key = next(i for i in await list_keys(world.b.admin) if i["name"] == "agent key")
    assert_problem(await world.a.admin.delete(f"{KEYS}/{b_key['id']}"), 404)
    b_agent_key = world.b.actors[Role.AGENT].api_key
    assert (await world.anonymous.get(ME, headers=bearer(b_agent_key))).status_code == 200
    after = next(i for i in await list_keys(world.b.admin) if i["id"] == b_key["id"])
    assert after["revoked_at"] is None


async def test_revoke_api_key_with_a_malformed_id_is_422(world: World) -> None:
    assert_invalid(await world.a.admin.delete(f"{KEYS}/ac_secret"), "key_id")


# --- GET /company ------------------------------------------------------------------------------


async def test_get_company_fills_in_defaults(world: World) -> None:
    body = await get_company(world.a.admin)
    assert body["id"] == str(world.a.id)
    assert body["name"] == "Company A"
    assert body["postal_address"] is None
    assert body["default_timezone"] == "UTC"
    assert body["frequency_cap"] == {"per_day": 3, "per_week": 10}
    assert body["quiet_hours"] == {"start": "08:00", "end": "21:00"}
    assert body["sms_help_text"] is None
    assert {k: Decimal(str(v)) for k, v in body["stage_probabilities"].items()} == {
        "lead": Decimal("0.10"),
        "mql": Decimal("0.20"),
        "sql": Decimal("0.40"),
        "opportunity": Decimal("0.60"),
        "customer": Decimal("1.00"),
        "lost": Decimal("0.00"),
    }
    assert body["created_at"]


async def test_get_company_answers_the_callers_company(world: World) -> None:
    body = await get_company(world.b.admin)
    assert (body["id"], body["name"]) == (str(world.b.id), "Company B")


# --- PATCH /company ----------------------------------------------------------------------------


async def test_update_company_changes_top_level_fields(world: World) -> None:
    changes = {
        "name": "Acme Corp",
        "postal_address": "1 Main St, Springfield",
        "default_timezone": "Europe/Berlin",
        "sms_help_text": "Acme: reply STOP to opt out.",
    }
    response = await world.a.admin.patch(COMPANY, json=changes)
    assert response.status_code == 200, response.text
    body = response.json()
    for field, value in changes.items():
        assert body[field] == value
    assert await get_company(world.a.admin) == body


async def test_update_company_new_name_shows_in_me(world: World) -> None:
    await world.a.admin.patch(COMPANY, json={"name": "Acme Corp"})
    assert (await world.a.agent.get(ME)).json()["company"]["name"] == "Acme Corp"


async def test_update_company_merges_quiet_hours_key_by_key(world: World) -> None:
    response = await world.a.admin.patch(COMPANY, json={"quiet_hours": {"start": "09:30"}})
    assert response.json()["quiet_hours"] == {"start": "09:30", "end": "21:00"}
    response = await world.a.admin.patch(COMPANY, json={"quiet_hours": {"end": "20:00"}})
    assert response.json()["quiet_hours"] == {"start": "09:30", "end": "20:00"}


@pytest.mark.parametrize(
    "hours",
    [
        {"start": "07:30"},  # earlier than the law allows calls and texts
        {"end": "21:30"},  # later
        {"start": "20:00", "end": "09:00"},  # overnight would allow the small hours
        {"start": "10:00", "end": "10:00"},
    ],
)
async def test_quiet_hours_are_never_wider_than_the_law_allows(
    world: World, hours: dict[str, str]
) -> None:
    response = await world.a.admin.patch(COMPANY, json={"quiet_hours": hours})
    assert response.status_code == 422, response.text
    assert (await world.a.admin.get(COMPANY)).json()["quiet_hours"] == {
        "start": "08:00", "end": "21:00",
    }  # fmt: skip


async def test_a_patch_of_one_end_may_not_cross_the_other(world: World) -> None:
    assert (
        await world.a.admin.patch(COMPANY, json={"quiet_hours": {"start": "12:00"}})
    ).status_code == 200
    response = await world.a.admin.patch(COMPANY, json={"quiet_hours": {"end": "11:00"}})
    assert response.status_code == 422
    assert "start must be before end" in response.json()["detail"]


async def test_update_company_merges_frequency_cap_key_by_key(world: World) -> None:
    await world.a.admin.patch(COMPANY, json={"frequency_cap": {"per_day": 5}})
    response = await world.a.admin.patch(COMPANY, json={"frequency_cap": {"per_week": 20}})
    assert response.json()["frequency_cap"] == {"per_day": 5, "per_week": 20}


async def test_update_company_null_frequency_cap_entry_lifts_that_cap(world: World) -> None:
    response = await world.a.admin.patch(COMPANY, json={"frequency_cap": {"per_day": None}})
    assert response.status_code == 200, response.text
    assert response.json()["frequency_cap"] == {"per_day": None, "per_week": 10}


async def test_update_company_sets_some_stage_probabilities(world: World) -> None:
    response = await world.a.admin.patch(
        COMPANY, json={"stage_probabilities": {"sql": 0.5, "opportunity": "0.75"}}
    )
    assert response.status_code == 200, response.text
    stored = (await get_company(world.a.admin))["stage_probabilities"]
    assert Decimal(str(stored["sql"])) == Decimal("0.5")
    assert Decimal(str(stored["opportunity"])) == Decimal("0.75")
    assert Decimal(str(stored["lead"])) == Decimal("0.10")


async def test_update_company_null_resets_a_setting_to_its_default(world: World) -> None:
    await world.a.admin.patch(
        COMPANY, json={"quiet_hours": {"start": "10:00"}, "postal_address": "1 Main St"}
    )
    response = await world.a.admin.patch(
        COMPANY, json={"quiet_hours": None, "postal_address": None}
    )
    assert response.status_code == 200, response.text
    assert response.json()["quiet_hours"] == {"start": "08:00", "end": "21:00"}
    assert response.json()["postal_address"] is None


async def test_update_company_with_an_empty_body_changes_nothing(world: World) -> None:
    before = await get_company(world.a.admin)
    response = await world.a.admin.patch(COMPANY, json={})
    assert response.status_code == 200, response.text
    assert response.json() == before


async def test_update_company_leaves_other_companies_alone(world: World) -> None:
    before = await get_company(world.b.admin)
    await world.a.admin.patch(
        COMPANY, json={"name": "Acme Corp", "quiet_hours": {"start": "11:00"}}
    )
    assert await get_company(world.b.admin) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": None}, None),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 12}, "name"),
        ({"name": "n" * 201}, "name"),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
        ({"default_timezone": "utc+2"}, "default_timezone"),
        ({"default_timezone": 2}, "default_timezone"),
        ({"default_timezone": None}, "default_timezone"),
        ({"postal_address": "p" * 1001}, "postal_address"),
        ({"sms_help_text": "s" * 321}, "sms_help_text"),
        ({"quiet_hours": {"start": "8:00"}}, "start"),
        ({"quiet_hours": {"start": "24:00"}}, "start"),
        ({"quiet_hours": {"end": "21:60"}}, "end"),
        ({"quiet_hours": {"end": "9pm"}}, "end"),
        ({"quiet_hours": {"start": "08:00:00"}}, "start"),
        ({"quiet_hours": {"start": 800}}, "start"),
        ({"quiet_hours": {"begin": "08:00"}}, "begin"),
        ({"quiet_hours": "08:00-21:00"}, "quiet_hours"),
        ({"frequency_cap": {"per_day": 0}}, "per_day"),
        ({"frequency_cap": {"per_day": -1}}, "per_day"),
        ({"frequency_cap": {"per_day": "many"}}, "per_day"),
        ({"frequency_cap": {"per_day": 1.5}}, "per_day"),
        ({"frequency_cap": {"per_week": 10**12}}, "per_week"),
        ({"frequency_cap": {"per_month": 5}}, "per_month"),
        ({"frequency_cap": 5}, "frequency_cap"),
        ({"stage_probabilities": {"sql": 1.5}}, "sql"),
        ({"stage_probabilities": {"sql": -0.1}}, "sql"),
        ({"stage_probabilities": {"sql": "NaN"}}, "sql"),
        ({"stage_probabilities": {"sql": "half"}}, "sql"),
        ({"stage_probabilities": {"won": 0.9}}, "won"),
        ({"plan": "enterprise"}, "plan"),
        ({"id": UNKNOWN_ID}, "id"),
    ],
    ids=lambda value: str(value) if isinstance(value, str) else None,
)
async def test_update_company_rejects_bad_fields(
    world: World, payload: dict[str, Any], field: str | None
) -> None:
    before = await get_company(world.a.admin)
    assert_invalid(await world.a.admin.patch(COMPANY, json=payload), field)
    assert await get_company(world.a.admin) == before


async def test_update_company_rejects_a_body_that_is_not_an_object(world: World) -> None:
    assert_invalid(await world.a.admin.patch(COMPANY, json=["name", "Acme"]))


# --- text PostgreSQL cannot store --------------------------------------------------------------

NUL_TEXT = "nul\x00byte"


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("POST", USERS, {"name": NUL_TEXT}, "name"),
        ("POST", USERS, {"email": "nul\x00@corp.example"}, "email"),
        ("POST", USERS, {"password": "password\x00"}, "password"),
        ("PATCH", f"{USERS}/{{agent_id}}", {"name": NUL_TEXT}, "name"),
        ("POST", KEYS, {"name": NUL_TEXT}, "name"),
        ("PATCH", COMPANY, {"name": NUL_TEXT}, "name"),
        ("PATCH", COMPANY, {"postal_address": NUL_TEXT}, "postal_address"),
        ("PATCH", COMPANY, {"sms_help_text": NUL_TEXT}, "sms_help_text"),
        ("PATCH", COMPANY, {"default_timezone": "UTC\x00"}, "default_timezone"),
    ],
    ids=lambda value: value if isinstance(value, str) and "\x00" not in value else None,
)
async def test_nul_character_is_422_naming_the_field(
    world: World, method: str, path: str, payload: dict[str, Any], field: str
) -> None:
    if method == "POST" and path == USERS:
        payload = {**valid_new_user(), **payload}
    path = path.format(agent_id=user_of(world, Role.AGENT).id)
    body = assert_invalid(await world.a.admin.request(method, path, json=payload))
    assert field in body["detail"]


# --- concurrent requests -----------------------------------------------------------------------


async def use_key_once(client: httpx.AsyncClient) -> None:
    """The first use of an API key writes its last_used_at, locking the key's row until commit;
    concurrent first uses would queue behind that write instead of racing each other."""
    assert (await client.get(ME)).status_code == 200


async def test_concurrent_creates_with_one_email_make_one_user(world: World) -> None:
    payload = {"email": unique_email("race"), "name": "Racer", "password": NEW_PASSWORD}
    await use_key_once(world.a.admin)
    responses = await asyncio.gather(*(world.a.admin.post(USERS, json=payload) for _ in range(4)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)


async def test_concurrent_demotions_of_the_last_two_admins_keep_one(world: World) -> None:
    second = await add_user(world.a.admin, role="admin")
    admins = [str(user_of(world, Role.ADMIN).id), second["id"]]
    responses = await asyncio.gather(
        *(world.a.admin.patch(f"{USERS}/{user_id}", json={"role": "agent"}) for user_id in admins)
    )
    assert sorted(response.status_code for response in responses) == [200, 409]
    roles = [item["role"] for item in (await world.a.admin.get(USERS)).json()["items"]]
    assert roles.count("admin") == 1


async def test_concurrent_deletions_of_the_last_two_admins_keep_one(world: World) -> None:
    second = await add_user(world.a.admin, role="admin")
    admins = [str(user_of(world, Role.ADMIN).id), second["id"]]
    responses = await asyncio.gather(
        *(world.a.admin.delete(f"{USERS}/{user_id}") for user_id in admins)
    )
    assert sorted(response.status_code for response in responses) == [204, 409]
    roles = [item["role"] for item in (await world.a.admin.get(USERS)).json()["items"]]
    assert roles.count("admin") == 1


async def test_concurrent_renames_to_one_email_keep_it_unique(world: World) -> None:
    email = unique_email("race")
    targets = [user_of(world, Role.MANAGER).id, user_of(world, Role.AGENT).id]
    await use_key_once(world.a.admin)
    responses = await asyncio.gather(
        *(world.a.admin.patch(f"{USERS}/{user_id}", json={"email": email}) for user_id in targets)
    )
    assert sorted(response.status_code for response in responses) == [200, 409]
    emails = [item["email"] for item in (await world.a.admin.get(USERS)).json()["items"]]
    assert emails.count(email) == 1
