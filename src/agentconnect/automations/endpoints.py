"""Automation rules (admin/manager): CRUD and each rule's runs."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from agentconnect.automations import schemas, service
from agentconnect.deps import ManagerDep, SessionDep
from agentconnect.kit.pagination import Page, PageDep

router = APIRouter(prefix="/api/v1/automations", tags=["automations"])


@router.post("", response_model=schemas.Rule, status_code=status.HTTP_201_CREATED)
async def create_rule(
    session: SessionDep, principal: ManagerDep, body: schemas.RuleCreate
) -> schemas.Rule:
    """Create a rule: a `trigger`, optional `conditions` (all must hold) and `actions` (run in
    order). The worker evaluates it for every matching event from now on."""
    return schemas.Rule.model_validate(await service.create_rule(session, principal, body))


@router.get("", response_model=Page[schemas.Rule])
async def list_rules(
    session: SessionDep, principal: ManagerDep, page: PageDep
) -> Page[schemas.Rule]:
    """The company's rules, oldest first."""
    rows, total = await service.list_rules(session, principal, page.limit, page.offset)
    return Page(
        items=[schemas.Rule.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{rule_id}", response_model=schemas.Rule)
async def get_rule(session: SessionDep, principal: ManagerDep, rule_id: uuid.UUID) -> schemas.Rule:
    """One rule."""
    return schemas.Rule.model_validate(await service.get_rule(session, principal, rule_id))


@router.patch("/{rule_id}", response_model=schemas.Rule)
async def update_rule(
    session: SessionDep, principal: ManagerDep, rule_id: uuid.UUID, body: schemas.RuleUpdate
) -> schemas.Rule:
    """Change a rule; `{"enabled": false}` turns it off without losing it or its runs."""
    return schemas.Rule.model_validate(await service.update_rule(session, principal, rule_id, body))


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(session: SessionDep, principal: ManagerDep, rule_id: uuid.UUID) -> Response:
    """Delete a rule and its runs."""
    await service.delete_rule(session, principal, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{rule_id}/runs", response_model=Page[schemas.Run])
async def list_runs(
    session: SessionDep,
    principal: ManagerDep,
    page: PageDep,
    rule_id: uuid.UUID,
    outcome: Annotated[
        Literal["succeeded", "failed", "loop_stopped"] | None, Query(description="only these")
    ] = None,
) -> Page[schemas.Run]:
    """Every time the rule matched an event, newest first, with its outcome: `succeeded`,
    `failed` (with the reason in `detail`; nothing of that run was kept) or `loop_stopped`
    (the event came from too long a chain of automations)."""
    rows, total = await service.list_runs(
        session, principal, rule_id, outcome, page.limit, page.offset
    )
    return Page(
        items=[schemas.Run.model_validate(r) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
