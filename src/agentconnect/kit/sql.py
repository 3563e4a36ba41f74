"""Small SQL helpers shared by repositories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import literal
from sqlalchemy.dialects.postgresql import ARRAY, UUID


def uuid_array(values: Sequence[uuid.UUID]) -> Any:
    """A uuid[] parameter, for `= ANY(...)` and `unnest(...)` over many ids in one statement."""
    return literal(list(values), ARRAY(UUID(as_uuid=True)))


def like_pattern(text: str) -> str:
    """`%text%` for a case-insensitive LIKE on lower-cased text, with LIKE's wildcards escaped
    (use with escape='\\\\')."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
