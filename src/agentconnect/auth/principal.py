"""Who is calling: a user (signed in) or an API key, always within one company."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from agentconnect.errors import Forbidden
from agentconnect.models.enums import Role


@dataclass(frozen=True)
class Principal:
    company_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None

    def require(self, minimum: Role) -> None:
        if self.role.rank < minimum.rank:
            raise Forbidden(
                f"this action needs the {minimum.value} role; you are {self.role.value}"
            )
