"""How each contact field is read from text: shared by the JSON schemas and the CSV importer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from agentconnect.kit.emails import normalize_email
from agentconnect.kit.phones import to_e164
from agentconnect.kit.schemas import check_json_depth
from agentconnect.kit.timezones import validate_timezone
from agentconnect.models.enums import LifecycleStage, OptInStatus

# A contact must be identifiable by at least one of these.
IDENTITY_FIELDS = ("email", "phone", "first_name", "last_name")
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
MAX_CUSTOM_FIELDS_BYTES = 16_384

TEXT_LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "company_name": 200,
    "job_title": 200,
    "industry": 100,
    "company_size": 50,
    "lead_source": 100,
    "notes": 10_000,
}

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_TAG_SPLIT = re.compile(r"[;,|]")


def clean_tags(tags: list[str]) -> list[str]:
    """Trimmed, de-duplicated (first spelling wins, order kept) and bounded."""
    seen: dict[str, None] = {}
    for tag in tags:
        tag = tag.strip()
        if not tag:
            continue
        if _TAG_SPLIT.search(tag):
            # The CSV import splits tags on these, so a tag holding one could not round-trip.
            raise ValueError(f"tag '{tag}' contains one of ; , | (they separate tags)")
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"tag '{tag[:20]}...' is longer than {MAX_TAG_LENGTH} characters")
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per contact")
    return list(seen)


def check_custom_fields(value: dict[str, Any]) -> dict[str, Any]:
    check_json_depth(value)
    if len(json.dumps(value)) > MAX_CUSTOM_FIELDS_BYTES:
        raise ValueError(f"custom_fields is larger than {MAX_CUSTOM_FIELDS_BYTES} bytes")
    return value


def _text(limit: int) -> Callable[[str], str]:
    def convert(raw: str) -> str:
        value = raw.strip()
        if len(value) > limit:
            raise ValueError(f"longer than {limit} characters")
        return value

    return convert


def _enum(values: type[LifecycleStage] | type[OptInStatus]) -> Callable[[str], str]:
    allowed = {member.value for member in values}

    def convert(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"'{raw}' is not one of: {', '.join(sorted(allowed))}")
        return value

    return convert


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"'{raw}' is not true/false")


def parse_tags(raw: str) -> list[str]:
    return clean_tags(_TAG_SPLIT.split(raw))


def parse_custom_fields(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError("custom_fields must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("custom_fields must be a JSON object")
    return check_custom_fields(value)


def parse_datetime(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"'{raw}' is not an ISO-8601 date-time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# Column name -> converter from the cell's text. A cell left empty means "no value".
CSV_CONVERTERS: dict[str, Callable[[str], Any]] = {
    **{name: _text(limit) for name, limit in TEXT_LIMITS.items()},
    "email": normalize_email,
    "phone": to_e164,
    "timezone": validate_timezone,
    "lifecycle_stage": _enum(LifecycleStage),
    "opt_in_status": _enum(OptInStatus),
    "do_not_contact": parse_bool,
    "tags": parse_tags,
    "custom_fields": parse_custom_fields,
    "last_contacted_at": parse_datetime,
}
CUSTOM_PREFIX = "custom."
