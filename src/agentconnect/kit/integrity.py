"""Turning a unique-constraint violation into a 409 that names the field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from psycopg import errors as pg_errors
from sqlalchemy.exc import IntegrityError

from agentconnect.errors import Conflict


@asynccontextmanager
async def conflicts_as_409(messages: Mapping[str, str]) -> AsyncIterator[None]:
    """Inside the block, a violation of a constraint named in `messages` becomes a Conflict.

    Checking before writing would race with a concurrent request; the constraint is the truth.
    """
    try:
        yield
    except IntegrityError as error:
        cause = error.orig
        if isinstance(cause, pg_errors.UniqueViolation):
            name = cause.diag.constraint_name or ""
            if name in messages:
                raise Conflict(messages[name]) from None
        raise
