"""SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from agentconnect.models.base import Base
from agentconnect.models.contacts import Contact
from agentconnect.models.enums import LifecycleStage, OptInStatus, Role
from agentconnect.models.tenancy import ApiKey, Company, User

__all__ = [
    "ApiKey",
    "Base",
    "Company",
    "Contact",
    "LifecycleStage",
    "OptInStatus",
    "Role",
    "User",
]
