"""SQL for channel settings and the console provider's messages."""

from __future__ import annotations

from enum import Enum
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert

from agentconnect.models import ChannelSetting, ConsoleMessage
from agentconnect.tenancy.scoping import TenantRepository


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # save(..., secret=KEEP) leaves the stored secret as it is
SecretUpdate = bytes | _Keep | None


class ConsoleMessageRepository(TenantRepository[ConsoleMessage]):
    model = ConsoleMessage


class ChannelSettingRepository(TenantRepository[ChannelSetting]):
    model = ChannelSetting

    async def find(self, channel: str) -> ChannelSetting | None:
        stmt = self.select().where(ChannelSetting.channel == channel)
        row: ChannelSetting | None = await self.session.scalar(stmt)
        return row

    async def save(
        self, channel: str, settings: dict[str, Any], *, secret: SecretUpdate = KEEP
    ) -> ChannelSetting:
        """Insert or replace the channel's settings in one statement (concurrent PUTs race
        safely); the secret changes only when one is given."""
        values: dict[str, Any] = {
            "company_id": self.company_id,
            "channel": channel,
            "settings": settings,
        }
        if secret is not KEEP:
            values["secret_ciphertext"] = secret
        insert_stmt = insert(ChannelSetting).values(**values)
        excluded = insert_stmt.excluded
        changes: dict[str, Any] = {"settings": excluded.settings, "updated_at": func.now()}
        if secret is not KEEP:
            changes["secret_ciphertext"] = excluded.secret_ciphertext
        stmt = insert_stmt.on_conflict_do_update(
            index_elements=[ChannelSetting.company_id, ChannelSetting.channel], set_=changes
        ).returning(ChannelSetting)
        row: ChannelSetting | None = await self.session.scalar(
            stmt, execution_options={"populate_existing": True}
        )
        assert row is not None  # an upsert always returns its row
        return row
