"""Campaign analytics, read from the rollups (analytics/rollups.py), never from the raw log.

Definitions (docs/CRM_API_GUIDE.md, "Campaign analytics"): every figure is distinct contacts
unless it says otherwise. A contact reaches a stage once, whatever channel took it there:
`sent` (e-mail, SMS or WhatsApp sent, or a call placed), `delivered` (an e-mail the receiving
server accepted, an SMS or WhatsApp message delivered or read, a call answered — less the
contacts whose e-mail bounced), `opened` (an e-mail opened by a person, not prefetched, or a
WhatsApp message read), `clicked`, `replied`, and `converted` (the contact's lead reached
`customer` and the campaign gets the credit: its message was the last — or, first-touch, the
first — the contact received within the campaign's attribution window before).
"""

from __future__ import annotations

import uuid
from bisect import bisect_right
from collections import OrderedDict, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from agentconnect.analytics import abtest, schemas
from agentconnect.auth.principal import Principal
from agentconnect.delivery import timing
from agentconnect.errors import InvalidInput, NotFound
from agentconnect.kit.sql import DriverStatement
from agentconnect.models.campaigns import REPLY_TYPES_SQL

ATTRIBUTION_WINDOW = timedelta(days=30)

_STAGE_CONTACTS = DriverStatement(
    text("""
SELECT campaign_id, activity_type, contacts FROM analytics_campaign_stats
WHERE company_id = :company AND campaign_id = ANY(:campaigns)
  AND (activity_type = 'enrolled' OR activity_type LIKE 'stage:%')
""")
)

# A conversion is a lead's first move to `customer`. It is credited to the campaign whose
# message to the contact came last (last touch) or first (first touch) among those sent within
# the window before it. Customers are few next to contacts: the query starts from them.
_CREDITED = """
WITH conversions AS (
    SELECT DISTINCT ON (l.id) l.id, l.contact_id, l.deal_value, sc.changed_at
    FROM lead_stage_changes AS sc
    JOIN leads AS l ON l.id = sc.lead_id AND l.company_id = sc.company_id
    WHERE sc.company_id = :company AND sc.to_stage = 'customer'
    ORDER BY l.id, sc.changed_at
), credited AS (
    SELECT c.contact_id, c.deal_value, c.changed_at, t.campaign_id
    FROM conversions AS c
    CROSS JOIN LATERAL (
        SELECT d.campaign_id FROM deliveries AS d
        WHERE d.company_id = :company AND d.contact_id = c.contact_id
          AND d.sent_at IS NOT NULL AND d.sent_at <= c.changed_at
          AND d.sent_at >= c.changed_at - :window
        ORDER BY d.sent_at {order}, d.id
        LIMIT 1
    ) AS t
)
"""
_ATTRIBUTION = {
    model: DriverStatement(
        text(
            _CREDITED.format(order=order)
            + "SELECT campaign_id, count(DISTINCT contact_id), coalesce(sum(deal_value), 0) "
            "FROM credited WHERE campaign_id = ANY(:campaigns) GROUP BY campaign_id"
        )
    )
    for model, order in (("last_touch", "DESC"), ("first_touch", "ASC"))
}
# When each conversion credited to the campaign (last touch) happened.
_CONVERSION_TIMES = DriverStatement(
    text(
        _CREDITED.format(order="DESC")  # noqa: S608 - fixed SQL, values bound
        + "SELECT changed_at FROM credited WHERE campaign_id = :campaign"
    )
)


def ordered(since: datetime | None, until: datetime | None) -> None:
    """InvalidInput unless `since` comes before `until` (when both are given)."""
    if since is not None and until is not None and since >= until:
        raise InvalidInput(
            "since must be before until",
            errors=[
                {"loc": ["query", "until"], "msg": "must be after since", "type": "value_error"}
            ],
        )


# What analytics need of campaigns, with the company's time zone, in one round trip.
_CAMPAIGN_FACTS = DriverStatement(
    text("""
SELECT c.id, c.cost, c.currency, c.attribution_window_days, c.timezone, c.started_at,
       c.created_at, co.default_timezone AS company_timezone
FROM campaigns AS c JOIN companies AS co ON co.id = c.company_id
WHERE c.company_id = :company AND c.id = ANY(:campaigns)
"""),
    named=True,
)


async def campaign_facts(
    session: AsyncSession, principal: Principal, campaign_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """Each campaign's analytics facts by id; NotFound for the first one that is not the
    principal's company's (or does not exist)."""
    params = {"company": principal.company_id, "campaigns": campaign_ids}
    facts = {row.id: row for row in await _CAMPAIGN_FACTS.rows(session, params)}
    for campaign_id in campaign_ids:
        if campaign_id not in facts:
            raise NotFound(f"campaign {campaign_id} not found")
    return facts


def window_of(campaign: Any) -> timedelta:
    """The campaign's attribution window."""
    return timedelta(days=campaign.attribution_window_days or ATTRIBUTION_WINDOW.days)


async def stage_contacts(
    session: AsyncSession, company_id: uuid.UUID, windows: dict[uuid.UUID, timedelta]
) -> dict[uuid.UUID, dict[str, int]]:
    """Distinct contacts per funnel stage of each campaign (the keys of `windows`, each with
    its attribution window), as the rollups have them."""
    params = {"company": company_id, "campaigns": list(windows)}
    counts: dict[uuid.UUID, dict[str, int]] = {campaign_id: {} for campaign_id in windows}
    for campaign_id, kind, contacts in await _STAGE_CONTACTS.rows(session, params):
        counts[campaign_id][kind.removeprefix("stage:")] = int(contacts)
    credited = await attributed_many(session, company_id, windows, "last_touch")
    for campaign_id, stages in counts.items():
        stages["converted"] = credited[campaign_id][0]
        # E-mail counts as delivered once the receiving server accepted it; a bounce takes it
        # back.
        stages["delivered"] = max(stages.get("delivered", 0) - stages.get("bounced", 0), 0)
    return counts


async def attributed_many(
    session: AsyncSession,
    company_id: uuid.UUID,
    windows: dict[uuid.UUID, timedelta],
    model: schemas.AttributionModel,
) -> dict[uuid.UUID, tuple[int, Decimal]]:
    """Conversions credited to each campaign under the model, and their deal value: one
    statement per distinct window."""
    by_window: dict[timedelta, list[uuid.UUID]] = defaultdict(list)
    for campaign_id, window in windows.items():
        by_window[window].append(campaign_id)
    credited = dict.fromkeys(windows, (0, Decimal(0)))
    for window, ids in by_window.items():
        params = {"company": company_id, "campaigns": ids, "window": window}
        for campaign_id, contacts, value in await _ATTRIBUTION[model].rows(session, params):
            credited[campaign_id] = (int(contacts), Decimal(value))
    return credited


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def funnel(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
) -> schemas.Funnel:
    (answer,) = await funnels(session, principal, [campaign_id])
    return answer


async def funnels(
    session: AsyncSession, principal: Principal, campaign_ids: list[uuid.UUID]
) -> list[schemas.Funnel]:
    """Each campaign's funnel, in the order given, in three statements however many."""
    campaigns = await campaign_facts(session, principal, campaign_ids)  # 404: another company's
    windows = {campaign_id: window_of(row) for campaign_id, row in campaigns.items()}
    counts = await stage_contacts(session, principal.company_id, windows)
    return [_funnel(c, counts[c], windows[c]) for c in campaign_ids]


def _funnel(campaign_id: uuid.UUID, counts: dict[str, int], window: timedelta) -> schemas.Funnel:
    order: list[schemas.FunnelStageName] = [
        "enrolled", "sent", "delivered", "opened", "clicked", "replied", "converted",
    ]  # fmt: skip
    enrolled = counts.get("enrolled", 0)
    stages, previous = [], None
    for name in order:
        contacts = counts.get(name, 0)
        stages.append(
            schemas.FunnelStage(
                stage=name,
                contacts=contacts,
                rate_from_previous=None if previous is None else _rate(contacts, previous),
                rate_from_start=_rate(contacts, enrolled),
            )
        )
        previous = contacts
    return schemas.Funnel(
        campaign_id=campaign_id,
        stages=stages,
        attribution_window_days=window.days,
    )


# --- performance ----------------------------------------------------------------------------

# Each contact's first reply, from the index of replies (ix_campaign_activities_replies, read
# in its order: index-only, one group per contact), and the campaign's first message to them.
_RESPONSE_TIME = DriverStatement(
    text(f"""
SELECT r.campaign_id, percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM r.first_reply - s.first_sent))
FROM (
    SELECT a.campaign_id, a.contact_id, min(a.occurred_at) AS first_reply
    FROM campaign_activities AS a
    WHERE a.company_id = :company AND a.campaign_id = ANY(:campaigns) AND a.{REPLY_TYPES_SQL}
    GROUP BY a.campaign_id, a.contact_id
) AS r
CROSS JOIN LATERAL (
    SELECT min(d.sent_at) AS first_sent FROM deliveries AS d
    WHERE d.company_id = :company AND d.contact_id = r.contact_id
      AND d.campaign_id = r.campaign_id AND d.sent_at IS NOT NULL
) AS s
WHERE s.first_sent <= r.first_reply
GROUP BY r.campaign_id
"""),  # noqa: S608 - a constant: the predicate of ix_campaign_activities_replies
)

# `version`: the row version's transaction id. Every fold that adds or takes away a reply or a
# message of the campaign writes its `stage:replied` or `stage:sent` row, even when the counts
# come out the same (one reply deleted, another added), so the two versions say exactly when
# the median response time can have changed.
_CAMPAIGN_TYPES = DriverStatement(
    text("""
SELECT campaign_id, activity_type, events, contacts, CAST(xmin AS text) AS version
FROM analytics_campaign_stats
WHERE company_id = :company AND campaign_id = ANY(:campaigns)
""")
)
_RESPONSE_TIME_INPUTS = ("stage:replied", "stage:sent")
_STEP_TYPES = DriverStatement(
    text("""
SELECT s.campaign_id, s.step_key, s.variant_key, s.activity_type, s.events, s.contacts
FROM analytics_step_stats AS s
WHERE s.company_id = :company AND s.campaign_id = ANY(:campaigns)
""")
)
_STEPS = DriverStatement(
    text("""
SELECT campaign_id, id, sequence_order, message_type FROM campaign_messages
WHERE company_id = :company AND campaign_id = ANY(:campaigns)
""")
)
_CHANNEL_PREFIXES = {
    "email": ("email_",),
    "sms": ("sms_",),
    "whatsapp": ("whatsapp_",),
    "voice": ("call_", "voicemail_"),
}
_AB_METRICS = ("opened", "clicked", "replied")

Figures = dict[str, tuple[int, int]]  # activity type -> (events, distinct contacts)


def _totals(figures: Figures, enrolled: bool = True) -> schemas.Totals:
    def contacts(kind: str) -> int:
        return figures.get(kind, (0, 0))[1]

    def events(*kinds: str) -> int:
        return sum(figures.get(kind, (0, 0))[0] for kind in kinds)

    return schemas.Totals(
        enrolled=contacts("enrolled") if enrolled else None,
        sent=contacts("stage:sent"),
        # e-mail counts as delivered once accepted (sent); a bounce takes it back
        delivered=max(contacts("stage:delivered") - contacts("stage:bounced"), 0),
        opened=contacts("stage:opened"),
        opens_total=events("email_opened", "whatsapp_read"),
        clicked=contacts("stage:clicked"),
        clicks_total=events("stage:clicked"),
        replied=contacts("stage:replied"),
        bounced=contacts("stage:bounced"),
        unsubscribed=contacts("stage:unsubscribed"),
        failed=contacts("stage:failed"),
    )


def _rates(t: schemas.Totals) -> schemas.Rates:
    return schemas.Rates(
        delivery_rate=_rate(t.delivered, t.sent),
        open_rate=_rate(t.opened, t.delivered),
        click_rate=_rate(t.clicked, t.delivered),
        click_to_open_rate=_rate(t.clicked, t.opened),
        reply_rate=_rate(t.replied, t.delivered),
        bounce_rate=_rate(t.bounced, t.sent),
        unsubscribe_rate=_rate(t.unsubscribed, t.delivered),
        failure_rate=_rate(t.failed, t.sent),
    )


def _ab_tests(variants: list[schemas.VariantFigures]) -> list[schemas.AbVerdict]:
    if len(variants) < 2:
        return []
    verdicts = []
    for metric in _AB_METRICS:
        arms = [
            abtest.Arm(v.name, min(getattr(v.totals, metric), v.totals.delivered),
                       v.totals.delivered)
            for v in variants
        ]  # fmt: skip
        verdict = abtest.compare(arms)
        verdicts.append(
            schemas.AbVerdict(
                metric=f"{metric} / delivered",
                method=verdict.method,
                prior=verdict.prior,
                winner=verdict.winner,
                reason=verdict.reason,
                threshold=verdict.threshold,
                min_trials=verdict.min_trials,
                arms=[schemas.ArmOut(**vars(arm)) for arm in verdict.arms],
            )
        )
    return verdicts


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


async def performance(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    model: schemas.AttributionModel = "last_touch",
) -> schemas.Performance:
    (answer,) = await performances(session, principal, [campaign_id], model)
    return answer


async def performances(
    session: AsyncSession,
    principal: Principal,
    campaign_ids: list[uuid.UUID],
    model: schemas.AttributionModel = "last_touch",
) -> list[schemas.Performance]:
    """The performance of each campaign, in the order given: every statement reads all of
    them at once, so twenty campaigns cost about what one does."""
    params = {"company": principal.company_id, "campaigns": campaign_ids}
    campaigns = await campaign_facts(session, principal, campaign_ids)
    figures: dict[uuid.UUID, Figures] = defaultdict(dict)
    versions: dict[uuid.UUID, list[str]] = defaultdict(list)
    for campaign_id, kind, events, contacts, version in await _CAMPAIGN_TYPES.rows(session, params):
        figures[campaign_id][kind] = (int(events), int(contacts))
        if kind in _RESPONSE_TIME_INPUTS:
            versions[campaign_id].append(f"{kind}@{version}")
    windows = {campaign_id: window_of(row) for campaign_id, row in campaigns.items()}
    credited = await attributed_many(session, principal.company_id, windows, model)
    response_times = await _response_times(
        session, params, {c: tuple(sorted(versions[c])) for c in campaign_ids}
    )
    steps = await _by_step(session, params)
    return [
        _performance(
            campaign_id,
            figures[campaign_id],
            credited[campaign_id],
            Decimal(campaigns[campaign_id].cost or 0),
            campaigns[campaign_id].currency,
            model,
            windows[campaign_id],
            response_times.get(campaign_id),
            steps.get(campaign_id, []),
        )
        for campaign_id in campaign_ids
    ]


# (campaign, versions of its inputs) -> median seconds; the versions make a stale hit impossible
_MEDIANS: OrderedDict[tuple[uuid.UUID, tuple[str, ...]], float | None] = OrderedDict()
_MEDIANS_KEPT = 4096


async def _response_times(
    session: AsyncSession,
    params: dict[str, Any],
    versions: dict[uuid.UUID, tuple[str, ...]],
) -> dict[uuid.UUID, float | None]:
    """The median response time of each campaign. It reads every replier's first reply and
    first message (25 ms for 12,500 repliers), so a median is kept until a fold changes the
    replies or messages it was computed from."""
    answers: dict[uuid.UUID, float | None] = {}
    missing: list[uuid.UUID] = []
    for campaign_id, inputs in versions.items():
        key = (campaign_id, inputs)
        if key in _MEDIANS:  # settled now: another request may evict it during the await
            _MEDIANS.move_to_end(key)
            answers[campaign_id] = _MEDIANS[key]
        else:
            missing.append(campaign_id)
    if missing:
        computed = {
            row[0]: row[1]
            for row in await _RESPONSE_TIME.rows(session, {**params, "campaigns": missing})
        }
        for campaign_id in missing:
            answers[campaign_id] = computed.get(campaign_id)
            _MEDIANS[(campaign_id, versions[campaign_id])] = answers[campaign_id]
        while len(_MEDIANS) > _MEDIANS_KEPT:
            _MEDIANS.popitem(last=False)
    return answers


def _performance(
    campaign_id: uuid.UUID,
    figures: Figures,
    credited: tuple[int, Decimal],
    cost: Decimal,
    currency: str,
    model: schemas.AttributionModel,
    window: timedelta,
    response_time: float | None,
    by_step: list[schemas.StepFigures],
) -> schemas.Performance:
    totals = _totals(figures)
    converted, revenue = credited
    by_channel = {
        channel: {
            kind: {"events": events, "contacts": contacts}
            for kind, (events, contacts) in sorted(figures.items())
            if kind.startswith(prefixes)
        }
        for channel, prefixes in _CHANNEL_PREFIXES.items()
    }
    return schemas.Performance(
        campaign_id=campaign_id,
        totals=totals,
        converted=converted,
        conversion_rate=_rate(converted, totals.enrolled or 0),
        rates=_rates(totals),
        revenue=_money(revenue),
        cost=_money(cost),
        currency=currency,
        roi=round(float((revenue - cost) / cost), 4) if cost else None,
        cost_per_conversion=_money(cost / converted) if converted else None,
        response_time_median_seconds=(
            round(float(response_time), 1) if response_time is not None else None
        ),
        attribution_model=model,
        attribution_window_days=window.days,
        by_channel={channel: kinds for channel, kinds in by_channel.items() if kinds},
        by_step=by_step,
    )


async def _by_step(
    session: AsyncSession, params: dict[str, Any]
) -> dict[uuid.UUID, list[schemas.StepFigures]]:
    """Each campaign's steps with their figures, per variant and with the A/B verdicts."""
    steps = {row[1]: row for row in await _STEPS.rows(session, params)}
    per_variant: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Figures]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for campaign_id, step_key, variant, kind, events, contacts in await _STEP_TYPES.rows(
        session, params
    ):
        per_variant[campaign_id, step_key][variant][kind] = (int(events), int(contacts))
    result: dict[uuid.UUID, list[schemas.StepFigures]] = defaultdict(list)
    for (campaign_id, step_key), variants in per_variant.items():
        step = steps.get(step_key)
        if step is None and not any(k.startswith("stage:") for f in variants.values() for k in f):
            continue  # enrollments and goals belong to no step
        result[campaign_id].append(_step_figures(step, variants))
    for figures in result.values():
        figures.sort(key=lambda s: (s.sequence_order is None, s.sequence_order or 0))
    return result


def _step_figures(step: Any, variants: dict[str, Figures]) -> schemas.StepFigures:
    combined: Figures = {}
    for figures in variants.values():  # a contact has one variant per step: sums are exact
        for kind, (events, contacts) in figures.items():
            had = combined.get(kind, (0, 0))
            combined[kind] = (had[0] + events, had[1] + contacts)
    named = [
        schemas.VariantFigures(
            name=name, totals=_totals(figures, False), rates=_rates(_totals(figures, False))
        )
        for name, figures in sorted(variants.items())
        if name
    ]
    totals = _totals(combined, enrolled=False)
    return schemas.StepFigures(
        step_id=step[1] if step else None,
        sequence_order=step[2] if step else None,
        message_type=str(step[3]) if step else None,
        totals=totals,
        rates=_rates(totals),
        variants=named,
        ab_test=_ab_tests(named),
    )


# --- time series --------------------------------------------------------------------------

MAX_POINTS = 5_000
_STEPS_OF = {"hour": "1 hour", "day": "1 day", "week": "7 days"}
# The zone's own hours, days and weeks (Monday first): quarter-hour UTC buckets summed into
# them; the series has every bucket of the range, empty ones at zero.
_SERIES = DriverStatement(
    text("""
WITH series AS (
    SELECT generate_series(
        date_trunc(:unit, CAST(:since AS timestamptz) AT TIME ZONE :tz),
        date_trunc(:unit, (CAST(:until AS timestamptz) - interval '1 microsecond')
                          AT TIME ZONE :tz),
        CAST(:step AS interval)) AS local
), counts AS (
    SELECT date_trunc(:unit, t.bucket AT TIME ZONE :tz) AS local, sum(t.events) AS value
    FROM analytics_timeline AS t
    WHERE t.company_id = :company AND t.campaign_id = :campaign
      AND t.activity_type = :kind AND t.bucket >= :since AND t.bucket < :until
    GROUP BY 1
)
SELECT s.local AT TIME ZONE :tz AS bucket, coalesce(c.value, 0) AS value
FROM series AS s LEFT JOIN counts AS c ON c.local = s.local
ORDER BY s.local
""")
)
# Hours are instants, not wall-clock readings: the hour repeated when summer time ends is two
# buckets. An instant's hour starts where the zone's clock last showed a whole hour.
_HOUR = (
    "({0} - make_interval(secs => "
    "mod(CAST(extract(epoch FROM ({0} AT TIME ZONE :tz)) AS numeric), 3600)))"
)
_LAST_INSTANT = "(CAST(:until AS timestamptz) - interval '1 microsecond')"
_HOURLY_SERIES = DriverStatement(
    text(f"""
WITH series AS (
    SELECT generate_series({_HOUR.format("CAST(:since AS timestamptz)")},
                           {_HOUR.format(_LAST_INSTANT)},
                           interval '1 hour') AS start
), counts AS (
    SELECT {_HOUR.format("t.bucket")} AS start, sum(t.events) AS value
    FROM analytics_timeline AS t
    WHERE t.company_id = :company AND t.campaign_id = :campaign
      AND t.activity_type = :kind AND t.bucket >= :since AND t.bucket < :until
    GROUP BY 1
)
SELECT s.start AS bucket, coalesce(c.value, 0) AS value
FROM series AS s LEFT JOIN counts AS c ON c.start = s.start
ORDER BY s.start
"""),  # noqa: S608 - fixed SQL fragments, values bound
)


def _zone_name(campaign: Any, company_zone: str | None) -> str:
    zone = timing.zone(campaign.timezone, company_zone)
    return str(zone.key)


async def timeseries(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    metric: schemas.SeriesMetric,
    interval: schemas.SeriesInterval,
    since: datetime | None,
    until: datetime | None,
) -> schemas.TimeSeries:
    campaign = (await campaign_facts(session, principal, [campaign_id]))[campaign_id]
    tz = _zone_name(campaign, campaign.company_timezone)
    until = until or datetime.now(UTC)
    since = since or campaign.started_at or campaign.created_at
    if since >= until:
        raise InvalidInput(
            "since must be before until",
            errors=[
                {"loc": ["query", "until"], "msg": "must be after since", "type": "value_error"}
            ],
        )
    step = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
    if (until - since) / step[interval] > MAX_POINTS:
        raise InvalidInput(
            f"at most {MAX_POINTS:,} points: choose a longer interval or a shorter range",
            errors=[
                {"loc": ["query", "interval"], "msg": "too many points", "type": "value_error"}
            ],
        )
    params = {
        "company": principal.company_id, "campaign": campaign_id, "tz": tz, "unit": interval,
        "step": _STEPS_OF[interval], "since": since, "until": until,
        "kind": f"stage:{metric}",
    }  # fmt: skip
    statement = _HOURLY_SERIES if interval == "hour" else _SERIES
    rows = await statement.rows(session, params)
    points = [schemas.SeriesPoint(bucket=row[0], value=int(row[1])) for row in rows]
    if metric == "converted":
        points = await _conversions_into(
            session, principal.company_id, campaign_id, points, until, window_of(campaign)
        )
    return schemas.TimeSeries(
        campaign_id=campaign_id, metric=metric, interval=interval, timezone=tz, points=points
    )


async def _conversions_into(
    session: AsyncSession,
    company_id: uuid.UUID,
    campaign_id: uuid.UUID,
    points: list[schemas.SeriesPoint],
    until: datetime,
    window: timedelta,
) -> list[schemas.SeriesPoint]:
    """Conversions credited to the campaign, counted into the buckets they happened in."""
    params = {"company": company_id, "campaign": campaign_id, "window": window}
    times = sorted(row[0] for row in await _CONVERSION_TIMES.rows(session, params))
    starts = [point.bucket for point in points]
    counts = [0] * len(points)
    for moment in times:
        if not starts or moment < starts[0] or moment >= until:
            continue
        counts[bisect_right(starts, moment) - 1] += 1
    return [
        schemas.SeriesPoint(bucket=point.bucket, value=count)
        for point, count in zip(points, counts, strict=True)
    ]
