"""Helpers for campaign tests: campaigns, steps and contacts made through the API."""

from __future__ import annotations

from typing import Any

import httpx

CAMPAIGNS = "/api/v1/campaigns"


async def new_campaign(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    fields.setdefault("name", "Spring outreach")
    fields.setdefault("campaign_type", "email")
    response = await client.post(CAMPAIGNS, json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_step(client: httpx.AsyncClient, campaign_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(f"{CAMPAIGNS}/{campaign_id}/messages", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def email_step(client: httpx.AsyncClient, campaign_id: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("subject", "Hello {{first_name|there}}")
    fields.setdefault("body", "Hi {{first_name|there}}, about {{company_name}}...")
    return await add_step(client, campaign_id, **fields)


async def contact(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/contacts", json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
