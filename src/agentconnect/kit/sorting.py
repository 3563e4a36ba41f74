"""`?sort=field` / `?sort=-field` turned into ORDER BY clauses from an allow-list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from agentconnect.errors import InvalidInput


def order_by(
    sort: str | None,
    allowed: Mapping[str, InstrumentedAttribute[Any]],
    default: str,
    tiebreaker: InstrumentedAttribute[Any],
) -> list[ColumnElement[Any]]:
    """Comma-separated sort keys; each must be in `allowed`. The tiebreaker keeps pages stable."""
    clauses: list[ColumnElement[Any]] = []
    for key in (sort or default).split(","):
        key = key.strip()
        descending = key.startswith("-")
        name = key.lstrip("-+")
        if name not in allowed:
            raise InvalidInput(
                f"cannot sort by '{name}'; choose one of: {', '.join(sorted(allowed))}",
                errors=[
                    {
                        "loc": ["query", "sort"],
                        "msg": f"unknown sort field '{name}'",
                        "type": "value_error",
                    }
                ],
            )
        column = allowed[name]
        if _nullable(column):
            clauses.append(column.desc().nulls_last() if descending else column.asc().nulls_last())
        else:
            # NULLS LAST on a NOT NULL column changes nothing but stops PostgreSQL from reading
            # the order straight off an index, so it is left out.
            clauses.append(column.desc() if descending else column.asc())
    clauses.append(tiebreaker.asc())
    return clauses


def _nullable(column: InstrumentedAttribute[Any]) -> bool:
    columns = getattr(column.property, "columns", [])
    return bool(columns) and bool(columns[0].nullable)
