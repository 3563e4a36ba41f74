"""Which lead pages PostgreSQL plans for every call, and which it may keep a plan for."""

from __future__ import annotations

import uuid

import pytest

from agentconnect.leads import service
from agentconnect.leads.repository import LeadFilters, filter_shape, page_statement
from agentconnect.models import LeadStage, QualificationStatus


def _page_prepare(filters: LeadFilters) -> bool | None:
    shape, _ = filter_shape(filters)
    statement = page_statement(shape, "-score", "-created_at", service._ANSWER_COLUMNS)
    return statement.prepare


@pytest.mark.parametrize(
    "filters",
    [
        LeadFilters(stages=[LeadStage.SQL, LeadStage.MQL]),
        LeadFilters(
            qualification_status=[QualificationStatus.PENDING, QualificationStatus.QUALIFIED]
        ),
        LeadFilters(q="acme"),
    ],
)
def test_pages_whose_plan_depends_on_the_values_are_planned_every_call(
    filters: LeadFilters,
) -> None:
    assert _page_prepare(filters) is False


@pytest.mark.parametrize(
    "filters",
    [
        LeadFilters(),
        LeadFilters(stages=[LeadStage.SQL], assigned_to=uuid.uuid4(), min_score=50),
        LeadFilters(qualification_status=[QualificationStatus.QUALIFIED], min_value=None),
    ],
)
def test_other_pages_may_be_prepared(filters: LeadFilters) -> None:
    assert _page_prepare(filters) is None  # psycopg's own threshold
