"""SQL for leads: filtered lists, set-based stage changes and assignment, pipeline statistics."""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.orm import contains_eager

from agentconnect.kit.sorting import order_by
from agentconnect.kit.sql import DriverStatement, like_pattern, uuid_array
from agentconnect.models import (
    OPEN_LEAD_STAGES,
    AssignmentCursor,
    Contact,
    Lead,
    LeadStage,
    LeadStageChange,
    LifecycleStage,
    QualificationStatus,
    StageChangeSource,
    User,
)
from agentconnect.models.leads import stage_bit
from agentconnect.tenancy.scoping import TenantRepository
from agentconnect.webhooks import events

# lost says nothing about where the contact is in its life, so it leaves lifecycle_stage alone.
LIFECYCLE_FOR_STAGE = {
    LeadStage.LEAD: LifecycleStage.LEAD,
    LeadStage.MQL: LifecycleStage.MQL,
    LeadStage.SQL: LifecycleStage.SQL,
    LeadStage.OPPORTUNITY: LifecycleStage.OPPORTUNITY,
    LeadStage.CUSTOMER: LifecycleStage.CUSTOMER,
}


@dataclass(frozen=True)
class LeadFilters:
    stages: list[LeadStage] = field(default_factory=list)
    contact_id: uuid.UUID | None = None
    assigned_to: uuid.UUID | None = None
    unassigned_only: bool = False
    open_only: bool = False
    qualification_status: list[QualificationStatus] = field(default_factory=list)
    min_score: int | None = None
    max_score: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    q: str | None = None


def filter_clauses(filters: LeadFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.stages:
        clauses.append(Lead.stage.in_(filters.stages))
    if filters.open_only:
        clauses.append(Lead.stage.in_(OPEN_LEAD_STAGES))
    if filters.contact_id is not None:
        clauses.append(Lead.contact_id == filters.contact_id)
    if filters.assigned_to is not None:
        clauses.append(Lead.assigned_to == filters.assigned_to)
    if filters.unassigned_only:
        clauses.append(Lead.assigned_to.is_(None))
    if filters.qualification_status:
        clauses.append(Lead.qualification_status.in_(filters.qualification_status))
    if filters.min_score is not None:
        clauses.append(Lead.score >= filters.min_score)
    if filters.max_score is not None:
        clauses.append(Lead.score <= filters.max_score)
    if filters.min_value is not None:
        clauses.append(Lead.deal_value >= filters.min_value)
    if filters.max_value is not None:
        clauses.append(Lead.deal_value <= filters.max_value)
    if filters.q:
        pattern = like_pattern(filters.q)
        clauses.append(
            or_(
                func.lower(Lead.title).like(pattern, escape="\\"),
                Contact.search_text.like(pattern, escape="\\"),
            )
        )
    return clauses


SORTABLE = {
    "created_at": Lead.created_at,
    "updated_at": Lead.updated_at,
    "score": Lead.score,
    "deal_value": Lead.deal_value,
    "expected_close_date": Lead.expected_close_date,
    "stage_changed_at": Lead.stage_changed_at,
    "title": Lead.title,
}

_TEXTS = ARRAY(Text)
# The list filters as bound parameters, by name, in a fixed order: a page statement depends only
# on which filters are present (its shape), so one statement object serves every request of
# that shape (page_statement), values travel as parameters.
_BOUND_FILTERS: dict[str, Callable[[], ColumnElement[bool]]] = {
    # One value is `=`, so an index can deliver the rows in score order; several are `ANY`.
    "stage": lambda: Lead.stage == bindparam("stage"),
    "stages": lambda: Lead.stage == any_(bindparam("stages", type_=_TEXTS)),
    "open_only": lambda: Lead.stage == any_(literal(list(map(str, OPEN_LEAD_STAGES)), _TEXTS)),
    "contact_id": lambda: Lead.contact_id == bindparam("contact_id"),
    "assigned_to": lambda: Lead.assigned_to == bindparam("assigned_to"),
    "unassigned_only": lambda: Lead.assigned_to.is_(None),
    "one_qualification_status": lambda: (
        Lead.qualification_status == bindparam("one_qualification_status")
    ),
    "qualification_status": lambda: (
        Lead.qualification_status == any_(bindparam("qualification_status", type_=_TEXTS))
    ),
    "min_score": lambda: Lead.score >= bindparam("min_score"),
    "max_score": lambda: Lead.score <= bindparam("max_score"),
    "min_value": lambda: Lead.deal_value >= bindparam("min_value"),
    "max_value": lambda: Lead.deal_value <= bindparam("max_value"),
    "q": lambda: or_(
        func.lower(Lead.title).like(bindparam("q"), escape="\\"),
        Contact.search_text.like(bindparam("q"), escape="\\"),
    ),
}


def filter_shape(filters: LeadFilters) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Which filters are set, and their values as the bound parameters of page_statement."""
    values: dict[str, Any] = {
        **_one_or_many("stage", "stages", filters.stages),
        "open_only": filters.open_only or None,
        "contact_id": filters.contact_id,
        "assigned_to": filters.assigned_to,
        "unassigned_only": filters.unassigned_only or None,
        **_one_or_many(
            "one_qualification_status", "qualification_status", filters.qualification_status
        ),
        "min_score": filters.min_score,
        "max_score": filters.max_score,
        "min_value": filters.min_value,
        "max_value": filters.max_value,
        "q": like_pattern(filters.q) if filters.q else None,
    }
    shape = tuple(name for name in _BOUND_FILTERS if values[name] is not None)
    return shape, {name: values[name] for name in shape if name not in _FLAGS}


_FLAGS = ("open_only", "unassigned_only")


def _one_or_many(one: str, many: str, values: Sequence[str]) -> dict[str, Any]:
    """The value under `one` when there is one, the list under `many` when there are more."""
    texts = [str(value) for value in values]
    return {one: texts[0] if len(texts) == 1 else None, many: texts if len(texts) > 1 else None}


# Filters whose best plan depends on their values: how many stages or statuses an array holds
# (a generic plan for `stage = ANY($1)` was a bitmap scan and a sort, 4.6 ms against 1.7 ms),
# how selective a search pattern is. Pages without them are prepared after a few runs (psycopg)
# and may reuse a generic plan: with equality on the leading columns of an index that serves
# the order, it is the plan every value gets anyway, and it saves ~0.6 ms of planning a page.
_PLANNED_PER_CALL = frozenset({"stages", "qualification_status", "q"})


@functools.lru_cache(maxsize=256)
def page_statement(
    shape: tuple[str, ...], sort: str, default_sort: str, lead_columns: tuple[Any, ...]
) -> DriverStatement:
    """A page of leads with their contact's summary and, as an uncorrelated subquery computed
    once, the filtered total: one round trip. Built and compiled once per shape and sort, so a
    request pays for neither building the statement nor its compilation. Every parameter,
    `company_id` first, is bound at execution."""
    company = bindparam("company_id", type_=UUID(as_uuid=True))
    clauses = [_BOUND_FILTERS[name]() for name in shape]
    total = select(func.count()).select_from(Lead).where(Lead.company_id == company, *clauses)
    if "q" in shape:
        total = total.join(Lead.contact).where(Contact.company_id == company)
    return DriverStatement(
        plan_each_call=not _PLANNED_PER_CALL.isdisjoint(shape),
        statement=select(*lead_columns, *CONTACT_SUMMARY, total.scalar_subquery())
        .join(Lead.contact)
        .where(Lead.company_id == company, Contact.company_id == company, *clauses)
        .order_by(*order_by(sort, SORTABLE, default=default_sort, tiebreaker=Lead.id))
        .limit(bindparam("limit"))
        .offset(bindparam("offset")),
    )


# What a lead answer shows of its contact (leads.schemas.ContactSummary).
CONTACT_SUMMARY = (
    Contact.id,
    Contact.first_name,
    Contact.last_name,
    Contact.email,
    Contact.company_name,
)


@dataclass(frozen=True)
class StageUpdate:
    changed: list[uuid.UUID]
    unchanged: list[uuid.UUID]
    refused: list[uuid.UUID]
    not_found: list[uuid.UUID]


class LeadRepository(TenantRepository[Lead]):
    model = Lead

    def with_contact(self) -> Select[Any]:
        """Leads joined to their contact (scoped on both sides), the contact loaded eagerly.

        Only the contact's summary columns are loaded: a lead answer shows no more, and the
        contact's JSON columns (tags, custom fields) would be decoded for nothing on every
        row of a list. Reading another column of such a contact raises instead of querying.
        """
        return (
            self.select()
            .join(Lead.contact)
            .where(Contact.company_id == self.company_id)
            .options(contains_eager(Lead.contact).load_only(*CONTACT_SUMMARY))
        )

    def counting(self, filters: LeadFilters) -> Select[Any]:
        """The total of a filtered list: usually an index-only scan."""
        return self._filtered(self.select(func.count()), filters)

    def _filtered(self, stmt: Select[Any], filters: LeadFilters | None) -> Select[Any]:
        """`stmt` over the company's leads, narrowed by the filters (the contact joined only
        when `q` searches it)."""
        if filters is None:
            return stmt
        stmt = stmt.where(true(), *filter_clauses(filters))
        if filters.q:
            stmt = stmt.join(Lead.contact).where(Contact.company_id == self.company_id)
        return stmt

    async def count_filtered(self, filters: LeadFilters) -> int:
        return int(await self.session.scalar(self.counting(filters)) or 0)

    async def get_with_contact(self, lead_id: uuid.UUID) -> Lead | None:
        lead: Lead | None = await self.session.scalar(self.with_contact().where(Lead.id == lead_id))
        return lead

    async def lock(self, lead_id: uuid.UUID) -> Lead | None:
        stmt = self.select().where(Lead.id == lead_id).with_for_update()
        lead: Lead | None = await self.session.scalar(stmt)
        return lead

    async def contact_in_company(self, contact_id: uuid.UUID) -> Contact | None:
        stmt = select(Contact).where(
            Contact.company_id == self.company_id, Contact.id == contact_id
        )
        contact: Contact | None = await self.session.scalar(stmt)
        return contact

    async def active_user_ids(self, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        stmt = select(User.id).where(
            User.company_id == self.company_id, User.id.in_(user_ids), User.is_active
        )
        return set((await self.session.scalars(stmt)).all())

    # --- stage changes ----------------------------------------------------------------------

    async def change_stages(
        self,
        lead_ids: Sequence[uuid.UUID],
        stage: LeadStage,
        *,
        reason: str | None,
        changed_by: uuid.UUID | None,
        source: StageChangeSource,
    ) -> StageUpdate:
        """Move many leads in one statement, writing history and syncing contacts.

        Leads already in `stage` are left alone; leads in a closed stage (customer, lost) move
        only with a reason. Everything happens in one data-modifying CTE, so a concurrent
        change either sees all of it or none.
        """
        ids = uuid_array(lead_ids)
        target = (
            select(Lead.id, Lead.stage, Lead.contact_id, Lead.stage_changed_at, Lead.reached_stages)
            .where(self.scope(), Lead.id == func.any(ids))
            .with_for_update()
            .cte("target")
        )
        closed = [LeadStage.CUSTOMER, LeadStage.LOST]
        movable = and_(
            target.c.stage != stage,
            or_(literal(reason is not None), target.c.stage.not_in(closed)),
        )
        changed = (
            update(Lead)
            .where(Lead.id == target.c.id, movable)
            .values(
                previous_stage=target.c.stage,
                stage=stage,
                # clock_timestamp, not now(): concurrent moves of one lead are recorded in the
                # order they took the row lock, not the order their transactions began.
                stage_changed_at=func.clock_timestamp(),
                updated_at=func.now(),
                lost_reason=reason if stage == LeadStage.LOST else None,
                reached_stages=target.c.reached_stages.op("|")(stage_bit(stage)),
            )
            .returning(
                Lead.id,
                target.c.stage.label("from_stage"),
                target.c.stage_changed_at.label("in_stage_since"),
                Lead.contact_id,
            )
            .cte("changed")
        )
        history = (
            insert(LeadStageChange)
            .from_select(
                [
                    "id",
                    "company_id",
                    "lead_id",
                    "from_stage",
                    "to_stage",
                    "reason",
                    "changed_by",
                    "source",
                    "changed_at",
                    "seconds_in_from_stage",
                ],
                select(
                    # time-ordered: the history's key grows at its right end instead of
                    # touching a random leaf page of a million-row index per moved lead
                    func.uuid_v7(),
                    literal(self.company_id, UUID(as_uuid=True)),
                    changed.c.id,
                    changed.c.from_stage,
                    literal(stage.value),
                    literal(reason),
                    literal(changed_by, UUID(as_uuid=True)),
                    literal(source.value),
                    func.clock_timestamp(),
                    func.extract("epoch", func.clock_timestamp() - changed.c.in_stage_since),
                ),
            )
            .cte("history")
        )
        ctes: list[Any] = [history]
        lifecycle = LIFECYCLE_FOR_STAGE.get(stage)
        if lifecycle is not None:
            ctes.append(
                update(Contact)
                .where(
                    Contact.company_id == self.company_id,
                    Contact.id.in_(select(changed.c.contact_id)),
                    Contact.lifecycle_stage.is_distinct_from(lifecycle),  # no empty writes
                )
                .values(lifecycle_stage=lifecycle, updated_at=func.now())
                .cte("contacts_synced")
            )
        stmt = select(
            target.c.id,
            target.c.id.in_(select(changed.c.id)).label("changed"),
            (target.c.stage == stage).label("same"),
        ).add_cte(*ctes)
        rows = (await self.session.execute(stmt)).all()
        found = {row.id for row in rows}
        changed_ids = [r.id for r in rows if r.changed]
        await events.emit_lead_events(
            self.session, self.company_id, "lead.stage_changed", changed_ids,
            extra={"source": source.value, "reason": reason},
        )  # fmt: skip
        if stage == LeadStage.CUSTOMER:
            await events.emit_lead_events(self.session, self.company_id, "deal.won", changed_ids)
        return StageUpdate(
            changed=changed_ids,
            unchanged=[r.id for r in rows if not r.changed and r.same],
            refused=[r.id for r in rows if not r.changed and not r.same],
            not_found=[i for i in dict.fromkeys(lead_ids) if i not in found],
        )

    async def stage_history(
        self, lead_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[LeadStageChange], int]:
        stmt = (
            select(LeadStageChange)
            .where(
                LeadStageChange.company_id == self.company_id, LeadStageChange.lead_id == lead_id
            )
            .order_by(LeadStageChange.changed_at.desc(), LeadStageChange.id)
        )
        rows = (await self.session.scalars(stmt.limit(limit).offset(offset))).all()
        return list(rows), await self.count(stmt.order_by(None))

    def record_stage_change(self, change: LeadStageChange) -> None:
        change.company_id = self.company_id
        self.session.add(change)

    async def advance_contact_lifecycle(self, contact_id: uuid.UUID, stage: LeadStage) -> None:
        """A new lead moves its contact forward to the lead's stage, never back: a customer
        who opens another deal stays a customer."""
        lifecycle = LIFECYCLE_FOR_STAGE.get(stage)
        if lifecycle is None:
            return
        order = list(LifecycleStage)
        earlier = [s for s in order if order.index(s) < order.index(lifecycle)]
        await self.session.execute(
            update(Contact)
            .where(
                Contact.company_id == self.company_id,
                Contact.id == contact_id,
                Contact.lifecycle_stage.in_([*earlier, LifecycleStage.OTHER]),
            )
            .values(lifecycle_stage=lifecycle, updated_at=func.now())
        )

    # --- assignment ---------------------------------------------------------------------------

    async def assign_many(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> set[uuid.UUID]:
        """Set assigned_to per (lead, user) pair in one UPDATE ... FROM unnest; the leads that
        already had that user are left alone and not returned."""
        if not pairs:
            return set()
        lead_ids, user_ids = zip(*pairs, strict=True)
        mapping = select(
            func.unnest(uuid_array(lead_ids)).label("lead_id"),
            func.unnest(uuid_array(user_ids)).label("user_id"),
        ).subquery("mapping")
        stmt = (
            update(Lead)
            .where(
                self.scope(),
                Lead.id == mapping.c.lead_id,
                Lead.assigned_to.is_distinct_from(mapping.c.user_id),
            )
            .values(assigned_to=mapping.c.user_id, updated_at=func.now())
            .returning(Lead.id)
        )
        return set((await self.session.scalars(stmt)).all())

    async def existing_ids(self, lead_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """The given ids that are this company's leads, in the order given, locked for update."""
        stmt = (
            select(Lead.id)
            .where(self.scope(), Lead.id == func.any(uuid_array(lead_ids)))
            .with_for_update()
        )
        found = set((await self.session.scalars(stmt)).all())
        return [i for i in dict.fromkeys(lead_ids) if i in found]

    async def open_lead_counts(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        stmt = (
            select(Lead.assigned_to, func.count())
            .where(
                self.scope(),
                Lead.assigned_to.in_(user_ids),
                Lead.stage.in_(OPEN_LEAD_STAGES),
            )
            .group_by(Lead.assigned_to)
        )
        counts = {user_id: 0 for user_id in user_ids}
        for user_id, count in (await self.session.execute(stmt)).all():
            if user_id is not None:
                counts[user_id] = count
        return counts

    async def round_robin_cursor(self) -> uuid.UUID | None:
        """The last user of the previous round-robin call; the row is locked until commit so two
        concurrent calls continue one after the other."""
        await self.session.execute(
            insert(AssignmentCursor)
            .values(company_id=self.company_id)
            .on_conflict_do_nothing(index_elements=["company_id"])
        )
        stmt = (
            select(AssignmentCursor.last_user_id)
            .where(AssignmentCursor.company_id == self.company_id)
            .with_for_update()
        )
        last: uuid.UUID | None = await self.session.scalar(stmt)
        return last

    async def save_round_robin_cursor(self, user_id: uuid.UUID) -> None:
        await self.session.execute(
            update(AssignmentCursor)
            .where(AssignmentCursor.company_id == self.company_id)
            .values(last_user_id=user_id)
        )

    # --- statistics ---------------------------------------------------------------------------

    async def stage_totals(
        self, filters: LeadFilters | None = None
    ) -> list[tuple[LeadStage, int, Decimal, float | None]]:
        stmt = self._filtered(
            self.select(
                Lead.stage,
                func.count(),
                func.coalesce(func.sum(Lead.deal_value), 0),
                func.avg(Lead.score),
            ),
            filters,
        ).group_by(Lead.stage)
        return [(r[0], r[1], r[2], r[3]) for r in (await self.session.execute(stmt)).all()]

    async def average_days_in_stage(self) -> dict[LeadStage, float]:
        """Average length of finished stays in each stage, from the duration each history row
        recorded when the lead left the stage."""
        stmt = (
            select(
                LeadStageChange.from_stage,
                func.avg(LeadStageChange.seconds_in_from_stage) / 86400,
            )
            .where(
                LeadStageChange.company_id == self.company_id,
                LeadStageChange.from_stage.is_not(None),
                LeadStageChange.seconds_in_from_stage.is_not(None),
            )
            .group_by(LeadStageChange.from_stage)
        )
        rows = (await self.session.execute(stmt)).all()
        return {row[0]: float(row[1]) for row in rows if row[0] is not None}

    async def conversions(self, funnel: Sequence[LeadStage]) -> list[tuple[int, int]]:
        """For each consecutive pair (A, B) of the funnel: leads that ever reached A, and of
        those the ones that also reached B (from the reached-stages bits)."""
        columns = []
        for a, b in itertools.pairwise(funnel):
            reached_a = Lead.reached_stages.op("&")(stage_bit(a)) != 0
            reached_b = Lead.reached_stages.op("&")(stage_bit(b)) != 0
            columns.append(func.count().filter(reached_a))
            columns.append(func.count().filter(and_(reached_a, reached_b)))
        row = (await self.session.execute(self.select(*columns))).one()
        return [(row[i], row[i + 1]) for i in range(0, len(row), 2)]

    # --- kanban -------------------------------------------------------------------------------

    async def top_per_stage(self, per_stage: int, filters: LeadFilters | None = None) -> list[Lead]:
        """The `per_stage` best-scored leads of every stage: one indexed LIMIT per stage."""
        best = [
            self._filtered(select(Lead.id).where(self.scope(), Lead.stage == stage), filters)
            .order_by(Lead.score.desc(), Lead.created_at.desc(), Lead.id)
            .limit(per_stage)
            for stage in LeadStage
        ]
        ids = union_all(*best).subquery("best")
        stmt = self.with_contact().where(Lead.id.in_(select(ids.c.id)))
        stmt = stmt.order_by(Lead.score.desc(), Lead.created_at.desc(), Lead.id)
        return list((await self.session.scalars(stmt)).unique().all())
