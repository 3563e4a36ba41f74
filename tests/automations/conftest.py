"""Helpers for automation tests: rules made through the API and the runner over events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agentconnect.automations.runner import Runner
from agentconnect.db import Database

AUTOMATIONS = "/api/v1/automations"


@pytest.fixture
def runner(database: Database) -> Runner:
    return Runner(database, batch_size=50)


async def new_rule(
    client: httpx.AsyncClient,
    trigger: dict[str, Any],
    actions: list[dict[str, Any]],
    conditions: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body = {"name": fields.pop("name", "a rule"), "trigger": trigger, "actions": actions,
            "conditions": conditions or [], **fields}  # fmt: skip
    response = await client.post(AUTOMATIONS, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def runs(client: httpx.AsyncClient, rule_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{AUTOMATIONS}/{rule_id}/runs")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
