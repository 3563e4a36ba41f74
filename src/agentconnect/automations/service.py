"""Rules of automation rules: who may manage them and what a rule may refer to."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.automations import schemas
from agentconnect.automations.repository import RuleRepository, RunRepository
from agentconnect.errors import InvalidInput, NotFound
from agentconnect.kit.schemas import refuse_nulls
from agentconnect.leads.repository import LeadRepository
from agentconnect.models import AutomationRule, AutomationRun, Role


async def _check_references(
    session: AsyncSession,
    principal: Principal,
    trigger: schemas.Trigger,
    actions: list[schemas.Action],
) -> None:
    """Campaigns and users a rule names must be the company's own: 422 otherwise."""
    problems: list[dict[str, Any]] = []
    campaign_refs: list[tuple[list[Any], uuid.UUID]] = []
    if trigger.campaign_id is not None:
        campaign_refs.append((["body", "trigger", "campaign_id"], trigger.campaign_id))
    user_refs: list[tuple[list[Any], uuid.UUID]] = []
    for index, action in enumerate(actions):
        if action.campaign_id is not None:
            campaign_refs.append((["body", "actions", index, "campaign_id"], action.campaign_id))
        for user_id in action.user_ids or []:
            user_refs.append((["body", "actions", index, "user_ids"], user_id))
    # Two statements whatever the rule's size. Users must be active: assigning to an inactive
    # one fails when the rule runs (leads' own rule), so it is refused when the rule is saved.
    found_campaigns = await RuleRepository(session, principal.company_id).existing_campaigns(
        {campaign_id for _, campaign_id in campaign_refs}
    )
    active_users = await LeadRepository(session, principal.company_id).active_user_ids(
        list({user_id for _, user_id in user_refs})
    )
    problems += [
        {"loc": loc, "msg": f"no campaign {campaign_id}", "type": "value_error"}
        for loc, campaign_id in campaign_refs
        if campaign_id not in found_campaigns
    ]
    problems += [
        {"loc": loc, "msg": f"no active user {user_id}", "type": "value_error"}
        for loc, user_id in user_refs
        if user_id not in active_users
    ]
    if problems:
        raise InvalidInput("the rule refers to what does not exist", errors=problems)


def _stored(data: schemas.Trigger | schemas.Condition | schemas.Action) -> dict[str, Any]:
    return data.model_dump(mode="json", exclude_none=True, exclude_defaults=False)


async def get_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID
) -> AutomationRule:
    principal.require(Role.MANAGER)
    rule = await RuleRepository(session, principal.company_id).get(rule_id)
    if rule is None:
        raise NotFound(f"automation rule {rule_id} not found")
    return rule


async def list_rules(
    session: AsyncSession, principal: Principal, limit: int, offset: int
) -> tuple[list[AutomationRule], int]:
    principal.require(Role.MANAGER)
    return await RuleRepository(session, principal.company_id).page_all(limit, offset)


async def create_rule(
    session: AsyncSession, principal: Principal, data: schemas.RuleCreate
) -> AutomationRule:
    principal.require(Role.MANAGER)
    await _check_references(session, principal, data.trigger, data.actions)
    rule = RuleRepository(session, principal.company_id).add(
        AutomationRule(
            name=data.name,
            enabled=data.enabled,
            trigger=_stored(data.trigger),
            event_type=data.trigger.event_type,
            conditions=[_stored(c) for c in data.conditions],
            actions=[_stored(a) for a in data.actions],
        )
    )
    await session.flush()
    await session.refresh(rule)
    return rule


async def update_rule(
    session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: schemas.RuleUpdate
) -> AutomationRule:
    rule = await get_rule(session, principal, rule_id)
    changes = data.model_fields_set
    refuse_nulls({f: getattr(data, f) for f in changes}, ("name", "enabled", "trigger", "actions"))
    trigger = data.trigger or schemas.Trigger.model_validate(rule.trigger)
    actions = data.actions or [schemas.Action.model_validate(a) for a in rule.actions]
    await _check_references(session, principal, trigger, actions)
    if data.name is not None:
        rule.name = data.name
    if data.enabled is not None:
        rule.enabled = data.enabled
    if data.trigger is not None:
        rule.trigger, rule.event_type = _stored(data.trigger), data.trigger.event_type
    if data.conditions is not None:
        rule.conditions = [_stored(c) for c in data.conditions]
    if data.actions is not None:
        rule.actions = [_stored(a) for a in data.actions]
    await session.flush()
    await session.refresh(rule)
    return rule


async def delete_rule(session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
    rule = await get_rule(session, principal, rule_id)
    await session.delete(rule)
    await session.flush()


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    rule_id: uuid.UUID,
    outcome: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AutomationRun], int]:
    await get_rule(session, principal, rule_id)
    return await RunRepository(session, principal.company_id).of_rule(
        rule_id, outcome, limit, offset
    )
