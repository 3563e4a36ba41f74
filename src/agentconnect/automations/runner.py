"""The automation runner: evaluates rules against the event outbox, in the worker.

A pass claims a batch of events no rule has seen (`SKIP LOCKED`, oldest first), loads the
enabled rules listening to those (company, event type) pairs in one query, and for each
matching rule checks its conditions against the lead and contact as they are now, then runs
its actions through the domain services (so roles, tenancy and stage rules hold exactly as for
a person) inside a savepoint: a run that fails keeps nothing of its actions and is recorded
`failed` with the reason. The batch's events are then marked seen, in the same transaction as
the runs, so each event is evaluated once.

Loops: every event carries its depth (how many automation steps led to it). Actions run with
the depth of their event plus one (a transaction-local setting the outbox reads), and an event
at `max_depth` runs no actions: each rule it matches records `loop_stopped`, and a warning is
logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.auth.principal import Principal
from agentconnect.automations import repository as repo
from agentconnect.automations import schemas
from agentconnect.campaigns import service as campaigns
from agentconnect.contacts import service as contacts
from agentconnect.contacts.schemas import ContactUpdate
from agentconnect.db import Database
from agentconnect.errors import AppError
from agentconnect.leads import schemas as lead_schemas
from agentconnect.leads import service as leads
from agentconnect.models import AutomationRule, AutomationRun, Contact, Event, Lead, Role
from agentconnect.models.enums import StageChangeSource
from agentconnect.webhooks import events

log = logging.getLogger(__name__)

MAX_DEPTH = 5

_CHANNEL_PREFIXES = {"email": "email", "sms": "sms", "whatsapp": "whatsapp", "call": "voice",
                     "voicemail": "voice"}  # fmt: skip


@dataclass
class RunnerOutcome:
    events: int = 0
    runs: int = 0
    failed: int = 0
    loops_stopped: int = 0


@dataclass(frozen=True)
class EventView:
    """An event's values, read once: the services the actions call expire ORM objects."""

    id: uuid.UUID
    company_id: uuid.UUID
    event_type: str
    lead_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    payload: dict[str, Any]
    depth: int

    @classmethod
    def of(cls, event: Event) -> EventView:
        return cls(event.id, event.company_id, event.event_type, event.lead_id,
                   event.contact_id, event.payload, event.depth)  # fmt: skip


@dataclass(frozen=True)
class RuleView:
    id: uuid.UUID
    company_id: uuid.UUID
    trigger: schemas.Trigger
    conditions: list[schemas.Condition]
    actions: list[schemas.Action]

    @classmethod
    def of(cls, rule: AutomationRule) -> RuleView:
        return cls(
            rule.id,
            rule.company_id,
            schemas.Trigger.model_validate(rule.trigger),
            [schemas.Condition.model_validate(c) for c in rule.conditions],
            [schemas.Action.model_validate(a) for a in rule.actions],
        )


class RunFailed(Exception):
    """An action cannot run (its lead or contact is gone): the run is recorded as failed."""


@dataclass
class _Context:
    event: EventView
    principal: Principal
    lead: Lead | None
    contact: Contact | None
    notes: list[str]


def trigger_matches(trigger: schemas.Trigger, event: EventView) -> bool:
    data = event.payload
    if trigger.type == "lead_stage_changed":
        return (trigger.to_stage is None or data.get("to_stage") == trigger.to_stage.value) and (
            trigger.from_stage is None or data.get("from_stage") == trigger.from_stage.value
        )
    if trigger.type == "score_crossed":
        assert trigger.threshold is not None
        before, after = data.get("previous_score") or 0, data.get("score") or 0
        if trigger.direction == "up":
            return bool(before < trigger.threshold <= after)
        return bool(after < trigger.threshold <= before)
    activity = data.get("activity") or {}
    if trigger.type == "activity_recorded":
        assert trigger.activity is not None
        return activity.get("activity_type") in schemas.ACTIVITY_EVENTS[trigger.activity][1]
    if trigger.campaign_id is not None:
        campaign = activity.get("campaign_id") or (data.get("enrollment") or {}).get("campaign_id")
        return campaign == str(trigger.campaign_id)
    return True


def channel_of(event: EventView) -> str | None:
    kind = str((event.payload.get("activity") or {}).get("activity_type") or "")
    return _CHANNEL_PREFIXES.get(kind.split("_", 1)[0])


def conditions_hold(conditions: list[schemas.Condition], context: _Context) -> bool:
    lead, contact = context.lead, context.contact
    for condition in conditions:
        if condition.type == "stage_in":
            ok = lead is not None and lead.stage in (condition.stages or [])
        elif condition.type == "score_at_least":
            score = lead.score if lead is not None else (contact.lead_score if contact else None)
            ok = score is not None and condition.score is not None and score >= condition.score
        elif condition.type == "source_in":
            source = (lead.source if lead is not None else None) or (
                contact.lead_source if contact is not None else None
            )
            ok = source in (condition.sources or [])
        elif condition.type == "has_tag":
            ok = contact is not None and condition.tag in (contact.tags or [])
        else:
            ok = channel_of(context.event) == condition.channel
        if not ok:
            return False
    return True


class Runner:
    def __init__(
        self, database: Database, *, batch_size: int = 500, max_depth: int = MAX_DEPTH
    ) -> None:
        self.database = database
        self.batch_size = batch_size
        self.max_depth = max_depth

    async def run_batch(self, now: datetime, outcome: RunnerOutcome) -> int:
        async with self.database.unit_of_work() as session:
            claimed = [EventView.of(e) for e in await repo.claim_events(session, self.batch_size)]
            if not claimed:
                return 0
            keys = list({(e.company_id, e.event_type) for e in claimed})
            listening: dict[tuple[uuid.UUID, str], list[RuleView]] = defaultdict(list)
            for row in await repo.listening_rules(session, keys):
                try:
                    view = RuleView.of(row)
                except ValueError:  # stored under an older schema: skipped, never a poison batch
                    log.exception("automation rule %s cannot be read; skipped", row.id)
                    continue
                listening[(row.company_id, row.event_type)].append(view)
            for event in claimed:
                for rule in listening.get((event.company_id, event.event_type), []):
                    await self._evaluate(session, rule, event, outcome)
            await repo.mark_automated(session, [e.id for e in claimed], now)
        outcome.events += len(claimed)
        return len(claimed)

    async def tick(self, now: datetime) -> RunnerOutcome:
        """Evaluate every waiting event, including those the actions of this pass cause."""
        outcome = RunnerOutcome()
        while await self.run_batch(now, outcome):
            pass
        return outcome

    async def run_forever(
        self,
        stop: asyncio.Event,
        clock: Any = lambda: datetime.now(UTC),
        idle_seconds: float = 1.0,
    ) -> None:
        while not stop.is_set():
            try:
                busy = await self.run_batch(clock(), RunnerOutcome())
            except Exception:  # the loop must outlive a failed batch; the next one retries it
                log.exception("automation batch failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)

    async def _evaluate(
        self, session: AsyncSession, rule: RuleView, event: EventView, outcome: RunnerOutcome
    ) -> None:
        if not trigger_matches(rule.trigger, event):
            return
        principal = Principal(company_id=event.company_id, role=Role.ADMIN)
        context = _Context(event, principal, None, None, [])
        await self._load(session, context)
        if not conditions_hold(rule.conditions, context):
            return
        outcome.runs += 1
        if event.depth >= self.max_depth:
            outcome.loops_stopped += 1
            log.warning(
                "automation rule %s not run: event %s (%s) is %d automation steps deep",
                rule.id, event.id, event.event_type, event.depth,
            )  # fmt: skip
            detail = (
                f"stopped: the event is {event.depth} automation steps deep (limit"
                f" {self.max_depth}); the rules likely trigger each other in a loop"
            )
            self._record(session, rule, event, "loop_stopped", 0, detail)
            return
        await events.set_depth(session, event.depth + 1)
        done = 0
        try:
            async with session.begin_nested():
                for action in rule.actions:
                    await self._act(session, action, context)
                    done += 1
        except (AppError, RunFailed) as error:
            outcome.failed += 1
            reason = error.detail if isinstance(error, AppError) else str(error)
            self._record(session, rule, event, "failed", done, f"action {done + 1}: {reason}")
            return
        except Exception as error:  # a bug must not stop the other rules and events
            log.exception("automation rule %s failed on event %s", rule.id, event.id)
            outcome.failed += 1
            self._record(session, rule, event, "failed", done, f"internal error ({error!r})")
            return
        self._record(session, rule, event, "succeeded", done, "; ".join(context.notes) or None)

    async def _load(self, session: AsyncSession, context: _Context) -> None:
        event, principal = context.event, context.principal
        if event.lead_id is not None:
            with contextlib.suppress(AppError):
                context.lead = await leads.get_lead(session, principal, event.lead_id)
        contact_id = event.contact_id or (context.lead.contact_id if context.lead else None)
        if contact_id is not None:
            with contextlib.suppress(AppError):
                context.contact = await contacts.get_contact(session, principal, contact_id)

    def _record(
        self,
        session: AsyncSession,
        rule: RuleView,
        event: EventView,
        outcome: str,
        done: int,
        detail: str | None,
    ) -> None:
        session.add(
            AutomationRun(
                company_id=rule.company_id,
                rule_id=rule.id,
                event_id=event.id,
                event_type=event.event_type,
                outcome=outcome,
                depth=event.depth,
                actions_done=done,
                detail=detail,
            )
        )

    async def _act(self, session: AsyncSession, action: schemas.Action, ctx: _Context) -> None:
        principal = ctx.principal
        if action.type == "send_webhook":
            await events.emit(
                session,
                principal.company_id,
                "automation.triggered",
                {"label": action.label, "event": {"id": str(ctx.event.id),
                 "type": ctx.event.event_type, "data": ctx.event.payload}},
                lead_id=ctx.event.lead_id,
                contact_id=ctx.contact.id if ctx.contact else None,
            )  # fmt: skip
        elif action.type in ("set_stage", "assign_round_robin") or (
            action.type == "set_field" and action.target == "lead"
        ):
            lead = _need(ctx.lead, "the event has no lead (or it was deleted)")
            if action.type == "set_stage":
                assert action.stage is not None
                request = lead_schemas.StageChangeRequest(stage=action.stage, reason=action.reason)
                await leads.change_stage(
                    session, principal, lead.id, request, source=StageChangeSource.AUTOMATION
                )
            elif action.type == "assign_round_robin":
                assert action.user_ids is not None
                await leads.bulk_assign(
                    session,
                    principal,
                    lead_schemas.BulkAssignRequest(
                        lead_ids=[lead.id], user_ids=action.user_ids, strategy="round_robin"
                    ),
                )
            else:
                update = lead_schemas.LeadUpdate.model_validate({action.field: action.value})
                await leads.update_lead(session, principal, lead.id, update)
            ctx.lead = await leads.get_lead(session, principal, lead.id)
        else:
            contact = _need(ctx.contact, "the event has no contact (or it was deleted)")
            if action.type == "enroll":
                assert action.campaign_id is not None
                result = await campaigns.enroll(
                    session, principal, action.campaign_id, [contact.id]
                )
                ctx.notes.extend(f"not enrolled: {s.reason}" for s in result.skipped)
            elif action.type == "unenroll":
                assert action.campaign_id is not None
                await campaigns.unenroll(session, principal, action.campaign_id, [contact.id])
            elif action.type in ("add_tag", "remove_tag"):
                tags = [t for t in (contact.tags or []) if t != action.tag]
                if action.type == "add_tag":
                    tags.append(str(action.tag))
                await contacts.update_contact(
                    session, principal, contact.id, ContactUpdate(tags=tags)
                )
            elif action.type == "set_field":
                fields = ContactUpdate.model_validate({action.field: action.value})
                await contacts.update_contact(session, principal, contact.id, fields)
            else:  # create_lead
                created = await leads.create_lead(
                    session,
                    principal,
                    lead_schemas.LeadCreate(
                        contact_id=contact.id, title=action.title, source="automation"
                    ),
                )
                ctx.notes.append(f"created lead {created.id}")
            ctx.contact = await contacts.get_contact(session, principal, contact.id)


def _need(value: Any, reason: str) -> Any:
    if value is None:
        raise RunFailed(reason)
    return value
