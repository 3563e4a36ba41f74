"""delivery contents: a message's subject, bodies and details move out of `deliveries`

The engine updates a delivery twice per message (the lease, then `sent`), and PostgreSQL
writes a whole new row version on every update: with the rendered message inside, that was
about 2 kB per version. The content now lives in `delivery_contents`, written once when the
delivery is queued; `deliveries` keeps the state and the keys it is found by.

Existing rows keep the dropped columns' bytes on disk until each is next updated (a dropped
column is only hidden); a `VACUUM FULL deliveries` at a quiet moment reclaims them at once.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_contents",
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_delivery_contents_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_contents_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_delivery_contents")),
    )
    op.execute(
        """
        INSERT INTO delivery_contents (delivery_id, company_id, subject, body_text, body_html,
                                       details)
        SELECT id, company_id, subject, body_text, body_html, details FROM deliveries
        """
    )
    for column in ("subject", "body_text", "body_html", "details"):
        op.drop_column("deliveries", column)


def downgrade() -> None:
    op.add_column("deliveries", sa.Column("subject", sa.String(length=1000), nullable=True))
    op.add_column("deliveries", sa.Column("body_text", sa.Text(), nullable=True))
    op.add_column("deliveries", sa.Column("body_html", sa.Text(), nullable=True))
    op.add_column(
        "deliveries",
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.execute(
        """
        UPDATE deliveries AS d
        SET subject = c.subject, body_text = c.body_text, body_html = c.body_html,
            details = c.details
        FROM delivery_contents AS c
        WHERE c.delivery_id = d.id
        """
    )
    # A delivery without contents (none is written so) gets what an empty message had.
    op.execute(
        """
        UPDATE deliveries SET body_text = coalesce(body_text, ''),
                              details = coalesce(details, '{}'::jsonb)
        WHERE body_text IS NULL OR details IS NULL
        """
    )
    op.alter_column("deliveries", "body_text", nullable=False)
    op.alter_column("deliveries", "details", nullable=False)
    op.drop_table("delivery_contents")
