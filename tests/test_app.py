"""Operations endpoints, error shapes and middleware of the assembled app."""

from __future__ import annotations

import httpx

from tests.fixtures.world import World


async def test_health_answers_without_auth(world: World) -> None:
    response = await world.anonymous.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_migration_head(world: World) -> None:
    response = await world.anonymous.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_unknown_route_is_problem_json_404(world: World) -> None:
    response = await world.anonymous.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert "/api/v1/nothing-here" in body["detail"]


async def test_wrong_method_is_problem_json_405(world: World) -> None:
    response = await world.a.admin.put("/api/v1/contacts", json={})
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "PUT" in response.json()["detail"]


async def test_oversized_json_body_is_413_before_parsing(world: World) -> None:
    # the test settings cap ordinary bodies at 1 MiB
    payload = {"first_name": "A", "notes": "x" * 1_100_000}
    response = await world.a.admin.post("/api/v1/contacts", json=payload)
    assert response.status_code == 413
    assert response.json()["status"] == 413


async def test_streamed_body_without_length_is_still_capped(world: World) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(120):
            yield b"x" * 10_000

    response = await world.a.admin.post(
        "/api/v1/contacts", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_request_id_is_echoed_or_generated(world: World) -> None:
    given = await world.anonymous.get("/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    hostile = await world.anonymous.get("/health", headers={"X-Request-ID": "a b\tc" * 30})
    assert hostile.headers["x-request-id"] != "a b\tc" * 30
    assert len(hostile.headers["x-request-id"]) == 32


async def test_unexpected_errors_are_generic_500_without_internals(
    app: httpx.ASGITransport, world: World
) -> None:
    @app.get("/boom")  # type: ignore[attr-defined]
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )
    response = await client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in response.text
    assert response.json()["request_id"] == "req-42"
    assert response.headers["x-request-id"] == "req-42"
    await client.aclose()


async def test_malformed_json_says_so(world: World) -> None:
    response = await world.a.admin.post(
        "/api/v1/contacts", content=b'{"first_name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "the request body is not valid JSON"


async def test_openapi_and_docs_are_served(world: World) -> None:
    spec = await world.anonymous.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert "/api/v1/contacts/import" in paths
    assert "/api/v1/auth/token" in paths
    docs = await world.anonymous.get("/docs")
    assert docs.status_code == 200


async def test_openapi_describes_errors_as_problem_details(world: World) -> None:
    spec = (await world.anonymous.get("/openapi.json")).json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operation = spec["paths"]["/api/v1/leads/{lead_id}"]["get"]
    for status in ("401", "404", "422"):
        content = operation["responses"][status]["content"]
        assert (
            content["application/problem+json"]["schema"]["$ref"] == "#/components/schemas/Problem"
        )
    assert "/health" in spec["paths"]
    assert "401" not in spec["paths"]["/health"]["get"]["responses"]
