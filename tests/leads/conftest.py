"""Helpers for lead tests: contacts and leads made through the API."""

from __future__ import annotations

from typing import Any

import httpx

LEADS = "/api/v1/leads"


async def new_contact(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    fields.setdefault("first_name", "Casey")
    response = await client.post("/api/v1/contacts", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def new_lead(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    if "contact_id" not in fields:
        fields["contact_id"] = (await new_contact(client))["id"]
    response = await client.post(LEADS, json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def set_stage(
    client: httpx.AsyncClient, lead_id: str, stage: str, reason: str | None = None
) -> httpx.Response:
    return await client.put(f"{LEADS}/{lead_id}/stage", json={"stage": stage, "reason": reason})
