"""Base schemas: strict about unknown fields on input, ORM-friendly on output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from agentconnect.errors import InvalidInput

MAX_JSON_DEPTH = 10


def refuse_nulls(changes: Mapping[str, Any], fields: Iterable[str]) -> None:
    """A partial update may leave any field out but set none of `fields` to null: a 422 that
    names each one."""
    nulls = [field for field in fields if field in changes and changes[field] is None]
    if nulls:
        raise InvalidInput(
            f"these fields cannot be null: {', '.join(nulls)}",
            errors=[
                {"loc": ["body", field], "msg": "cannot be null", "type": "null_not_allowed"}
                for field in nulls
            ],
        )


def find_nul(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where a NUL character hides in decoded JSON (PostgreSQL text cannot hold one)."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_nul(key, (*path, str(key))) or find_nul(item, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, (*path, str(index)))
            if found is not None:
                return found
    return None


def check_json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> Any:
    """Refuse free-form JSON nested deeper than `limit` levels (CRM data never is)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                raise ValueError(f"is nested more than {limit} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return value


class InputSchema(BaseModel):
    # A misspelt field is an error, not a silently ignored value.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        where = find_nul(data)
        if where is not None:
            raise ValueError(f"{'.'.join(where) or 'value'} contains a NUL character")
        return data


class OutputSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _limit_json(value: dict[str, Any]) -> dict[str, Any]:
    import json

    check_json_depth(value)
    if len(json.dumps(value)) > 16_384:
        raise ValueError("is larger than 16,384 bytes")
    return value


JsonObjectLimited = Annotated[dict[str, Any], AfterValidator(_limit_json)]
