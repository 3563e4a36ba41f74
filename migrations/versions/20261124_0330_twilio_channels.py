"""twilio channels: step options, provider status and segments on deliveries, call sessions

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "campaign_messages",
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("deliveries", sa.Column("provider_status", sa.String(length=32), nullable=True))
    op.add_column("deliveries", sa.Column("segments", sa.SmallInteger(), nullable=True))
    op.create_index(
        "ix_deliveries_provider_message_id",
        "deliveries",
        ["company_id", "provider_message_id"],
        unique=False,
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )
    op.add_column("conversations", sa.Column("external_id", sa.String(length=100), nullable=True))
    op.add_column(
        "conversations",
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_conversations_external_id",
        "conversations",
        ["company_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_external_id", table_name="conversations")
    op.drop_column("conversations", "details")
    op.drop_column("conversations", "external_id")
    op.drop_index("ix_deliveries_provider_message_id", table_name="deliveries")
    op.drop_column("deliveries", "segments")
    op.drop_column("deliveries", "provider_status")
    op.drop_column("campaign_messages", "options")
