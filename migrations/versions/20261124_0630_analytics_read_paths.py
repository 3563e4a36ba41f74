"""analytics reads: the timeline's key covers company_id and events; an index of replies

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A time series reads one campaign's buckets of one type. The rows of a campaign are spread
# over the whole heap (folds append every campaign's buckets as they come): 4,569 rows of a
# 60-day series lay on 947 pages at 2M activities. With company_id and events in the key's
# leaf entries the read is an index-only scan over the campaign's contiguous entries.
# The median response time looks up each replied contact's first reply: through the contact's
# whole history (0.044 ms a contact) without an index of replies, one index-only probe with it.


def upgrade() -> None:
    op.execute(
        "ALTER TABLE analytics_timeline DROP CONSTRAINT pk_analytics_timeline,"
        " ADD CONSTRAINT pk_analytics_timeline PRIMARY KEY (campaign_id, activity_type, bucket)"
        " INCLUDE (company_id, events)"
    )
    op.create_index(
        "ix_campaign_activities_replies",
        "campaign_activities",
        ["company_id", "campaign_id", "contact_id", "occurred_at"],
        postgresql_where=sa.text(
            "activity_type IN ('email_replied', 'sms_replied', 'whatsapp_replied')"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_activities_replies", table_name="campaign_activities")
    op.execute(
        "ALTER TABLE analytics_timeline DROP CONSTRAINT pk_analytics_timeline,"
        " ADD CONSTRAINT pk_analytics_timeline PRIMARY KEY (campaign_id, activity_type, bucket)"
    )
