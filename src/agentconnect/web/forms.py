"""Reading HTML form and query values: empty fields are "not given", bad ones a clear 422."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, TypeVar

from agentconnect.errors import InvalidInput

E = TypeVar("E", bound=Enum)


def _bad(name: str, message: str) -> InvalidInput:
    return InvalidInput(f"{name}: {message}", errors=[{"loc": [name], "msg": message}])


def text(values: Mapping[str, Any], name: str, max_length: int = 2000) -> str | None:
    value = values.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if "\x00" in value:
        raise _bad(name, "must not contain NUL characters")
    if len(value) > max_length:
        raise _bad(name, f"at most {max_length} characters")
    return value or None


def integer(
    values: Mapping[str, Any], name: str, low: int | None = None, high: int | None = None
) -> int | None:
    raw = text(values, name, 20)
    if raw is None:
        return None
    try:
        number = int(raw)
    except ValueError:
        raise _bad(name, "must be a whole number") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise _bad(name, f"must be between {low} and {high}")
    return number


def decimal(values: Mapping[str, Any], name: str) -> Decimal | None:
    raw = text(values, name, 30)
    if raw is None:
        return None
    try:
        number = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        raise _bad(name, "must be a number") from None
    if not number.is_finite() or number < 0:
        raise _bad(name, "must be a number of 0 or more")
    return number


def identifier(values: Mapping[str, Any], name: str) -> uuid.UUID | None:
    raw = text(values, name, 40)
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _bad(name, "is not a valid id") from None


def choice(values: Mapping[str, Any], name: str, enum: type[E]) -> E | None:
    raw = text(values, name, 100)
    if raw is None:
        return None
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)
        raise _bad(name, f"must be one of {allowed}") from None


def choices(values: Any, name: str, enum: type[E]) -> list[E]:
    """Every value of a repeated field (a multi-select or checkboxes)."""
    found = []
    for raw in values.getlist(name):
        item = choice({name: raw}, name, enum)
        if item is not None:
            found.append(item)
    return list(dict.fromkeys(found))


def words(values: Mapping[str, Any], name: str) -> list[str]:
    """A comma-separated list (tags, sources)."""
    raw = text(values, name, 5000)
    return [w.strip() for w in raw.split(",") if w.strip()] if raw else []


def checked(values: Mapping[str, Any], name: str) -> bool:
    return values.get(name) in ("on", "true", "1", "yes")
