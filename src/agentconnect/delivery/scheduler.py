"""The scheduler: decides the due step of each claimed enrollment and queues its delivery.

One batch is one transaction: claim due enrollments (`FOR UPDATE SKIP LOCKED`), read what the
decisions need in a few set-based queries, decide in Python (time zones, windows, variants,
rendering are what SQL cannot do), then write deliveries, enrollment changes and activities
in three statements. A delivery's `dedupe_key` (`enrollment:step`) is unique, so even two
schedulers racing on the same enrollment could not queue a step twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.delivery import goals, timing
from agentconnect.delivery import repository as repo
from agentconnect.delivery.context import render_context
from agentconnect.delivery.renderer import render, render_message
from agentconnect.models.enums import (
    ActivityType,
    DelayUnit,
    EnrollmentStatus,
    GoalType,
    MessageType,
    OptInStatus,
)
from agentconnect.tenancy.service import DEFAULT_FREQUENCY_CAP
from agentconnect.tracking.compose import compose_email

# The activities that mean a campaign's goal was reached.
GOAL_ACTIVITIES: Mapping[GoalType, tuple[str, ...]] = {
    GoalType.REPLY: ("email_replied", "sms_replied", "whatsapp_replied"),
    GoalType.CLICK: ("email_clicked", "link_clicked"),
    GoalType.MEETING_SCHEDULED: ("meeting_scheduled",),
    GoalType.FORM_SUBMITTED: ("form_submitted",),
    GoalType.DEAL_WON: ("deal_won",),
}
# How many enrollments the scheduler decides before it lets other tasks of its event loop run.
_DECISIONS_BETWEEN_YIELDS = 25
# How far back send-time optimisation looks for a contact's engagement.
_ENGAGEMENT_HISTORY = timedelta(days=90)
# WhatsApp takes free-form text only this long after the contact's last message to us.
WHATSAPP_SESSION = timedelta(hours=24)
OUTSIDE_WHATSAPP_SESSION = (
    "outside WhatsApp's 24-hour window since the contact's last message, and the step names "
    "no approved template"
)


@dataclass(frozen=True)
class EngineSettings:
    """What the engine needs from the installation's configuration."""

    base_url: str
    secret_key: str
    batch_size: int = 500
    # Replaces Twilio's REST base URL (a fake server in tests, a proxy in staging).
    twilio_api_base: str | None = None


@dataclass
class BatchOutcome:
    claimed: int = 0
    queued: int = 0
    held: int = 0
    skipped: int = 0
    completed: int = 0
    ended: int = 0


@dataclass
class _Writes:
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    enrollments: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)


def choose_variant(
    enrollment_id: uuid.UUID, step_order: int, variants: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """A weighted choice that depends only on the enrollment and the step, so a retry or a
    second scheduler always picks the same variant."""
    if not variants:
        return None
    weights = [max(float(v.get("weight", 1) or 0), 0.0) for v in variants]
    total = sum(weights)
    if total <= 0:
        return variants[0]
    digest = hashlib.sha256(f"{enrollment_id}:{step_order}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * total
    for variant, weight in zip(variants, weights, strict=True):
        if point < weight:
            return variant
        point -= weight
    return variants[-1]


def most_engaged_hour(instants: Sequence[datetime], tz: ZoneInfo) -> int | None:
    if not instants:
        return None
    counts = Counter(timing.hour_of_week(moment, tz) for moment in instants)
    # Ties go to the earlier hour of the week, so the answer does not depend on row order.
    return min(counts, key=lambda hour: (-counts[hour], hour))


def _address(channel: str, contact: Any) -> str | None:
    value = contact.email if channel == MessageType.EMAIL else contact.phone
    return str(value) if value else None


def _from_domain(company: Any) -> str:
    """The domain of the company's sending address: its Message-IDs and the List-Unsubscribe
    mailto use it (mail for it reaches the company, which forwards unsubscribes to the inbound
    webhook). Without an address (console provider) a reserved name that never resolves."""
    from_email = company.from_email or ""
    return from_email.rpartition("@")[2] or f"{company.id}.agentconnect.invalid"


class Scheduler:
    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings

    async def run_batch(self, session: AsyncSession, now: datetime) -> BatchOutcome:
        """Decide one batch of due enrollments; the caller commits."""
        claimed = await repo.claim_due_enrollments(session, now, self.settings.batch_size)
        outcome = BatchOutcome(claimed=len(claimed))
        if not claimed:
            return outcome
        data = await _BatchData.load(session, claimed, now)
        writes = _Writes()
        for done, enrollment in enumerate(claimed, 1):
            self._decide(enrollment, data, now, writes, outcome)
            if done % _DECISIONS_BETWEEN_YIELDS == 0:
                # Rendering a whole batch takes a tenth of a second: the sender's lanes and
                # group commits running beside it (Engine.drain) get their turns meanwhile.
                await asyncio.sleep(0)
        # A step queued before (by a run whose enrollment update was lost) keeps its first
        # delivery: the insert skips the duplicate key and the enrollment still moves on.
        await repo.insert_deliveries(session, writes.deliveries)
        await repo.update_enrollments(session, writes.enrollments)
        await repo.insert_activities(session, writes.activities)
        return outcome

    def _decide(
        self, enrollment: Any, data: _BatchData, now: datetime, writes: _Writes, out: BatchOutcome
    ) -> None:
        steps = data.steps.get(enrollment.campaign_id, {})
        step = steps.get(enrollment.current_step)
        contact = data.contacts[enrollment.contact_id]
        company = data.companies[enrollment.company_id]
        activity = _activity_base(enrollment, step, now)

        def end(status: EnrollmentStatus, reason: str, kind: ActivityType) -> None:
            writes.enrollments.append(
                _enrollment(enrollment, status=status, exited_at=now, exit_reason=reason)
            )
            writes.activities.append(
                {
                    **activity,
                    "activity_type": kind,
                    "metadata": {
                        "reason": reason,
                        "step": enrollment.current_step,
                        "enrollment_id": str(enrollment.id),
                        **(
                            {"goal": enrollment.goal_type}
                            if kind == ActivityType.GOAL_ACHIEVED
                            else {}
                        ),
                    },
                }
            )
            out.ended += 1

        if step is None:
            writes.enrollments.append(
                _enrollment(enrollment, status=EnrollmentStatus.COMPLETED, completed_at=now)
            )
            out.completed += 1
            return
        goal = GoalType(enrollment.goal_type)
        if goal in GOAL_ACTIVITIES and any(
            (enrollment.contact_id, kind) in data.goal_events
            and data.goal_events[(enrollment.contact_id, kind)] >= enrollment.enrolled_at
            for kind in GOAL_ACTIVITIES[goal]
        ):
            end(
                EnrollmentStatus.GOAL_ACHIEVED,
                goals.exit_reason(goal),
                ActivityType.GOAL_ACHIEVED,
            )
            return
        if contact.do_not_contact:
            end(EnrollmentStatus.OPTED_OUT, "do_not_contact", ActivityType.STEP_SKIPPED)
            return
        if contact.opt_in_status == OptInStatus.OPTED_OUT:
            end(EnrollmentStatus.OPTED_OUT, "opted_out", ActivityType.STEP_SKIPPED)
            return

        channel = MessageType(step.message_type)
        address = _address(channel, contact)
        skip_reason = None
        if address is None:
            skip_reason = f"no {'email address' if channel == MessageType.EMAIL else 'phone'}"
        elif (enrollment.company_id, channel.value, address.lower()) in data.suppressed or (
            enrollment.company_id,
            channel.value,
            address,
        ) in data.suppressed:
            skip_reason = "suppressed"
        elif channel == MessageType.WHATSAPP and not (
            data.in_whatsapp_session(enrollment.contact_id, now) or _template(step)
        ):
            skip_reason = OUTSIDE_WHATSAPP_SESSION
        if skip_reason is not None:
            self._advance(enrollment, steps, now, data, writes, out, queued=False)
            writes.activities.append(
                {
                    **activity,
                    "activity_type": ActivityType.STEP_SKIPPED,
                    "metadata": {"reason": skip_reason, "step": step.sequence_order},
                }
            )
            out.skipped += 1
            return

        tz = timing.zone(contact.timezone, enrollment.campaign_timezone or company.default_timezone)
        send_at = self._send_time(enrollment, step, channel, tz, company, data, now)
        if send_at is None:
            self._advance(enrollment, steps, now, data, writes, out, queued=False)
            writes.activities.append(
                {
                    **activity,
                    "activity_type": ActivityType.STEP_SKIPPED,
                    "metadata": {
                        "reason": "the send window and quiet hours never overlap",
                        "step": step.sequence_order,
                    },
                }
            )
            out.skipped += 1
            return
        cap_until = data.cap_frees_at(enrollment.contact_id, company, now)
        if cap_until is not None:
            send_at = max(send_at, cap_until)
        if send_at > now:
            writes.enrollments.append(
                _enrollment(
                    enrollment,
                    status=EnrollmentStatus.ACTIVE,
                    next_step_at=send_at,
                    held_step=step.sequence_order,
                )
            )
            out.held += 1
            return

        assert address is not None  # a step without an address was skipped above
        variant = choose_variant(enrollment.id, step.sequence_order, step.variants or [])
        writes.deliveries.append(
            self._delivery(enrollment, step, channel, variant, contact, company, data, address, now)
        )
        data.count_send(enrollment.contact_id)
        self._advance(enrollment, steps, now, data, writes, out, queued=True, variant=variant)
        out.queued += 1

    def _send_time(
        self,
        enrollment: Any,
        step: Any,
        channel: MessageType,
        tz: ZoneInfo,
        company: Any,
        data: _BatchData,
        now: datetime,
    ) -> datetime | None:
        window = timing.SendWindow.from_json(step.send_window)
        hours = [timing.DailyHours.from_json(enrollment.campaign_quiet_hours)]
        if channel in timing.QUIET_CHANNELS:
            stored = (company.settings or {}).get("quiet_hours", {})
            hours.append(timing.phone_hours(stored))
        allowed = _allowed_by_all(now, tz, window, [h for h in hours if h is not None])
        held = enrollment.held_step == step.sequence_order
        if allowed is None or not enrollment.send_time_optimization or held:
            return allowed
        # Send-time optimisation, once per step: the contact's most engaged hour of the week,
        # else the company's, else the window's start.
        instants = data.engagement.get(enrollment.contact_id) or data.company_engagement.get(
            enrollment.company_id, ()
        )
        preferred = most_engaged_hour(instants, tz)
        quiet = next((h for h in hours if h is not None), None)
        best = timing.at_preferred_hour(allowed, tz, preferred, window=window, quiet=quiet)
        if best is None:
            return allowed
        return _allowed_by_all(best, tz, window, [h for h in hours if h is not None])

    def _delivery(
        self,
        enrollment: Any,
        step: Any,
        channel: MessageType,
        variant: Mapping[str, Any] | None,
        contact: Any,
        company: Any,
        data: _BatchData,
        address: str,
        now: datetime,
    ) -> dict[str, Any]:
        subject = (variant or {}).get("subject") or step.subject
        body = (variant or {}).get("body") or step.body
        lead = data.leads.get(enrollment.lead_id) if enrollment.lead_id else None
        context = render_context(contact, lead, company)
        delivery_id = uuid.uuid4()
        details: dict[str, Any] = {}
        message_id_header = None
        if channel == MessageType.EMAIL:
            composed = compose_email(
                subject=subject,
                body=body,
                context=context,
                delivery_id=delivery_id,
                base_url=self.settings.base_url,
                secret=self.settings.secret_key,
                postal_address=company.postal_address,
                company_name=company.name,
                from_domain=_from_domain(company),
            )
            subject, text, html = composed.subject, composed.text, composed.html
            message_id_header = composed.message_id_header
            details = {"headers": composed.headers, "links": composed.links}
        else:
            rendered = render_message(None, body, context, email=False)
            text, html, subject = rendered.body, None, None
            details = _channel_details(step, channel, context, data, enrollment.contact_id, now)
        return {
            "id": delivery_id,
            "company_id": enrollment.company_id,
            "campaign_id": enrollment.campaign_id,
            "enrollment_id": enrollment.id,
            "contact_id": enrollment.contact_id,
            "lead_id": enrollment.lead_id,
            "message_id": step.id,
            "step_order": step.sequence_order,
            "channel": channel.value,
            "variant": (variant or {}).get("name"),
            "dedupe_key": f"{enrollment.id}:{step.sequence_order}",
            "to_address": address,
            "subject": subject,
            "body_text": text,
            "body_html": html,
            "details": details,
            "not_before": now,
            "message_id_header": message_id_header,
        }

    def _advance(
        self,
        enrollment: Any,
        steps: Mapping[int, Any],
        now: datetime,
        data: _BatchData,
        writes: _Writes,
        out: BatchOutcome,
        *,
        queued: bool,
        variant: Mapping[str, Any] | None = None,
    ) -> None:
        """Move to the next step (its delay counted from now), or finish the sequence."""
        current = enrollment.current_step
        later = sorted(order for order in steps if order > current)
        assignments = {str(current): variant["name"]} if variant and variant.get("name") else {}
        if not later:
            writes.enrollments.append(
                _enrollment(
                    enrollment,
                    status=EnrollmentStatus.COMPLETED,
                    current_step=current + 1,
                    completed_at=now,
                    variant_assignments=assignments,
                )
            )
            out.completed += 1
            return
        following = steps[later[0]]
        contact = data.contacts[enrollment.contact_id]
        company = data.companies[enrollment.company_id]
        tz = timing.zone(contact.timezone, enrollment.campaign_timezone or company.default_timezone)
        due = timing.after_delay(now, following.delay_value, DelayUnit(following.delay_unit), tz)
        writes.enrollments.append(
            _enrollment(
                enrollment,
                status=EnrollmentStatus.ACTIVE,
                current_step=later[0],
                next_step_at=due,
                variant_assignments=assignments,
            )
        )


def _template(step: Any) -> dict[str, Any] | None:
    template: dict[str, Any] | None = (step.options or {}).get("whatsapp_template")
    return template


def _channel_details(
    step: Any,
    channel: MessageType,
    context: Mapping[str, Any],
    data: _BatchData,
    contact_id: uuid.UUID,
    now: datetime,
) -> dict[str, Any]:
    """What a Twilio provider needs beyond the text: the approved template a WhatsApp step
    sends outside the 24-hour session (and inside it too when the step has no text of its
    own), a voice step's voicemail."""
    options = step.options or {}
    if channel == MessageType.WHATSAPP:
        template = _template(step)
        if template is None:
            return {}
        variables = {
            name: render(value, context) for name, value in template.get("variables", {}).items()
        }
        rendered = {"content_sid": template["content_sid"], "content_variables": variables}
        free_form = bool((step.body or "").strip()) and data.in_whatsapp_session(contact_id, now)
        # Free text now, the template kept for the sender: should the window close before the
        # message goes (a paused campaign resumed a day later), the template goes instead.
        return {"template": rendered} if free_form else rendered
    if channel == MessageType.VOICE:
        message = options.get("voicemail_message") or step.body
        return {
            "voicemail_message": render(message, context) if message else None,
            "voicemail_audio_url": options.get("voicemail_audio_url"),
        }
    return {}


def _allowed_by_all(
    moment: datetime,
    tz: ZoneInfo,
    window: timing.SendWindow | None,
    hours: Sequence[timing.DailyHours],
) -> datetime | None:
    """The earliest instant every constraint allows: each check can only move time forward,
    so repeating until none moves it finds the first instant all of them accept."""
    if not hours:
        return timing.earliest_allowed(moment, tz, window=window, quiet=None)
    candidate = moment
    for _ in range(8):
        start = candidate
        for quiet in hours:
            found = timing.earliest_allowed(candidate, tz, window=window, quiet=quiet)
            if found is None:
                return None
            candidate = found
        if candidate == start:
            return candidate
    return None


def _enrollment(
    enrollment: Any,
    *,
    status: EnrollmentStatus,
    current_step: int | None = None,
    next_step_at: datetime | None = None,
    completed_at: datetime | None = None,
    exited_at: datetime | None = None,
    exit_reason: str | None = None,
    variant_assignments: Mapping[str, Any] | None = None,
    held_step: int | None = None,
) -> dict[str, Any]:
    return {
        "held_step": held_step,
        "id": enrollment.id,
        "status": status.value,
        "current_step": enrollment.current_step if current_step is None else current_step,
        "next_step_at": next_step_at,
        "completed_at": completed_at,
        "exited_at": exited_at,
        "exit_reason": exit_reason,
        "variant_assignments": dict(variant_assignments or {}),
    }


def _activity_base(enrollment: Any, step: Any, now: datetime) -> dict[str, Any]:
    return {
        "company_id": enrollment.company_id,
        "campaign_id": enrollment.campaign_id,
        "contact_id": enrollment.contact_id,
        "lead_id": enrollment.lead_id,
        "message_id": step.id if step is not None else None,
        "variant": None,
        "occurred_at": now,
    }


@dataclass
class _BatchData:
    steps: dict[uuid.UUID, dict[int, Any]]
    contacts: dict[uuid.UUID, Any]
    leads: dict[uuid.UUID, Any]
    companies: dict[uuid.UUID, Any]
    suppressed: set[tuple[uuid.UUID, str, str]]
    goal_events: dict[tuple[uuid.UUID, str], datetime]
    sends: dict[uuid.UUID, repo.RecentSends]
    engagement: dict[uuid.UUID, tuple[datetime, ...]]
    company_engagement: dict[uuid.UUID, tuple[datetime, ...]]
    whatsapp_inbound: dict[uuid.UUID, datetime]
    sent_in_batch: Counter[uuid.UUID] = field(default_factory=Counter)

    @classmethod
    async def load(cls, session: AsyncSession, claimed: Sequence[Any], now: datetime) -> _BatchData:
        campaign_ids = list({e.campaign_id for e in claimed})
        contact_ids = list({e.contact_id for e in claimed})
        lead_ids = list({e.lead_id for e in claimed if e.lead_id is not None})
        company_ids = list({e.company_id for e in claimed})
        steps: dict[uuid.UUID, dict[int, Any]] = defaultdict(dict)
        for step in await repo.steps_of(session, campaign_ids):
            steps[step.campaign_id][step.sequence_order] = step
        contacts = {c.id: c for c in await repo.contacts_of(session, contact_ids)}
        keys = []
        for enrollment in claimed:
            step = steps[enrollment.campaign_id].get(enrollment.current_step)
            contact = contacts[enrollment.contact_id]
            if step is not None and (address := _address(step.message_type, contact)):
                keys.append((enrollment.company_id, str(step.message_type), address.lower()))
        goal_kinds = {
            kind for e in claimed for kind in GOAL_ACTIVITIES.get(GoalType(e.goal_type), ())
        }
        optimised = [e.contact_id for e in claimed if e.send_time_optimization]
        on_whatsapp = [
            e.contact_id
            for e in claimed
            if (step := steps[e.campaign_id].get(e.current_step)) is not None
            and step.message_type == MessageType.WHATSAPP
        ]
        since = now - _ENGAGEMENT_HISTORY
        return cls(
            steps=steps,
            contacts=contacts,
            leads={lead.id: lead for lead in await repo.leads_of(session, lead_ids)},
            companies={c.id: c for c in await repo.companies_of(session, company_ids)},
            suppressed=await repo.suppressed(session, keys),
            goal_events=await repo.goal_events(
                session,
                company_ids,
                contact_ids,
                sorted(goal_kinds),
                min(e.enrolled_at for e in claimed),
            ),
            sends=await repo.recent_sends(
                session, list({(e.company_id, e.contact_id) for e in claimed}), now
            ),
            engagement=await repo.preferred_hours(session, company_ids, optimised, since),
            company_engagement=await repo.company_engagement_instants(
                session,
                list({e.company_id for e in claimed if e.send_time_optimization}),
                since,
            ),
            whatsapp_inbound=await repo.last_inbound(
                session, company_ids, on_whatsapp, "whatsapp_replied", now - WHATSAPP_SESSION
            ),
        )

    def in_whatsapp_session(self, contact_id: uuid.UUID, now: datetime) -> bool:
        last = self.whatsapp_inbound.get(contact_id)
        return last is not None and now - last < WHATSAPP_SESSION

    def count_send(self, contact_id: uuid.UUID) -> None:
        self.sent_in_batch[contact_id] += 1

    def cap_frees_at(self, contact_id: uuid.UUID, company: Any, now: datetime) -> datetime | None:
        """When the company's frequency cap lets this contact receive one more message, or
        None when it does now."""
        cap = {**DEFAULT_FREQUENCY_CAP, **(company.settings or {}).get("frequency_cap", {})}
        recent = self.sends.get(contact_id)
        extra = self.sent_in_batch[contact_id]
        day = (recent.last_day if recent else 0) + extra
        week = (recent.last_week if recent else 0) + extra
        frees: list[datetime] = []
        if cap.get("per_day") and day >= cap["per_day"]:
            oldest = recent.oldest_in_day if recent and recent.oldest_in_day else now
            frees.append(oldest + timedelta(days=1))
        if cap.get("per_week") and week >= cap["per_week"]:
            oldest = recent.oldest_in_week if recent and recent.oldest_in_week else now
            frees.append(oldest + timedelta(days=7))
        return max(frees) if frees else None
